"""Graceful shutdown of a web process: finish what the sockets are doing, then close them.

`manage.py serve` sends SIGUSR1 to Daphne when it is asked to stop. From then on /readyz
answers 503, new connections and new requests are turned away, and each socket is closed
with 1001 ("going away") as soon as its requests have ended. When the last one is closed the
process stops itself (SIGTERM, which Daphne handles); whatever is still open when serve's
grace period runs out is cut off then.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .consumers import TTSConsumer

logger = logging.getLogger(__name__)

DRAIN_SIGNAL = signal.SIGUSR1
GOING_AWAY = 1001

_consumers: weakref.WeakSet[TTSConsumer] = weakref.WeakSet()
_loop: asyncio.AbstractEventLoop | None = None
draining = False


def connected(consumer: TTSConsumer) -> None:
    global _loop
    _loop = asyncio.get_running_loop()
    _consumers.add(consumer)


def disconnected(consumer: TTSConsumer) -> None:
    _consumers.discard(consumer)
    if draining and not _consumers:
        _stop_process()


def install_signal_handler() -> None:
    """Drain on DRAIN_SIGNAL (call once, in the main thread of the web process)."""
    signal.signal(DRAIN_SIGNAL, _on_signal)
    _allow_going_away()


def _allow_going_away() -> None:
    """Let Daphne close a socket with 1001, the code the protocol gives a server going down.

    RFC 6455 defines 1001 for exactly this, but autobahn's sendClose, which Daphne calls, only
    accepts 1000 and the application range 3000-4999. Its lower-level sendCloseFrame sends any
    valid code.
    """
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # not running under Daphne
        return
    original = WebSocketProtocol.serverClose
    if getattr(original, "allows_going_away", False):
        return

    def server_close(self: WebSocketProtocol, code: int | None = None) -> None:
        if code == GOING_AWAY:
            self.sendCloseFrame(code=GOING_AWAY, isReply=False)
        else:
            original(self, code)

    server_close.allows_going_away = True  # type: ignore[attr-defined]
    WebSocketProtocol.serverClose = server_close  # type: ignore[method-assign]


def _on_signal(signum: int, frame: object) -> None:
    if _loop is None or _loop.is_closed():
        _stop_process()  # no socket was ever opened: nothing to finish
    else:
        _loop.call_soon_threadsafe(lambda: asyncio.ensure_future(start_draining()))


async def start_draining() -> None:
    global draining
    if draining:
        return
    draining = True
    logger.info("Draining: finishing the requests of %d sockets, then stopping", len(_consumers))
    if not _consumers:
        _stop_process()
    for consumer in list(_consumers):
        await consumer.close_when_idle()


def _stop_process() -> None:
    logger.info("Drained; stopping")
    os.kill(os.getpid(), signal.SIGTERM)
