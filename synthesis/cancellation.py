"""Which request runs were stopped early, shared with the synthesis workers.

A consumer that ends a request while some of its chunks are still queued or being synthesized
marks the run here; workers look before each sentence and drop what is no longer wanted. The
mark lives in Django's cache: the process's own memory when the workers are embedded, Redis
when `runworker` processes on other machines do the work (ttsproject/settings.py).
"""

from __future__ import annotations

from django.core.cache import cache

_PREFIX = "tts:cancelled:"
# Longer than any job waits in a queue: by then the request has failed at its deadline anyway.
_KEEP_SECONDS = 600


async def mark_cancelled(token: str) -> None:
    await cache.aset(_PREFIX + token, True, _KEEP_SECONDS)


def is_cancelled(token: str) -> bool:
    """Blocking (a Redis round trip at most); workers call it on their synthesis threads."""
    return cache.get(_PREFIX + token) is not None
