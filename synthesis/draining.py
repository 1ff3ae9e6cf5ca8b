"""Graceful shutdown of a web process: finish what the sockets are doing, then close them.

`manage.py serve` sends SIGUSR1 to Daphne when it is asked to stop. From then on /readyz
answers 503, new connections and new requests are turned away, and each socket is closed
with 1001 ("going away") as soon as its requests have ended. Speech being streamed over HTTP
is written to its end. When the last socket is closed and the last such response written,
the process stops itself (SIGTERM, which Daphne handles); whatever is still open when serve's
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

from django.core.signals import request_finished

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
        # The HTTP requests whose speech is being made or written (http_session.py).
        self._responses: set[object] = set()
        self._stopped = False
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
        self._stop_when_done()

    def responding(self, response: object) -> None:
        """Called when an HTTP request starts speaking: draining waits until it has ended."""
        self._loop = asyncio.get_running_loop()
        self._responses.add(response)

    def responded(self, response: object) -> None:
        """Called when that request has ended, written or its client gone. The process stops
        only once Django has sent the response's last bytes (written())."""
        self._responses.discard(response)

    def written(self, **kwargs: object) -> None:
        """Django's request_finished, sent on the thread it closes a response on: a response
        has gone out whole, or its client has left."""
        loop = self._loop
        if self._active and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop_when_done)

    def _stop_when_done(self) -> None:
        """While draining, stop the process once no socket and no response is left (once)."""
        if self._active and not self._sockets and not self._responses and not self._stopped:
            self._stopped = True
            self._stop()

    async def begin(self) -> None:
        """Start draining: each socket closes once its requests have ended."""
        if self._active:
            return
        self._active = True
        logger.info(
            "Draining: finishing the requests of %d sockets and %d HTTP requests, then stopping",
            len(self._sockets),
            len(self._responses),
        )
        self._stop_when_done()
        for consumer in list(self._sockets):
            await consumer.close_when_idle()

    def install_signal_handler(self) -> None:
        """Drain on DRAIN_SIGNAL (call once, in the main thread of the web process)."""
        signal.signal(DRAIN_SIGNAL, self._on_signal)
        request_finished.connect(self.written, dispatch_uid="tts-drain")

    def _on_signal(self, signum: int, frame: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._stopped = True
            self._stop()  # no socket or speech request ever came: nothing to finish
        else:
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.begin()))


drain = Drain()
