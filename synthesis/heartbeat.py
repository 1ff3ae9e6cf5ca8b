"""Worker heartbeats: each synthesis worker process says it is alive.

Two keys per beat: one that any worker refreshes, which tells `/readyz` that some worker is
there, and one per worker, which tells a web process whether the worker holding its chunks is
still alive (so that chunks lost with a dead worker are sent again within seconds, not after a
deadline). The embedded workers of a web process beat on its event loop; a `synthesis_worker`
process beats on a thread of its own. The beat goes to Django's cache, which is Redis with
REDIS_URL, so any web process sees the workers on any machine.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from . import metrics

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "tts:workers:heartbeat"
ALIVE_KEY_PREFIX = "tts:workers:alive:"
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
    """Record that `worker` is alive (blocking: a Redis round trip at most), and count it in
    the metrics, written or failed."""
    stamp = {"worker": worker, "at": time.time()}
    try:
        cache.set_many({HEARTBEAT_KEY: stamp, ALIVE_KEY_PREFIX + worker: stamp}, missing_after())
    except Exception:
        metrics.heartbeat_written(False)
        raise
    metrics.heartbeat_written(True)


def forget(worker: str) -> None:
    """Record that `worker` has stopped: whatever it still held is lost (blocking)."""
    cache.delete(ALIVE_KEY_PREFIX + worker)


def heartbeat_age() -> float:
    """Seconds since any worker's last heartbeat; +Inf when none came within missing_after()
    (blocking: a Redis round trip at most)."""
    stamp = cache.get(HEARTBEAT_KEY)
    return math.inf if stamp is None else max(0.0, time.time() - stamp["at"])


async def workers_alive(workers: Iterable[str]) -> set[str]:
    """Which of `workers` have beaten within missing_after() (off the event loop)."""
    keys = {ALIVE_KEY_PREFIX + worker: worker for worker in workers}
    found = await asyncio.to_thread(cache.get_many, list(keys))
    return {keys[key] for key in found}


async def heartbeat_forever(worker: str, alive: Callable[[], bool]) -> None:
    """The embedded workers' heartbeat, on the event loop they run on, while `alive()`."""
    while alive():
        try:
            await sync_to_async(beat, thread_sensitive=False)(worker)
        except Exception:
            logger.warning("Could not write the worker heartbeat", exc_info=True)
        await asyncio.sleep(settings.TTS_HEARTBEAT_SECONDS)


def start_heartbeat_thread(worker: str) -> threading.Event:
    """The heartbeat of a `synthesis_worker` process, on a thread of its own, until the event
    it returns is set."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                beat(worker)
            except Exception:
                logger.warning("Could not write the worker heartbeat", exc_info=True)
            stop.wait(settings.TTS_HEARTBEAT_SECONDS)

    threading.Thread(target=run, name="tts-heartbeat", daemon=True).start()
    return stop
