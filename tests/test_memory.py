"""An idle server gives back the memory its busiest moment took.

The voice keeps working memory from its runs for the next ones (onnxruntime's arena, glibc's
heaps), at most what two long units and one short one take at once. Once no synthesis has run
for TTS_RELEASE_MEMORY_AFTER seconds, the process gives it back: measured against a real server
after a burst of concurrent long requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from .clients import speak
from .servers import Deployment, deployment, wait_for

pytestmark = pytest.mark.e2e

TEXT = "This answer goes on, sentence after sentence, so that the voice has work to do. " * 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("memory"), TTS_RELEASE_MEMORY_AFTER="1") as running:
        yield running


def test_an_idle_server_comes_back_to_its_size_before_the_burst(server):
    time.sleep(2)  # the warm-up's own memory given back
    before = server.rss_mb()

    async def burst() -> None:
        async def one() -> None:
            async with server.websocket() as socket:
                assert (await speak(socket, TEXT))[-1]["status"] == "complete"

        await asyncio.gather(*(one() for _ in range(6)))

    asyncio.run(burst())
    peak = server.rss_mb(peak=True)
    assert peak > before + 80  # the burst did take memory
    # Never more than what two long units and a first clause take at once (about 150 MB) and
    # what runs may keep for the next ones (TTS_KEEP_MEMORY_MB, 80), with room for slack: one
    # arena grown by what is asked took 180 MB here; two arenas grown in doubling steps took
    # 300-450 MB over the warmed-up server.
    assert peak < before + 280, (before, peak)
    # Within a few seconds of the last synthesis, it is given back.
    assert wait_for(lambda: server.rss_mb() < before + 20, 10), (before, server.rss_mb())
    assert server.speak("And the next request is served as before.")[-1]["status"] == "complete"
