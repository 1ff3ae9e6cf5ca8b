"""The HTTP API: OpenAI's `/v1/audio/speech` and Smallest's `/waves/v1/tts` (docs/http.md).

Every view speaks through HttpSpeech (http_session.py), the WebSocket's own request path: the
same keys, limits, voices, workers and usage records. The response's status and headers wait
for the request's first audio, so an error found before it (a busy server, a voice that fails)
still gets its status; after it, the audio streams as it is made.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from protocol import ClientError, ErrorCode
from protocol.messages import MAX_SPEED, MIN_SPEED, client_error_message, number_in, shown
from speech.engine.codecs import CONTENT_TYPES
from ttsproject.database import in_database_thread
from voices.models import Voice

from .events import Audio, Complete, Event, Failed
from .http_session import HttpSpeech

logger = logging.getLogger(__name__)

STATUS = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.BUFFER_FULL: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.ORIGIN_NOT_ALLOWED: 403,
    ErrorCode.VOICE_NOT_FOUND: 404,
    ErrorCode.TEXT_TOO_LONG: 413,
    ErrorCode.MESSAGE_TOO_LARGE: 413,
    ErrorCode.TOO_MANY_REQUESTS: 429,
    ErrorCode.TOO_MANY_CONCURRENT_REQUESTS: 429,
    ErrorCode.TOO_MANY_CONNECTIONS: 429,
    ErrorCode.SERVER_BUSY: 503,
    ErrorCode.SYNTHESIS_FAILED: 500,
}

# OpenAI's names for the fields this server calls otherwise.
OPENAI_PARAMS = {"text": "input", "voice_id": "voice", "output_format": "response_format"}
OPENAI_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
OPENAI_SAMPLE_RATE = 24000  # OpenAI's pcm and wav are 24 kHz
OPENAI_SPEEDS = (0.25, 4.0)
SSE = "text/event-stream"


class UnsupportedMediaType(ClientError):
    """The body is not JSON by its Content-Type (HTTP's own status for it: 415)."""


def status_of(error: ClientError) -> int:
    if isinstance(error, UnsupportedMediaType):
        return 415
    return STATUS.get(error.code, 400)


def retry_headers(error: ClientError) -> dict[str, str]:
    if error.retry_after is None:
        return {}
    return {"Retry-After": str(max(1, round(error.retry_after)))}


# OpenAI ------------------------------------------------------------------------------------


def openai_error(error: ClientError) -> JsonResponse:
    body = {"error": openai_error_body(error)}
    return JsonResponse(body, status=status_of(error), headers=retry_headers(error))


def openai_error_body(error: ClientError) -> dict[str, Any]:
    """The `error` object of OpenAI's error shape (in a response, or an SSE event)."""
    kind = {
        401: "authentication_error",
        429: "rate_limit_error",
        500: "server_error",
        503: "server_error",
    }.get(status_of(error), "invalid_request_error")
    param = OPENAI_PARAMS.get(error.field or "", error.field)
    return {"message": error.message, "type": kind, "param": param, "code": error.code}


def openai_fields(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """OpenAI's request as the WebSocket message it is, and headers that say what was changed."""
    if "input" not in body:
        raise ClientError(ErrorCode.INVALID_REQUEST, "input is required.", field="text")
    voice = body.get("voice")
    if isinstance(voice, dict):  # a custom voice: {"id": "..."}
        voice = voice.get("id")
    if voice is None:
        raise ClientError(ErrorCode.INVALID_REQUEST, "voice is required.", field="voice_id")
    response_format = body.get("response_format") or "mp3"
    if response_format not in OPENAI_FORMATS:
        raise ClientError(
            ErrorCode.INVALID_REQUEST,
            f"response_format must be one of {', '.join(OPENAI_FORMATS)}, "
            f"not {shown(response_format)}.",
            field="output_format",
        )
    stream_format = body.get("stream_format") or "audio"
    if stream_format not in ("audio", "sse"):
        raise ClientError(
            ErrorCode.INVALID_REQUEST,
            f"stream_format must be audio or sse, not {shown(stream_format)}.",
            field="stream_format",
        )
    fields: dict[str, Any] = {
        "text": body["input"],
        "voice_id": voice,
        "output_format": response_format,
        "sample_rate": OPENAI_SAMPLE_RATE,
    }
    headers = {}
    speed = number_in(body, "speed", *OPENAI_SPEEDS)
    if speed is not None:
        fields["speed"] = min(max(speed, MIN_SPEED), MAX_SPEED)
        if fields["speed"] != speed:
            headers["X-Speed-Clamped"] = f"{speed:g} -> {fields['speed']:g}"
    return fields, headers


@csrf_exempt
async def openai_speech(request: HttpRequest) -> HttpResponseBase:
    """`POST /v1/audio/speech`: OpenAI's text to speech, streamed as it is synthesized."""
    started = await start(request, openai_error, openai_fields)
    if isinstance(started, JsonResponse):
        return started
    speech, first = started.speech, started.first
    if started.body.get("stream_format") == "sse":
        return streamed(openai_events(first, speech), SSE, started.headers)
    return streamed(audio_of(first, speech), CONTENT_TYPES[speech.output_format], started.headers)


async def audio_of(first: Event, speech: HttpSpeech) -> AsyncIterator[bytes]:
    """The audio bytes of the request's events, `first` and the rest."""
    async for event in rest_of(first, speech):
        if isinstance(event, Audio):
            yield event.audio
        elif isinstance(event, Failed):
            # The status is sent; all a body can do is stop short, and the log says why.
            logger.warning("An HTTP response was cut short: %s", event.error.message)
            return


async def openai_events(first: Event, speech: HttpSpeech) -> AsyncIterator[bytes]:
    """OpenAI's server-sent events: speech.audio.delta per piece, then speech.audio.done."""
    async for event in rest_of(first, speech):
        if isinstance(event, Audio):
            audio = base64.b64encode(event.audio).decode("ascii")
            yield sse({"type": "speech.audio.delta", "audio": audio})
        elif isinstance(event, Complete):
            yield sse({"type": "speech.audio.done", "usage": usage(speech)})
        elif isinstance(event, Failed):
            yield sse({"type": "error", "error": openai_error_body(event.error)})


def usage(speech: HttpSpeech) -> dict[str, int]:
    """OpenAI reports tokens; the closest here is the characters in (nothing counts tokens
    out)."""
    characters = speech.characters
    return {"input_tokens": characters, "output_tokens": 0, "total_tokens": characters}


async def first_event(speech: HttpSpeech, fields: dict[str, Any]) -> Event:
    """Start the request and wait for its first event; an error before any audio is raised
    (ClientError), and in every case but a start the request is closed."""
    try:
        await speech.start(fields)
        first = await speech.next_event()
    except BaseException:  # a refusal, or the client gone (the view is cancelled)
        await speech.close()
        raise
    if isinstance(first, Failed):
        await speech.close()
        raise first.error
    return first


async def rest_of(first: Event, speech: HttpSpeech) -> AsyncIterator[Event]:
    """`first` and the events after it; the request is closed however the response ends
    (written out, or its client gone)."""
    try:
        yield first
        if not first.final:
            async for event in speech.events():
                yield event
    finally:
        await speech.close()


def sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


async def openai_models(request: HttpRequest) -> JsonResponse:
    """`GET /v1/models`: what `model` may say (any value is accepted; these are listed)."""
    models = [
        {"id": name, "object": "model", "created": 0, "owned_by": "tts-server"}
        for name in ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
    ]
    return JsonResponse({"object": "list", "data": models})


async def openai_voices(request: HttpRequest) -> JsonResponse:
    """`GET /v1/audio/voices`: the voices a request may name, with their aliases."""
    voices = await in_database_thread(_enabled_voices)
    data = [
        {
            "id": voice.voice_id,
            "object": "voice",
            "name": voice.name,
            "language": voice.language,
            "aliases": voice.alias_list(),
        }
        for voice in voices
    ]
    return JsonResponse({"object": "list", "data": data})


def _enabled_voices() -> list[Voice]:
    return list(Voice.objects.filter(enabled=True).order_by("voice_id"))


# Smallest -----------------------------------------------------------------------------------


def smallest_error(error: ClientError) -> JsonResponse:
    return JsonResponse(
        client_error_message(error), status=status_of(error), headers=retry_headers(error)
    )


def smallest_fields(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Smallest's body is a WebSocket message already."""
    return body, {}


@csrf_exempt
async def waves_tts(request: HttpRequest) -> HttpResponseBase:
    """`POST /waves/v1/tts`: a WebSocket message's fields in, the audio as the body."""
    started = await start(request, smallest_error, smallest_fields)
    if isinstance(started, JsonResponse):
        return started
    speech = started.speech
    return streamed(audio_of(started.first, speech), CONTENT_TYPES[speech.output_format])


@csrf_exempt
async def waves_tts_live(request: HttpRequest) -> HttpResponseBase:
    """`POST /waves/v1/tts/live`: the same, each chunk a server-sent event in the WebSocket's
    `chunk` shape, then `complete` (or `error`)."""
    started = await start(request, smallest_error, smallest_fields)
    if isinstance(started, JsonResponse):
        return started
    return streamed(socket_messages(started.first, started.speech), SSE)


async def socket_messages(first: Event, speech: HttpSpeech) -> AsyncIterator[bytes]:
    """Each event as the WebSocket message it would be, in a server-sent event."""
    async for event in rest_of(first, speech):
        yield sse(event.message())


# Both --------------------------------------------------------------------------------------


@dataclass
class Started:
    """A request under way, with its first event, its body and the headers its answer adds."""

    speech: HttpSpeech
    first: Event
    body: dict[str, Any]
    headers: dict[str, str]


async def start(
    request: HttpRequest,
    answer: Callable[[ClientError], JsonResponse],
    fields_of: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str]]],
) -> Started | JsonResponse:
    """Check the key, then the body (`fields_of` makes it a WebSocket message's fields and
    the headers that say what was changed), start speaking and wait for the first event; or
    the error, as `answer` shapes it, with its status."""
    if request.method != "POST":
        return not_post(answer)
    try:
        speech = await HttpSpeech.admit(scope_of(request))
    except ClientError as error:
        return answer(error)
    try:
        body = json_body(request)
        fields, headers = fields_of(body)
        first = await first_event(speech, fields)
    except ClientError as error:
        await speech.close()
        return answer(error)
    return Started(speech, first, body, headers)


