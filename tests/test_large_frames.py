"""Frames too large to read, on a real server: the client is told with close code 1009, and the
server carries on with the next one."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import websockets

from .clients import receive
from .servers import Deployment, deployment

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


async def answer_to(running: Deployment, size: int) -> str:
    """Send one text frame of `size` bytes on a new socket: the error it gets, or how it closes."""
    async with running.websocket() as ws:
        # The server may close while the frame is still on its way.
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send("x" * size)
        try:
            return str((await receive(ws, 10))["code"])
        except websockets.ConnectionClosed as closed:
            return f"closed {closed.rcvd.code if closed.rcvd else 'without a close frame'}"


def test_it_closes_a_socket_that_sends_a_frame_over_1_mib_with_1009(open_server):
    assert asyncio.run(answer_to(open_server, MIB - 100)) == "message_too_large"
    assert asyncio.run(answer_to(open_server, 2 * MIB)) == "closed 1009"
    assert asyncio.run(answer_to(open_server, MIB + 1)) == "closed 1009"
    assert open_server.speak("Still serving.")[-1]["status"] == "complete"


def test_it_reads_frames_up_to_twice_a_raised_message_limit(tmp_path):
    limit = MIB  # TTS_MAX_MESSAGE_BYTES
    with deployment(tmp_path, warm_up=False, TTS_MAX_MESSAGE_BYTES=str(limit)) as running:
        # Over the application's limit, under the WebSocket layer's: answered, socket open.
        assert asyncio.run(answer_to(running, limit + MIB // 2)) == "message_too_large"
        assert asyncio.run(answer_to(running, 2 * limit + 1)) == "closed 1009"
        assert running.speak("Still serving.")[-1]["status"] == "complete"
