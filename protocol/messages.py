"""Client messages parsed, server messages built (docs/protocol.md is the contract).

Every problem with a client message is raised as a ClientError carrying the protocol's error
code and, where one is at fault, the field; the server answers it with one error message.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from speech.engine.audio import SAMPLE_RATES
from speech.text.script import strip_markers

from .codes import ClientError, ErrorCode


@dataclass(frozen=True)
class SynthesisRequest:
    text: str
    voice_id: str | None  # required when the message starts a request
    request_id: str
    named: bool  # whether the client chose request_id (or the server numbered it)
    speed: float | None
    sample_rate: int
    output_format: str
    continue_stream: bool
    flush: bool
    # Seconds an unfinished sentence waits for more text (max_buffer_delay_ms or the older
    # max_buffer_flush_ms); None when the message does not say.
    buffer_delay: float | None
    language: str | None
    word_timestamps: bool = False
    # Messages that share a context_id on one socket are one request (a context).
    context_id: str | None = None
    context_close: bool = False
    # Whether the client sent `continue: false` itself (the default does not end a stream
    # when the text is only whitespace: that is a keepalive).
    ends: bool = False
    math_notation: bool = False
    # The fields this message carried that the server does not use, sorted.
    ignored: tuple[str, ...] = ()

    @property
    def blank(self) -> bool:
        return not self.text.strip()

    @property
    def keepalive(self) -> bool:
        """Whitespace alone that asks for nothing: it never starts, flushes or ends a request."""
        return self.blank and not self.flush and not self.ends and not self.context_close


@dataclass(frozen=True)
class Cancel:
    request_id: str


@dataclass(frozen=True)
class KeepAlive:
    pass


ClientMessage = SynthesisRequest | Cancel | KeepAlive

REQUEST_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
OUTPUT_FORMATS = ("pcm", "wav", "ulaw", "alaw", "mp3", "opus", "aac", "flac")
DEFAULT_SAMPLE_RATE = 24000
MIN_SPEED, MAX_SPEED = 0.5, 2.0
# Smallest.ai clients send these; they mean nothing here, so they are ignored like any other
# field the server does not know, and named in the request's `complete`.
IGNORED_FIELDS = frozenset(
    {
        "model",
        "consistency",
        "similarity",
        "enhancement",
        "complete_backoff_ms",
        "pronunciation_dicts",
        "number_pronunciation_language",
        "content_filter",
    }
)
SYNTHESIS_FIELDS = frozenset(
    {
        "text",
        "voice_id",
        "request_id",
        "speed",
        "sample_rate",
        "output_format",
        "add_wav_header",
        "continue",
        "flush",
        "max_buffer_flush_ms",
        "max_buffer_delay_ms",
        "word_timestamps",
        "language",
        "context_id",
        "context_close",
        "math_notation",
    }
)
# A message may carry any number of fields the server ignores; the request names this many
# of them, each cut to this length, however many messages it has.
MAX_IGNORED_NAMED = 32
MAX_IGNORED_NAME_CHARS = 64
MAX_BUFFER_DELAY_MS = 5000


def parse_timeout(query_string: bytes, default: int, minimum: int, maximum: int) -> int:
    """Read the `timeout` query parameter: whole seconds from `minimum` to `maximum`."""
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get("timeout")
    if values is None:
        return default
    value = values[-1]
    if not re.fullmatch(r"[0-9]{1,6}", value) or not minimum <= int(value) <= maximum:
        raise ClientError(
            ErrorCode.INVALID_TIMEOUT,
            f"timeout must be a whole number of seconds from {minimum} to {maximum}, "
            f"not {shown(value)}.",
            field="timeout",
        )
    return int(value)


def shown(value: Any, limit: int = 40) -> str:
    """A client's value quoted in an error message, cut short: errors stay small and readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_message(text_data: str, max_text_chars: int) -> ClientMessage:
    """Parse one client text frame, or raise ClientError saying what is wrong with it."""
    try:
        data = json.loads(text_data)
    except ValueError as error:
        raise ClientError(
            ErrorCode.INVALID_JSON, f"The message is not valid JSON: {error}."
        ) from None
    except RecursionError:
        raise ClientError(ErrorCode.INVALID_JSON, "The message nests JSON too deeply.") from None
    if not isinstance(data, dict):
        raise ClientError(ErrorCode.INVALID_REQUEST, "A message must be a JSON object.")
    _refuse_lone_surrogates(data)

    request_id = _request_id(data)
    if "type" in data:
        return _parse_control(data, request_id)
    # Errors about a synthesis message name its request, even one the server numbers itself.
    named = request_id is not None
    request_id = request_id or uuid.uuid4().hex
    try:
        return _parse_synthesis(data, request_id, named, max_text_chars)
    except ClientError as error:
        error.request_id = request_id
        raise


