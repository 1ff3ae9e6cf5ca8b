"""Which request runs were stopped early, shared with the synthesis workers.

A consumer that ends a request while some of its chunks are still queued or being synthesized
marks the run here; workers look before each sentence and drop what is no longer wanted. The
mark lives in Django's cache: the process's own memory when the workers are embedded, Redis
when `synthesis_worker` processes on other machines do the work (ttsproject/settings.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.core.cache import cache

from speech.engine import Interrupt
from ttsproject.database import cache_set

logger = logging.getLogger(__name__)

_PREFIX = "tts:cancelled:"
# Longer than any job waits in a queue: by then the request has failed at its deadline anyway.
_KEEP_SECONDS = 600


# The syntheses running in this process, by request run; touched only on the event loop.
_running: defaultdict[str, set[Interrupt]] = defaultdict(set)


async def mark_cancelled(token: str) -> None:
    """Stop the run's chunks: at once in this process, before their next sentence elsewhere."""
    for interrupt in _running.pop(token, ()):
        interrupt.interrupt()
    try:
        await cache_set(_PREFIX + token, True, _KEEP_SECONDS)
    except Exception:  # Redis is down: other machines' workers will synthesize it for nothing
        logger.warning("Could not tell other workers that %s was cancelled", token, exc_info=True)


def started(token: str, interrupt: Interrupt) -> None:
    """A worker in this process began synthesizing a chunk of the run."""
    _running[token].add(interrupt)


def finished(token: str, interrupt: Interrupt) -> None:
    running = _running.get(token)
    if running is not None:
        running.discard(interrupt)
        if not running:
            del _running[token]


def is_cancelled(token: str) -> bool:
    """Blocking (a Redis round trip at most); workers call it on their synthesis threads."""
    try:
        return cache.get(_PREFIX + token) is not None
    except Exception:  # without the cache, carry on: the consumer drops unwanted audio anyway
        logger.warning("Could not check whether %s was cancelled", token, exc_info=True)
        return False
