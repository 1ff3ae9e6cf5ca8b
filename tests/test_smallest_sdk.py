"""Smallest.ai's own Python SDK (`smallestai`'s WavesStreamingTTS) against this server.

Only the URL changes: the SDK sends its usual fields (model, language, speed,
max_buffer_flush_ms, its API key as an Authorization header) and reads chunk and complete
messages. The server requires keys, as in production.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from smallestai.waves import TTSConfig, WavesStreamingTTS

from .servers import Deployment

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(keyed_server: Deployment) -> Deployment:
    return keyed_server


def client(server: Deployment, api_key: str | None = None) -> WavesStreamingTTS:
    key = api_key or server.api_key
    assert key is not None
    tts = WavesStreamingTTS(TTSConfig(voice_id="joe", api_key=key, sample_rate=16000))
    tts.ws_url = f"ws://127.0.0.1:{server.port}/waves/v1/tts/live"
    return tts


def test_the_sdk_synthesizes_a_text(server):
    chunks = list(client(server).synthesize("Hello from the Smallest SDK, talking to our server."))
    seconds = sum(len(chunk) for chunk in chunks) / 2 / 16000
    assert len(chunks) >= 2
    assert 2.0 < seconds < 6.0


def test_the_sdk_streams_text_as_it_is_written(server):
    words = "This reply is written one word at a time, as a language model would. Then it ends."

    def writer() -> Generator[str, None, None]:
        for word in words.split(" "):
            yield word + " "

    chunks = list(client(server).synthesize_streaming(writer()))
    seconds = sum(len(chunk) for chunk in chunks) / 2 / 16000
    assert len(chunks) >= 2
    assert 3.0 < seconds < 9.0
