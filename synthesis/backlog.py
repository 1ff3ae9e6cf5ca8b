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

import functools
from collections.abc import Callable
from typing import Any


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
