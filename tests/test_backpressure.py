"""A client that does not read its audio costs the server little: its requests stop being
synthesized, and once it has read nothing for its timeout it is closed (real Daphne)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from synthesis.backlog import backlog_reader

from .clients import pcm_of, receive, send
from .servers import Deployment, deployment, wait_for

pytestmark = pytest.mark.e2e

TIMEOUT = 3  # the connection's inactivity timeout, in seconds
TEXT = "A long passage of text that would take the server minutes to speak aloud. " * 60
# What the server may hold for a client that reads nothing: the backlog at which it stops
# synthesizing for it (TTS_CLIENT_BACKLOG_BYTES, 1 MiB), and the chunks already being
# synthesized then, which still arrive: 4 requests of 2 chunks at 48 kHz, about 16 MB.
MOST_HELD_BYTES = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    data_dir: Path = tmp_path_factory.mktemp("backpressure")
    with deployment(
        data_dir,
        TTS_TIMEOUT_MIN="2",
        TTS_TIMEOUT_DEFAULT=str(TIMEOUT),
        TTS_MAX_TEXT_CHARS="5000",
    ) as running:
        yield running


def test_a_client_that_reads_nothing_costs_little_and_is_closed(server: Deployment) -> None:
    mark = server.log_mark()

    def gave_up() -> bool:
        return "Closing a client that read none" in server.log(since=mark)

    async def stall() -> tuple[list[dict], int | None]:
        # max_queue=1: the client library stops reading the socket once one frame waits.
        async with server.websocket(max_queue=1, max_size=None) as ws:
            for number in range(4):
                request = {"text": TEXT, "voice_id": "joe", "sample_rate": 48000}
                await send(ws, {**request, "request_id": f"r{number}"})
            # Synthesis stops once the client is behind; then the server only holds what it
            # has sent and the client has not read, until it gives up on the client.
            assert await asyncio.to_thread(wait_for, gave_up, 30), "the server never gave up"
            messages = []
            try:
                async for frame in ws:
                    messages.append(json.loads(frame))
            except websockets.ConnectionClosed:
                pass
        return messages, ws.close_code

    messages, close_code = asyncio.run(stall())
    # What the server held for the client when it gave up, read from its transport's buffers
    # (synthesis/backlog.py): the most it held, as the client had read none of it since.
    closing = re.search(
        r"read none of its audio for (\d+) s \((\d+) bytes unsent\)", server.log(since=mark)
    )
    assert closing is not None, server.log(since=mark)
    seconds, held = int(closing[1]), int(closing[2])
    assert seconds == TIMEOUT
    assert held < MOST_HELD_BYTES, f"the server held {held / 2**20:.0f} MB for a client"
    # The server closes with 4408 and says why, but waits only a second for the client to
    # answer the close: one that took longer to read its backlog finds the socket dropped.
    assert close_code in (4408, 1006)
    if close_code == 4408:
        assert messages[-1]["code"] == "timeout"
        assert "read none of its audio" in messages[-1]["message"]
    # Nowhere near the 4 x 4 minutes asked for: synthesis stopped when the client did.
    audio_seconds = pcm_of(messages).size / 48000
    assert audio_seconds < 240, audio_seconds
    # The server serves others all the while, and after.
    assert server.speak("Next, please.")[-1]["status"] == "complete"


def test_a_client_that_reads_slowly_gets_all_its_audio(server: Deployment) -> None:
    async def slow() -> list[dict]:
        async with server.websocket(max_queue=1, max_size=None) as ws:
            text = "A passage read by a slow client, a little at a time. " * 12
            await send(ws, {"text": text, "voice_id": "joe", "sample_rate": 48000})
            messages: list[dict] = []
            while not messages or messages[-1]["status"] == "chunk":
                messages.append(await receive(ws, 30))
                await asyncio.sleep(0.2)  # slower than the server makes audio, never idle long
            return messages

    messages = asyncio.run(slow())
    assert messages[-1]["status"] == "complete"
    chunks = [m for m in messages if m["status"] == "chunk"]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))


def test_it_cannot_read_a_backlog_where_the_server_does_not_tell() -> None:
    async def send(message: dict) -> None:
        pass

    assert backlog_reader(send) is None
    assert backlog_reader(functools.partial(send)) is None


def test_it_reads_a_twisted_transports_unsent_bytes() -> None:
    # The attributes of the pinned Twisted that backlog.py reads.
    from twisted.internet.abstract import FileDescriptor

    class Protocol:
        transport = FileDescriptor()

    async def handle_reply(protocol: Protocol, message: dict) -> None:
        pass

    protocol = Protocol()
    unsent = backlog_reader(functools.partial(handle_reply, protocol))
    assert unsent is not None and unsent() == 0
    protocol.transport._tempDataBuffer.append(b"x" * 100)
    protocol.transport._tempDataLen += 100
    assert unsent() == 100
    # Of the buffer being written, the bytes from `offset` on are still to go.
    protocol.transport.dataBuffer = b"y" * 50
    protocol.transport.offset = 20
    assert unsent() == 130
