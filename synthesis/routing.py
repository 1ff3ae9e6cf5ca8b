"""Where WebSocket paths are routed."""

from __future__ import annotations

from django.urls import path

from .consumers import TTSConsumer

websocket_urlpatterns = [
    path("ws/tts/", TTSConsumer.as_asgi()),
    # Smallest.ai's path, so their clients only need a new host.
    path("waves/v1/tts/live", TTSConsumer.as_asgi()),
]
