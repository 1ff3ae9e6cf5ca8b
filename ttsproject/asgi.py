"""The ASGI application: HTTP through Django, WebSockets to TTSConsumer, workers by channel."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ttsproject.settings")

# Django must be set up before anything that imports models.
django_asgi_app = get_asgi_application()

import threading  # noqa: E402

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from synthesis.draining import drain  # noqa: E402
from synthesis.origins import BrowserOriginValidator  # noqa: E402
from synthesis.routing import websocket_urlpatterns  # noqa: E402
from synthesis.workers import preload_voices  # noqa: E402
from ttsproject.going_away import allow_going_away  # noqa: E402
from ttsproject.static_files import StaticFiles  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": StaticFiles(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app,
        "websocket": BrowserOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

if threading.current_thread() is threading.main_thread():
    # `manage.py serve` asks Daphne to finish its sockets' requests before stopping.
    drain.install_signal_handler()
    allow_going_away()

if settings.TTS_PRELOAD_VOICES:
    # In the background, so that the server accepts connections while the voices load.
    threading.Thread(target=preload_voices, name="tts-preload", daemon=True).start()