def streamed(
    content: AsyncIterator[bytes], content_type: str, headers: dict[str, str] | None = None
) -> StreamingHttpResponse:
    """The response that streams `content` as it comes, never cached."""
    return StreamingHttpResponse(
        content, content_type=content_type, headers={**(headers or {}), "Cache-Control": "no-store"}
    )


def not_post(answer: Callable[[ClientError], JsonResponse]) -> JsonResponse:
    """405, with the endpoint's own error shape: these endpoints take POST only."""
    response = answer(ClientError(ErrorCode.INVALID_REQUEST, "Send the request with POST."))
    response.status_code = 405
    response["Allow"] = "POST"
    return response


def scope_of(request: HttpRequest) -> dict[str, Any]:
    """The ASGI scope of the request: its headers carry the key, as a socket's do."""
    scope: dict[str, Any] = getattr(request, "scope", {})
    return scope


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or ClientError saying what is wrong with the body."""
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise UnsupportedMediaType(
            ErrorCode.INVALID_REQUEST,
            f"Send the request as JSON, with Content-Type: application/json, not "
            f"{shown(content_type or 'none')}.",
        )
    if len(request.body) > settings.TTS_MAX_MESSAGE_BYTES:
        raise ClientError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"A request body may be at most {settings.TTS_MAX_MESSAGE_BYTES} bytes.",
        )
    try:
        body = json.loads(request.body)
    except ValueError as error:
        raise ClientError(ErrorCode.INVALID_JSON, f"The body is not valid JSON: {error}.") from None
    except RecursionError:
        raise ClientError(ErrorCode.INVALID_JSON, "The body nests JSON too deeply.") from None
    if not isinstance(body, dict):
        raise ClientError(ErrorCode.INVALID_REQUEST, "The body must be a JSON object.")
    return body
