"""The ASGI application: HTTP through Django, WebSockets to TTSConsumer, workers by channel.

Importing it starts nothing; the tests import it too. A web process starts its background work
(the voices loading, draining on SIGUSR1) just before Daphne serves: `start_web_process` in
ttsproject/server.py.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ttsproject.settings")

# Django must be set up before anything that imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from synthesis.origins import BrowserOriginValidator  # noqa: E402
from synthesis.routing import websocket_urlpatterns  # noqa: E402
from ttsproject.body_limit import BodyLimit  # noqa: E402
from ttsproject.static_files import StaticFiles  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodyLimit(
            StaticFiles(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app
        ),
        "websocket": BrowserOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
