"""Let Daphne close a socket with 1001, the code the protocol gives a server going down.

RFC 6455 defines 1001 for exactly this, but autobahn's sendClose, which Daphne's serverClose
calls, only accepts 1000 and the application range 3000-4999. Its lower-level sendCloseFrame
sends any valid code. The web process patches serverClose when it starts
(ttsproject/server.py); tests/test_going_away.py checks the patch against the pinned Daphne.
"""

from __future__ import annotations

import functools

from daphne.ws_protocol import WebSocketProtocol

from protocol import CloseCode

GOING_AWAY = int(CloseCode.GOING_AWAY)


def allow_going_away() -> None:
    """Patch Daphne's WebSocketProtocol.serverClose to send 1001 too (idempotent)."""
    original = WebSocketProtocol.serverClose
    if getattr(original, "allows_going_away", False):
        return

    @functools.wraps(original)  # and keeps it as __wrapped__
    def server_close(self: WebSocketProtocol, code: int | None = None) -> None:
        if code == GOING_AWAY:
            self.sendCloseFrame(code=GOING_AWAY, isReply=False)
        else:
            original(self, code)

    server_close.allows_going_away = True  # type: ignore[attr-defined]
    WebSocketProtocol.serverClose = server_close  # type: ignore[method-assign]
