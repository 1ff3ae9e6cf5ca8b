"""The protocol's words: the close codes and error codes a client sees, and ClientError.

docs/protocol.md explains each one to client authors. These are the only definitions: the
server raises and closes with them, and the demo page is handed them (synthesis/views.py).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    """WebSocket close codes the server closes with, after an error message saying why.

    Hand Daphne `int(code)`: autobahn, beneath it, refuses any type but int itself.
    """

    GOING_AWAY = 1001  # the server is shutting down; reconnect to continue elsewhere
    INTERNAL_ERROR = 1011  # the server could not check the connection (its key) just now
    BAD_PARAMETERS = 4400  # a bad query parameter (timeout)
    UNAUTHORIZED = 4401  # no API key, a wrong one, or one revoked while connected
    FORBIDDEN_ORIGIN = 4403  # a browser page from an origin that is not allowed
    IDLE = 4408  # inactive for the timeout, or read none of its audio for that long
    TOO_MANY_CONNECTIONS = 4429  # the API key already has its number of connections open


# A close frame's reason: at most 123 bytes of UTF-8 (RFC 6455, 5.5.1).
CLOSE_REASON_BYTES = 123

GOING_AWAY_REASON = "The server is restarting or shutting down; reconnect to go on."


def fit_close_reason(text: str) -> str:
    """`text` as a close frame's reason: whole if it fits, else cut at a word and marked."""
    if len(text.encode()) <= CLOSE_REASON_BYTES:
        return text
    cut = text.encode()[: CLOSE_REASON_BYTES - len("…".encode())].decode(errors="ignore")
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


class ErrorCode(StrEnum):
    """The `code` of an error message."""

    INVALID_JSON = "invalid_json"
    INVALID_REQUEST = "invalid_request"
    INVALID_TIMEOUT = "invalid_timeout"
    MESSAGE_TOO_LARGE = "message_too_large"
    TEXT_TOO_LONG = "text_too_long"
    BUFFER_FULL = "buffer_full"
    VOICE_NOT_FOUND = "voice_not_found"
    TOO_MANY_CONCURRENT_REQUESTS = "too_many_concurrent_requests"
    TOO_MANY_REQUESTS = "too_many_requests"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    UNAUTHORIZED = "unauthorized"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    SERVER_BUSY = "server_busy"
    SYNTHESIS_FAILED = "synthesis_failed"
    TIMEOUT = "timeout"


class ClientError(Exception):
    """A problem with what the client sent, or a refusal: answered with one error message.

    `field` names the message field at fault (`text`, `voice_id`, `speed`, ...) when there is
    one, so that a client can point at it; `retry_after` is the seconds to wait (server_busy).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        request_id: str | None = None,
        retry_after: float | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        self.field = field
