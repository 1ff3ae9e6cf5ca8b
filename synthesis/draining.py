"""Graceful shutdown of a web process: finish what the sockets are doing, then close them.

`manage.py serve` sends SIGUSR1 to Daphne when it is asked to stop. From then on /readyz
answers 503, new connections and new requests are turned away, and each socket is closed
with 1001 ("going away") as soon as its requests have ended. When the last one is closed the
process stops itself (SIGTERM, which Daphne handles); whatever is still open when serve's
grace period runs out is cut off then.

The process has one `Drain`, `drain`; the web process's start-up (ttsproject/server.py) has
it listen for the signal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import weakref
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

DRAIN_SIGNAL = signal.SIGUSR1


class Drainable(Protocol):
    """A socket that draining closes: TTSConsumer."""

    async def close_when_idle(self) -> None:
        """Close the socket with 1001 now if no request runs on it, else once none does."""


def _stop_process() -> None:
    """Ask Daphne to stop, as a supervisor would."""
    logger.info("Drained; stopping")
    os.kill(os.getpid(), signal.SIGTERM)


class Drain:
    """The sockets open in this process, and whether they are being drained."""

    def __init__(self, stop: Callable[[], None] = _stop_process) -> None:
        self._stop = stop
        self._active = False
        self._sockets: weakref.WeakSet[Drainable] = weakref.WeakSet()
        # The loop the sockets live on: the signal arrives between two of its steps.
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def active(self) -> bool:
        """Whether draining has begun: new connections and requests are turned away."""
        return self._active

    def connected(self, consumer: Drainable) -> None:
        """Called when a socket is accepted: it is closed when draining begins."""
        self._loop = asyncio.get_running_loop()
        self._sockets.add(consumer)

    def disconnected(self, consumer: Drainable) -> None:
        """Called when a socket closes; the last one to close while draining stops the process."""
        self._sockets.discard(consumer)
        if self._active and not self._sockets:
            self._stop()

    async def begin(self) -> None:
        """Start draining: each socket closes once its requests have ended."""
        if self._active:
            return
        self._active = True
        logger.info(
            "Draining: finishing the requests of %d sockets, then stopping", len(self._sockets)
        )
        if not self._sockets:
            self._stop()
        for consumer in list(self._sockets):
            await consumer.close_when_idle()

    def install_signal_handler(self) -> None:
        """Drain on DRAIN_SIGNAL (call once, in the main thread of the web process)."""
        signal.signal(DRAIN_SIGNAL, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._stop()  # no socket was ever opened: nothing to finish
        else:
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.begin()))


drain = Drain()
