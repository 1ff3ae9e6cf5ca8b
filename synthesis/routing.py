"""Where WebSocket paths and channel-layer channels are routed."""

from __future__ import annotations

from channels.routing import ChannelNameRouter
from django.urls import path

from .consumers import TTSConsumer
from .messages import WORKER_CHANNEL
from .workers import SynthesisWorker

websocket_urlpatterns = [
    path("ws/tts/", TTSConsumer.as_asgi()),
    # Smallest.ai's path, so their clients only need a new host.
    path("waves/v1/tts/live", TTSConsumer.as_asgi()),
]

channel_router = ChannelNameRouter({WORKER_CHANNEL: SynthesisWorker.as_asgi()})
