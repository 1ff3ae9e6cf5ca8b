"""Let Daphne close a socket with 1001, and with the reason the application gives.

Daphne drops the `reason` of the application's `websocket.close`, so a client without the
error message before it (a plain WebSocket library printing its exception) saw a bare 4401.
And RFC 6455 defines 1001 for a server going down, but autobahn's sendClose, which Daphne's
serverClose calls, only accepts 1000 and the application range 3000-4999; its lower-level
sendCloseFrame sends any valid code. The web process patches both when it starts
(ttsproject/server.py); tests/test_close_frames.py checks the patch against the pinned Daphne.
"""

from __future__ import annotations

import functools
from typing import Any

from daphne.ws_protocol import WebSocketProtocol

from protocol import CloseCode
from protocol.codes import fit_close_reason

GOING_AWAY = int(CloseCode.GOING_AWAY)


def patch_server_close() -> None:
    """Patch Daphne's WebSocketProtocol to close with 1001 and with reasons (idempotent)."""
    original_reply = WebSocketProtocol.handle_reply
    original_close = WebSocketProtocol.serverClose
    if getattr(original_close, "patched", False):
        return

    @functools.wraps(original_reply)  # and keeps it as __wrapped__
    def handle_reply(self: WebSocketProtocol, message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.close" and self.state != self.STATE_CONNECTING:
            self.serverClose(code=message.get("code"), reason=message.get("reason"))
        else:
            original_reply(self, message)

    @functools.wraps(original_close)
    def server_close(
        self: WebSocketProtocol, code: int | None = None, reason: str | None = None
    ) -> None:
        reason = fit_close_reason(reason) if reason else None
        if code == GOING_AWAY:
            encoded = reason.encode() if reason else None
            self.sendCloseFrame(code=GOING_AWAY, reasonUtf8=encoded, isReply=False)
        elif reason:
            self.sendClose(code=1000 if code is None else code, reason=reason)
        else:
            original_close(self, code)

    server_close.patched = True  # type: ignore[attr-defined]
    WebSocketProtocol.handle_reply = handle_reply  # type: ignore[method-assign]
    WebSocketProtocol.serverClose = server_close  # type: ignore[method-assign]
