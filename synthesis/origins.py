"""Which WebSocket connections may come in, judged by their Origin header."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import is_same_domain

from protocol import CloseCode, ErrorCode
from protocol.codes import fit_close_reason
from protocol.messages import error_message


def origin_allowed(origin: str) -> bool:
    """Whether a browser page at `origin` may use this server.

    Pages served from one of ALLOWED_HOSTS may (the demo page, an app behind the same proxy),
    and so may the origins an operator lists in TTS_ALLOWED_ORIGINS. Checking the host against
    ALLOWED_HOSTS rather than against the Host header keeps DNS rebinding out.
    """
    allowed = settings.TTS_ALLOWED_ORIGINS
    if "*" in allowed or origin.rstrip("/") in [o.rstrip("/") for o in allowed]:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    hostname = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return any(
        pattern == "*" or is_same_domain(hostname, pattern) for pattern in settings.ALLOWED_HOSTS
    )


class BrowserOriginValidator:
    """Browsers must come from an allowed origin; clients that send no Origin are let through.

    Channels' AllowedHostsOriginValidator refuses connections without an Origin header, which
    shuts out every SDK and server-side client. Only browsers send Origin (and a page cannot
    fake it), so the check that protects users of a page from other sites applies to them.
    A refused browser is told why, and the socket is closed with 4403: a refused handshake
    would reach the page only as a bare 1006.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            origin = dict(scope.get("headers", [])).get(b"origin")
            if origin is not None and not origin_allowed(origin.decode("latin-1")):
                return await refuse(receive, send)
        return await self.application(scope, receive, send)


async def refuse(receive: Any, send: Any) -> None:
    """Accept the socket only to say why it is closed, then close it with 4403."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    reason = (
        "Pages from this origin may not use this server; the operator can allow it with "
        "TTS_ALLOWED_ORIGINS."
    )
    error = error_message(ErrorCode.ORIGIN_NOT_ALLOWED, reason)
    await send({"type": "websocket.send", "text": json.dumps(error)})
    closing = {"code": int(CloseCode.FORBIDDEN_ORIGIN), "reason": fit_close_reason(reason)}
    await send({"type": "websocket.close", **closing})
