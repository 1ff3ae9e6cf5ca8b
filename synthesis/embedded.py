"""Synthesis workers hosted inside the web process (the embedded default mode)."""

from __future__ import annotations

import asyncio
import contextvars
import logging

from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from . import metrics
from .heartbeat import heartbeat_forever, worker_name
from .messages import WORKER_CHANNEL, receive_riding_out
from .workers import handle_job

logger = logging.getLogger(__name__)

# One listener per event loop and channel layer (tests swap both; a server has one of each).
_listeners: dict[tuple[asyncio.AbstractEventLoop, BaseChannelLayer], asyncio.Task[None]] = {}
_heartbeats: set[asyncio.Task[None]] = set()


def ensure_embedded_workers() -> None:
    """Start the in-process workers on the running event loop, once (no-op when disabled)."""
    if not settings.TTS_EMBEDDED_WORKERS:
        return
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS must be configured"
    if (loop, layer) in _listeners:
        return
    for stale in [key for key, task in _listeners.items() if task.done() or key[0].is_closed()]:
        del _listeners[stale]
    # An empty context: the workers serve every connection, so they must not inherit the
    # context variables of the one whose arrival happened to start them.
    listener = _listeners[loop, layer] = loop.create_task(
        serve_worker_channel(layer, settings.TTS_WORKER_CAPACITY),
        name="tts-workers",
        context=contextvars.Context(),
    )
    # For /readyz: the workers are alive as long as their listener is.
    _heartbeats.add(
        loop.create_task(
            heartbeat_forever(worker_name(), lambda: not listener.done()),
            name="tts-heartbeat",
            context=contextvars.Context(),
        )
    )
    logger.info("Started %d embedded synthesis workers", settings.TTS_SYNTHESIS_THREADS)


def workers_running() -> bool:
    """Whether this process's embedded workers listen on the running loop."""
    loop = asyncio.get_running_loop()
    return any(key[0] is loop and not task.done() for key, task in _listeners.items())


async def serve_worker_channel(layer: BaseChannelLayer, slots: int) -> None:
    """Take jobs off the worker channel as they come, up to `slots` not finished yet.

    The jobs taken share the synthesis threads sentence by sentence, the sentence due soonest
    first (synthesis/scheduling.py), which is only possible for jobs this process holds. Beyond
    `slots` they wait on the channel, where any worker process may take them, and beyond its
    capacity requests get `server_busy`. One listener per process, because the in-memory layer
    loses track of a second coroutine waiting on the same channel. A channel layer that fails
    (Redis is down) is tried again, and the jobs being synthesized carry on meanwhile.
    """
    free = asyncio.Semaphore(slots)
    running: set[asyncio.Task[None]] = set()
    metrics.count_held_jobs(lambda: len(running))
    while True:
        await free.acquire()
        job = await receive_riding_out(layer, WORKER_CHANNEL, nothing_lost)
        task = asyncio.create_task(handle_job(layer, job))  # type: ignore[arg-type]
        running.add(task)
        task.add_done_callback(running.discard)
        task.add_done_callback(lambda _: free.release())


async def nothing_lost() -> None:
    """The worker listener holds no request: an outage costs it nothing to make good."""
