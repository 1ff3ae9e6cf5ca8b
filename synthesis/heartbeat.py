"""Worker heartbeats: each synthesis worker process says it is alive, for `/readyz`.

The embedded workers of a web process beat on its event loop; a `synthesis_worker` process
beats on a thread of its own. The beat goes to Django's cache, which is Redis with REDIS_URL,
so any web process sees the workers on any machine.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "tts:workers:heartbeat"
# A worker is missing after this many heartbeats did not come.
MISSED_BEATS = 3


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def missing_after() -> int:
    """Seconds without a heartbeat after which no worker counts as alive.

    Whole seconds, because Redis keys expire in whole seconds (Django rounds down, and a
    timeout of 0 deletes the key at once).
    """
    return max(1, math.ceil(settings.TTS_HEARTBEAT_SECONDS * MISSED_BEATS))


def beat(worker: str) -> None:
    """Record that `worker` is alive (blocking: a Redis round trip at most)."""
    cache.set(HEARTBEAT_KEY, {"worker": worker, "at": time.time()}, missing_after())


async def heartbeat_forever(worker: str, alive: Callable[[], bool]) -> None:
    """The embedded workers' heartbeat, on the event loop they run on, while `alive()`."""
    while alive():
        try:
            await sync_to_async(beat, thread_sensitive=False)(worker)
        except Exception:
            logger.warning("Could not write the worker heartbeat", exc_info=True)
        await asyncio.sleep(settings.TTS_HEARTBEAT_SECONDS)


def start_heartbeat_thread(worker: str) -> None:
    """The heartbeat of a `synthesis_worker` process, on a thread of its own."""

    def run() -> None:
        while True:
            try:
                beat(worker)
            except Exception:
                logger.warning("Could not write the worker heartbeat", exc_info=True)
            time.sleep(settings.TTS_HEARTBEAT_SECONDS)

    threading.Thread(target=run, name="tts-heartbeat", daemon=True).start()