def _refuse_lone_surrogates(data: dict[str, Any]) -> None:
    """JSON may escape half of a UTF-16 pair alone (\\ud800), which is no character at all:
    nothing downstream could encode it, so it is refused here, by field and position."""
    for name, value in data.items():
        checked = [(f"field name {shown(name)}", name)]
        if name in SYNTHESIS_FIELDS or name == "type":  # the others are ignored, values unread
            checked.append((name, value))
        for label, string in checked:
            if not isinstance(string, str):
                continue
            try:
                string.encode("utf-8")
            except UnicodeEncodeError as error:
                raise ClientError(
                    ErrorCode.INVALID_REQUEST,
                    f"{label} holds a lone UTF-16 surrogate (\\u{ord(string[error.start]):x}) "
                    f"at character {error.start}; send valid Unicode text.",
                    field=name,
                ) from None


def _request_id(data: dict[str, Any]) -> str | None:
    request_id = data.get("request_id")
    if request_id is None:
        return None
    if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
        raise ClientError(
            ErrorCode.INVALID_REQUEST,
            "request_id must be 1 to 128 characters from A-Z, a-z, 0-9, '_', '.' and '-'.",
            field="request_id",
        )
    return request_id


def _parse_control(data: dict[str, Any], request_id: str | None) -> ClientMessage:
    kind = data["type"]
    if kind == "keepalive":
        return KeepAlive()
    if kind == "cancel":
        if request_id is None:
            raise ClientError(
                ErrorCode.INVALID_REQUEST,
                "cancel needs the request_id to cancel.",
                field="request_id",
            )
        return Cancel(request_id)
    raise ClientError(
        ErrorCode.INVALID_REQUEST,
        f"Unknown message type {shown(kind)}; the types are 'cancel' and 'keepalive'.",
        request_id,
        field="type",
    )


def _parse_synthesis(
    data: dict[str, Any], request_id: str, named: bool, max_text_chars: int
) -> SynthesisRequest:
    ignored = sorted(set(data) - SYNTHESIS_FIELDS)
    if "text" not in data:
        raise ClientError(ErrorCode.INVALID_REQUEST, "text is required.", field="text")
    text = _typed(data, "text", str, "a string")
    if len(text) > max_text_chars:
        raise ClientError(
            ErrorCode.TEXT_TOO_LONG,
            f"text has {len(text)} characters; the limit is {max_text_chars} per message. "
            "Split it into several messages.",
            field="text",
        )
    voice_id = _optional(data, "voice_id", str, "a string")

    speed = number_in(data, "speed", MIN_SPEED, MAX_SPEED)

    sample_rate = data.get("sample_rate", DEFAULT_SAMPLE_RATE)
    if isinstance(sample_rate, bool) or sample_rate not in SAMPLE_RATES:
        rates = ", ".join(str(rate) for rate in SAMPLE_RATES)
        raise ClientError(
            ErrorCode.INVALID_REQUEST, f"sample_rate must be one of {rates}.", field="sample_rate"
        )

    output_format = data.get("output_format", "pcm")
    if output_format not in OUTPUT_FORMATS:
        raise ClientError(
            ErrorCode.INVALID_REQUEST,
            f"output_format must be one of {', '.join(OUTPUT_FORMATS)}.",
            field="output_format",
        )
    if _flag(data, "add_wav_header"):
        if output_format not in ("pcm", "wav"):
            raise ClientError(
                ErrorCode.INVALID_REQUEST,
                f"add_wav_header applies to pcm audio, not {output_format}; "
                "leave it out or ask for pcm.",
                field="add_wav_header",
            )
        output_format = "wav"

    context_id = _optional(data, "context_id", str, "a string")
    if context_id is not None and not REQUEST_ID.fullmatch(context_id):
        raise ClientError(
            ErrorCode.INVALID_REQUEST,
            "context_id must be 1 to 128 characters from A-Z, a-z, 0-9, '_', '.' and '-'.",
            field="context_id",
        )
    flush_after = _milliseconds(data, "max_buffer_flush_ms", 60_000, "0 (off) to 60000")
    delay = _milliseconds(data, "max_buffer_delay_ms", MAX_BUFFER_DELAY_MS, "0 to 5000")
    flush = _flag(data, "flush")
    if context_id is not None:
        # As Smallest does: a context is spoken on its own schedule (max_buffer_delay_ms).
        older = "flush" if flush else "max_buffer_flush_ms" if flush_after is not None else None
        if older is not None:
            raise ClientError(
                ErrorCode.INVALID_REQUEST,
                f"{older} does not go with context_id: a context speaks each sentence as it "
                "completes, the rest after max_buffer_delay_ms or when continue: false ends it.",
                field=older,
            )
    elif flush_after is not None and delay is not None:
        raise ClientError(
            ErrorCode.INVALID_REQUEST,
            "max_buffer_flush_ms and max_buffer_delay_ms are two names for one setting; "
            "send one of them.",
            field="max_buffer_delay_ms",
        )
    if delay is not None:
        buffer_delay: float | None = delay / 1000
    elif flush_after:  # 0 is off
        buffer_delay = flush_after / 1000
    else:
        buffer_delay = None

    return SynthesisRequest(
        # Characters that script.py reserves for its own encoding are not the client's to send.
        text=strip_markers(text),
        voice_id=voice_id or None,
        request_id=request_id,
        named=named,
        speed=speed,
        sample_rate=int(sample_rate),
        output_format=output_format,
        continue_stream=_flag(data, "continue"),
        flush=flush,
        buffer_delay=buffer_delay,
        language=_optional(data, "language", str, "a string"),
        word_timestamps=_flag(data, "word_timestamps"),
        context_id=context_id,
        context_close=_flag(data, "context_close"),
        ends=data.get("continue") is False,
        math_notation=_flag(data, "math_notation"),
        ignored=tuple(name[:MAX_IGNORED_NAME_CHARS] for name in ignored[:MAX_IGNORED_NAMED]),
    )


