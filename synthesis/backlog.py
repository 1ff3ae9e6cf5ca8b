"""How much a client has been sent and not taken yet: the server's side of backpressure.

ASGI gives an application no way to learn that a client is not reading: each `send` returns at
once, and the server buffers what the socket cannot take, without bound. A client that stops
reading would make the server hold all of its audio (about 90 MB a minute at 48 kHz).

Under Daphne, the `send` callable an application gets is `partial(server.handle_reply,
protocol)`, and the protocol's Twisted transport keeps what the kernel would not take in
`dataBuffer` (from `offset`) and `_tempDataBuffer` (`_tempDataLen` bytes). Reading those is the
only measure there is; tests/test_backpressure.py checks it against the pinned Daphne and
Twisted. Under any other server the backlog is unknown, and nothing is held back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


def backlog_reader(send: Any) -> Callable[[], int] | None:
    """A function giving the bytes sent to this client and still held by this process, or
    None when the server does not let them be read."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    transport = getattr(send.args[0], "transport", None)
    if transport is None or not all(
        hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen")
    ):
        return None

    def unsent() -> int:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    return unsent


# How often a client that is behind on reading is looked at again.
RECHECK_SECONDS = 0.1


class Backlog:
    """Holds a client's requests back while it does not read its audio.

    While more than TTS_CLIENT_BACKLOG_BYTES wait unsent, nothing more is synthesized for it;
    it is looked at again every RECHECK_SECONDS. Once it has caught up, `caught_up` is called;
    if it reads nothing at all for `timeout` seconds, `stuck` is (a slow reader is only held
    back, never closed).
    """

    def __init__(
        self,
        unsent: Callable[[], int] | None,
        timeout: float,
        caught_up: Callable[[], Coroutine[Any, Any, None]],
        stuck: Callable[[int], Coroutine[Any, Any, None]],
    ) -> None:
        self.unsent = unsent
        self.timeout = timeout
        self.caught_up = caught_up
        self.stuck = stuck
        self.behind_since: float | None = None  # or since it last read anything
        self.seen = 0  # the backlog when last looked at
        self.timer: asyncio.TimerHandle | None = None

    def behind(self) -> bool:
        """Whether the client's requests are held back (and, if it has just fallen behind,
        start holding them)."""
        if self.behind_since is not None:
            return True
        if self.unsent is None or self.unsent() <= settings.TTS_CLIENT_BACKLOG_BYTES:
            return False
        self.behind_since = time.monotonic()
        self.seen = self.unsent()
        logger.info("A client is not reading its audio; holding its requests back")
        self.look_again()
        return True

    def look_again(self) -> None:
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(
                RECHECK_SECONDS, lambda: asyncio.ensure_future(self.check())
            )

    async def check(self) -> None:
        self.timer = None
        if self.behind_since is None or self.unsent is None:
            return
        unsent = self.unsent()
        if unsent <= settings.TTS_CLIENT_BACKLOG_BYTES:
            self.behind_since = None
            await self.caught_up()
            return
        if unsent < self.seen:  # it read some: wait on
            self.behind_since = time.monotonic()
        self.seen = unsent
        if time.monotonic() - self.behind_since < self.timeout:
            self.look_again()
            return
        logger.info(
            "Closing a client that read none of its audio for %d s (%d bytes unsent)",
            self.timeout,
            unsent,
        )
        await self.stuck(unsent)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
