"""A bound on the bodies the HTTP API reads, before Django reads them.

Django reads a request's whole body before a view runs (to disk past 2.5 MB), so a view's own
check comes too late to spare the server a huge upload. Under the API's paths, a body declared
larger than TTS_MAX_MESSAGE_BYTES is answered 413 at once, unread; one that is not declared
(chunked) and grows past it is cut off, as if its client had gone. Other paths (the admin's
voice uploads) are not bounded here.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

API_PREFIXES = ("/v1/", "/waves/")


class BodyLimit:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIXES):
            return await self.app(scope, receive, send)
        limit = settings.TTS_MAX_MESSAGE_BYTES
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await too_large(scope, send, limit)
        received = 0

        async def bounded_receive() -> dict[str, Any]:
            nonlocal received
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, bounded_receive, send)


async def too_large(scope: dict[str, Any], send: Any, limit: int) -> None:
    message = f"A request body may be at most {limit} bytes."
    body: dict[str, Any]
    if scope["path"].startswith("/v1/"):
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "message_too_large",
            }
        }
    else:
        body = {"status": "error", "code": "message_too_large", "message": message}
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
