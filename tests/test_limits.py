"""Bounded work per request: hostile messages cannot grow the server past its memory budget,
and every limit a request hits is named in its error. Against a real Daphne, under an address
space limit so that a regression fails here rather than exhausting the machine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .clients import pcm_of, receive, receive_until_end, send, speak
from .servers import Deployment, deployment

pytestmark = pytest.mark.e2e

# Daphne with the voice loaded maps about 1.6 GB of address space (threads' stacks, malloc
# arenas); the message that once took the server to 19 GB would fail within this.
ADDRESS_SPACE = 4 * 1024**3
# The most resident memory the synthesizing process may reach through every attack here.
PEAK_RSS_MB = 600

ALIAS = "word " * 300
ATTACKS = {
    "phonemes": '<speak><phoneme ph="' + "a" * 4900 + '">x</phoneme></speak>',
    "digits": "9" * 1500,
    "alias": f'<speak><sub alias="{ALIAS.strip()}">x</sub></speak>',
    "cardinal": '<speak><say-as interpret-as="cardinal">' + "7" * 1500 + "</say-as></speak>",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    data_dir: Path = tmp_path_factory.mktemp("limits")
    with deployment(
        data_dir,
        address_space=ADDRESS_SPACE,
        TTS_MAX_REQUEST_AUDIO_SECONDS="30",
        TTS_MAX_REQUEST_PAUSE_SECONDS="20",
    ) as running:
        yield running


async def first_chunks_then_cancel(
    server: Deployment, text: str, chunks: int, **fields: object
) -> list:
    """Send one request, take its first `chunks` audio chunks, then cancel it; its messages."""
    async with server.websocket(max_size=None) as ws:
        await send(ws, {"text": text, "voice_id": "joe", "request_id": "attack", **fields})
        messages: list[dict] = []
        while len([m for m in messages if m["status"] == "chunk"]) < chunks:
            messages.append(await receive(ws))
            if messages[-1]["status"] != "chunk":
                return messages
        await send(ws, {"type": "cancel", "request_id": "attack"})
        return messages + await receive_until_end(ws)


def test_it_speaks_huge_readings_within_its_memory_budget(server: Deployment) -> None:
    async def attack_all() -> list[list[dict]]:
        attacks = [
            first_chunks_then_cancel(server, text, 4, speed=0.5, sample_rate=48000)
            for text in ATTACKS.values()
        ]
        return await asyncio.gather(*attacks)

    for name, messages in zip(ATTACKS, asyncio.run(attack_all()), strict=True):
        assert messages[-1]["status"] == "cancelled", (name, messages[-1])
        assert sum(m["status"] == "chunk" for m in messages) >= 4, name
    print(f"peak RSS {server.rss_mb(peak=True):.0f} MB")
    assert server.rss_mb(peak=True) < PEAK_RSS_MB
    # And the server still serves an ordinary request.
    assert server.speak("Still here.")[-1]["status"] == "complete"


def test_a_requests_audio_is_capped_and_the_error_names_the_limit(server: Deployment) -> None:
    messages = server.speak("This sentence is spoken over and over again. " * 20)
    assert messages[-1]["status"] == "error"
    assert messages[-1]["code"] == "text_too_long"
    assert "30 s of audio" in messages[-1]["message"]
    audio_seconds = pcm_of(messages).size / 24000
    assert 30 <= audio_seconds < 45  # stops within a chunk of the limit


def test_pauses_are_capped_per_request_by_name(server: Deployment) -> None:
    breaks = '<break time="10s"/>' * 3
    messages = server.speak(f"<speak>One {breaks} two</speak>")
    assert messages[-1]["status"] == "error"
    assert messages[-1]["code"] == "invalid_request"
    assert "add up to 30 s" in messages[-1]["message"]
    assert "at most 20 s" in messages[-1]["message"]
    assert not [m for m in messages if m["status"] == "chunk"]


def test_pauses_add_up_across_a_text_stream(server: Deployment) -> None:
    async def stream() -> list[dict]:
        async with server.websocket() as ws:
            fields = {"request_id": "s", "continue": True}
            for _ in range(2):
                text = '<speak>Wait <break time="8s"/> now.</speak>'
                await send(ws, {"text": text, "voice_id": "joe", **fields})
            # The third would take the request to 24 s of pauses: refused, the stream goes on.
            third = '<speak>And <break time="8s"/> again.</speak>'
            await send(ws, {"text": third, **fields})
            refused = None
            while refused is None:
                message = await receive(ws)
                if message["status"] == "error":
                    refused = message
            last: dict[str, Any] = {"request_id": "s", "continue": False}
            end = await speak(ws, "The end.", **last)
            return [refused, end[-1]]

    refused, last = asyncio.run(stream())
    assert refused["code"] == "invalid_request" and "at most 20 s" in refused["message"]
    assert last["status"] == "complete"
    assert 16 <= last["data"]["audio_seconds"] < 24


def test_breaks_in_a_row_make_one_piece_not_one_chunk_each() -> None:
    from speech.text.pieces import spoken_pieces

    document = "<speak>One" + '<break time="0ms"/>' * 400 + 'two<break time="1s"/></speak>'
    spoken = spoken_pieces(document)
    assert [pause for _, pause in spoken.pieces] == [True, True]
    assert spoken.pause_seconds == 1.0