def _milliseconds(data: dict[str, Any], field: str, most: int, described: str) -> float | None:
    return number_in(data, field, 0, most, described)


def number_in(
    data: Mapping[str, Any], field: str, low: float, high: float, described: str = ""
) -> float | None:
    """`data[field]` as a number from `low` to `high`, None if absent, else ClientError
    naming the field."""
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClientError(ErrorCode.INVALID_REQUEST, f"{field} must be a number.", field=field)
    if not low <= value <= high:
        raise ClientError(
            ErrorCode.INVALID_REQUEST,
            f"{field} must be from {described or f'{low} to {high}'}, not {shown(value)}.",
            field=field,
        )
    return float(value)


def _typed(data: dict[str, Any], field: str, kind: type, description: str) -> Any:
    value = data[field]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ClientError(ErrorCode.INVALID_REQUEST, f"{field} must be {description}.", field=field)
    return value


def _optional(data: dict[str, Any], field: str, kind: type, description: str) -> Any:
    if data.get(field) is None:
        return None
    return _typed(data, field, kind, description)


def _flag(data: dict[str, Any], field: str) -> bool:
    if data.get(field) is None:
        return False
    return bool(_typed(data, field, bool, "true or false"))


# Server -> client messages.


def chunk_message(
    request_id: str, audio_b64: str, sequence: int, sample_rate: int, output_format: str
) -> dict[str, Any]:
    return {
        "status": "chunk",
        "request_id": request_id,
        "data": {
            "audio": audio_b64,
            "sequence": sequence,
            "sample_rate": sample_rate,
            "format": output_format,
        },
    }


def complete_message(
    request_id: str, audio_seconds: float, chunks: int, ignored_fields: Sequence[str] = ()
) -> dict[str, Any]:
    data: dict[str, Any] = {"audio_seconds": round(audio_seconds, 3), "chunks": chunks}
    if ignored_fields:
        data["ignored_fields"] = sorted(ignored_fields)
    return {
        "status": "complete",
        "request_id": request_id,
        "message": "All chunks sent",
        "done": True,
        "data": data,
    }


def word_timestamp_message(
    request_id: str, number: int, word: str, start: float, end: float
) -> dict[str, Any]:
    """One word and when it is heard, in seconds from the start of the request's audio."""
    return {
        "status": "word_timestamp",
        "request_id": request_id,
        "data": {"id": number, "word": word, "start": start, "end": end},
    }


def cancelled_message(request_id: str) -> dict[str, Any]:
    return {"status": "cancelled", "request_id": request_id}


def error_message(
    code: ErrorCode,
    message: str,
    request_id: str | None = None,
    retry_after: float | None = None,
    field: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"status": "error"}
    if request_id is not None:
        payload["request_id"] = request_id
    payload["code"] = str(code)
    payload["message"] = message
    if field is not None:
        payload["field"] = field
    if retry_after is not None:
        payload["retry_after"] = retry_after
    return payload


def client_error_message(error: ClientError) -> dict[str, Any]:
    """The error message that answers `error`."""
    return error_message(
        error.code, error.message, error.request_id, error.retry_after, error.field
    )
