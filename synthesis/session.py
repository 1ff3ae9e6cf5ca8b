"""A Session: one client's synthesis requests, from their text to their audio, in order.

It is fed the client's parsed messages (`take`) and the workers' replies (`on_worker`), and it
delivers events (events.py) through its Outlet. It knows nothing of the transport: the
WebSocket consumer drives one per socket. Per request it keeps a RequestStream (streams.py):
the text buffer, the chunks, the window of chunks at the workers, and the audio put back in
order. Recovery (recovery.py) watches for requests that stop making progress.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
from django.conf import settings

from access import guard
from protocol import ClientError, ErrorCode
from protocol.messages import MAX_IGNORED_NAMED, Cancel, ClientMessage, SynthesisRequest
from speech.engine import phoneme_checker
from speech.text.pieces import SpokenText, spoken_pieces
from speech.text.ssml import SSMLError
from voices.lookup import usable_voice

from . import metrics
from .admission import load
from .cancellation import mark_cancelled
from .draining import drain
from .encoding import RequestEncoder
from .events import Audio, Cancelled, Complete, Event, Failed, Outlet, Word
from .messages import WORKER_CHANNEL, SynthesizeJob, send_retrying, synthesize_job
from .recovery import Recovery
from .streams import ChunkLimits, RequestStream

logger = logging.getLogger(__name__)

INVALID = ErrorCode.INVALID_REQUEST
# How long a context's unfinished sentence waits for more text unless it says (seconds).
CONTEXT_BUFFER_DELAY = 3.0


class Session:
    """One client's requests, by request id (a socket may run several at once)."""

    def __init__(
        self, outlet: Outlet, layer: BaseChannelLayer, reply_channel: str, client: guard.Client
    ) -> None:
        self.outlet = outlet
        self.layer = layer
        self.reply_channel = reply_channel  # where the workers send this session's audio
        self.client = client
        self.requests: dict[str, RequestStream] = {}
        self.contexts: dict[str, RequestStream] = {}  # the requests that are contexts, by id
        self.recovery = Recovery(self)
        metrics.session_opened(self)

    @property
    def owes_audio(self) -> bool:
        """Whether a request waits for audio (an open text stream with no text does not)."""
        return any(stream.owes_audio for stream in self.requests.values())

    def current(self, stream: RequestStream) -> bool:
        """Whether `stream` is still the request under its id (not ended)."""
        return self.requests.get(stream.request_id) is stream

    # The client's messages.

    async def take(self, message: ClientMessage) -> None:
        """Act on one client message; a problem with it raises ClientError."""
        if isinstance(message, Cancel):
            stream = self.requests.get(message.request_id)
            if stream is None:
                raise ClientError(
                    INVALID,
                    f"There is no request {message.request_id!r} in progress.",
                    message.request_id,
                )
            await self.end(stream, Cancelled(message.request_id))
        elif isinstance(message, SynthesisRequest):
            if message.context_close:
                await self.close_context(message)
            elif message.keepalive:
                self.keep_words_apart(message)
            else:
                stream = self.open_stream_for(message)
                if stream is not None:
                    await self.add_text(stream, message, self.pieces(stream, message.text))
                else:
                    await self.start(message)

    def open_stream_for(self, request: SynthesisRequest) -> RequestStream | None:
        """The open text stream a message continues: its context, the request it names, or
        the one stream open outside contexts."""
        if request.context_id is not None:
            stream = self.contexts.get(request.context_id)
            if stream is None:
                return None
            if request.named and request.request_id != stream.request_id:
                raise ClientError(
                    INVALID,
                    f"Context {request.context_id!r} is request {stream.request_id!r}; its "
                    "messages carry that request_id or none.",
                    field="request_id",
                )
            if not stream.open:
                raise ClientError(
                    INVALID,
                    f"Context {request.context_id!r} was ended (continue: false) and is still "
                    "being spoken; wait for its complete, or use another context_id.",
                    stream.request_id,
                    field="context_id",
                )
            return stream
        if request.named:
            stream = self.requests.get(request.request_id)
            if stream is not None and stream.context_id is not None:
                raise ClientError(
                    INVALID,
                    f"Request {request.request_id!r} is context {stream.context_id!r}; "
                    "continue it with that context_id.",
                    field="context_id",
                )
            return stream if stream is not None and stream.open else None
        open_streams = [
            stream for stream in self.requests.values() if stream.open and stream.context_id is None
        ]
        if len(open_streams) > 1:
            raise ClientError(INVALID, "Several text streams are open; name one with request_id.")
        return open_streams[0] if open_streams else None

    def keep_words_apart(self, keepalive: SynthesisRequest) -> None:
        """Whitespace alone keeps the connection open and ends nothing; in the middle of an
        open stream's sentence it still parts the words on either side (an LLM's newlines)."""
        try:
            stream = self.open_stream_for(keepalive)
        except ClientError:
            return  # whitespace is never worth an error
        if stream is not None and stream.buffer and not stream.buffer[-1].isspace():
            # Two characters at most ("\n\n"): whitespace is free to send, buffer space is not.
            stream.buffer += keepalive.text[:2]

    async def close_context(self, request: SynthesisRequest) -> None:
        """`context_close: true`: the context ends at once, with no more audio."""
        if request.context_id is None:
            raise ClientError(
                INVALID, "context_close needs the context_id to close.", field="context_id"
            )
        stream = self.contexts.get(request.context_id)
        if stream is None:
            raise ClientError(
                INVALID,
                f"context_id {request.context_id!r} names no context in progress.",
                field="context_id",
            )
        await self.end(stream, Cancelled(stream.request_id))

    async def start(self, request: SynthesisRequest) -> None:
        """Check a new request against this session and its voice, then start dispatching."""
        if request.request_id in self.requests:
            message = f"Request {request.request_id!r} is still in progress."
            raise ClientError(INVALID, message, field="request_id")
        if drain.active:
            raise ClientError(
                ErrorCode.SERVER_BUSY,
                "This server is shutting down; send the request again on a new connection, which "
                "another server will take.",
            )
        if request.voice_id is None:
            raise ClientError(INVALID, "voice_id is required.", field="voice_id")
        if len(self.requests) >= settings.TTS_MAX_REQUESTS_PER_CONNECTION:
            raise ClientError(
                ErrorCode.TOO_MANY_CONCURRENT_REQUESTS,
                f"This connection already runs {len(self.requests)} requests, its limit; "
                "wait for one to complete.",
            )
        voice = await usable_voice(request.voice_id, request.language)
        stream = RequestStream(
            request_id=request.request_id,
            chunks=[],
            window=settings.TTS_CHUNKS_IN_FLIGHT,
            sample_rate=request.sample_rate,
            output_format=request.output_format,
            encoder=RequestEncoder(request.output_format, request.sample_rate),
        )
        stream.job = synthesize_job(stream.token, request, voice, self.reply_channel)
        spoken = self.pieces(stream, request.text)
        refusal = load.refusal(
            settings.TTS_ADMISSION_MAX_WAITING, settings.TTS_ADMISSION_MAX_LATE_SECONDS
        )
        if refusal is not None:
            raise ClientError(
                ErrorCode.SERVER_BUSY, refusal.message, retry_after=refusal.retry_after
            )
        await guard.start_request(self.client)
        self.requests[request.request_id] = stream
        if request.context_id is not None:
            stream.context_id = request.context_id
            stream.flush_after = CONTEXT_BUFFER_DELAY
            self.contexts[request.context_id] = stream
        await self.add_text(stream, request, spoken)

    def pieces(self, stream: RequestStream, text: str) -> SpokenText:
        """A message's text in pieces for the chunker; SSML that cannot be spoken, or breaks
        past TTS_MAX_REQUEST_PAUSE_SECONDS in all, raise ClientError."""
        assert stream.job is not None
        checker = phoneme_checker(stream.job["engine"], stream.job["config_path"])
        try:
            spoken = spoken_pieces(text, checker, after=stream.buffer)
        except SSMLError as error:
            raise ClientError(INVALID, str(error), field="text") from None
        # Each break is at most 10 s, but a message may hold hundreds: silence costs the
        # server little to make and the client a lot to receive.
        limit = settings.TTS_MAX_REQUEST_PAUSE_SECONDS
        total = stream.pause_seconds + spoken.pause_seconds
        if total > limit:
            raise ClientError(
                INVALID,
                f"This request's <break> pauses would add up to {total:g} s; a request may "
                f"pause for at most {limit:g} s in all.",
                field="text",
            )
        return spoken

    async def add_text(
        self, stream: RequestStream, request: SynthesisRequest, spoken: SpokenText
    ) -> None:
        """Chunk what of the request's text is ready to speak, and dispatch it."""
        stream.pause_seconds += spoken.pause_seconds
        stream.characters += len(request.text)
        for text, pause_after in spoken.pieces:
            speak_all = pause_after or request.flush or not request.continue_stream
            stream.add_text(text, speak_all=speak_all, limits=chunk_limits())
        # Only what still waits for its sentence to end is bounded here; a whole text is
        # bounded per message (TTS_MAX_TEXT_CHARS) when it is parsed.
        if len(stream.buffer) > settings.TTS_MAX_BUFFER_CHARS:
            message = (
                f"More than {settings.TTS_MAX_BUFFER_CHARS} characters are waiting for a "
                "sentence to end; send flush: true to speak them."
            )
            await self.fail(stream, ErrorCode.BUFFER_FULL, message)
            return
        stream.open = request.continue_stream
        if request.buffer_delay is not None:
            stream.flush_after = request.buffer_delay
        for name in request.ignored:
            if len(stream.ignored_fields) < MAX_IGNORED_NAMED:
                stream.ignored_fields.add(name)
        self.restart_flush_timer(stream)
        await self.dispatch(stream)

    def restart_flush_timer(self, stream: RequestStream) -> None:
        """Speak an unfinished sentence after `buffer_delay` seconds without new text."""
        if stream.flush_timer is not None:
            stream.flush_timer.cancel()
            stream.flush_timer = None
        if stream.open and stream.buffer and stream.flush_after is not None:
            stream.flush_timer = asyncio.get_running_loop().call_later(
                stream.flush_after, lambda: asyncio.ensure_future(self.flush(stream))
            )

    async def flush(self, stream: RequestStream) -> None:
        if self.current(stream):
            stream.add_text("", speak_all=True, limits=chunk_limits())
            await self.dispatch(stream)

    # To the workers.

    async def dispatch(self, stream: RequestStream) -> None:
        """Send the chunks the request's window allows to the workers; finish if none are left."""
        if stream.done:
            if stream.finishing:
                return  # another call is finishing it
            stream.finishing = True
            last = await Audio.last_of(stream)
            if not self.current(stream):
                return  # ended (cancelled, failed) while its encoder finished
            if last is not None:
                await self.outlet.deliver(last)
            ignored = tuple(sorted(stream.ignored_fields))
            complete = Complete(stream.request_id, stream.audio_seconds, stream.sequence, ignored)
            await self.end(stream, complete)
            return
        limit = settings.TTS_MAX_REQUEST_AUDIO_SECONDS
        if stream.audio_seconds >= limit:
            message = (
                f"This request reached {limit:g} s of audio, the most one request may make; "
                "send the rest as a new request."
            )
            await self.fail(stream, ErrorCode.TEXT_TOO_LONG, message)
            return
        if self.outlet.behind():
            return  # dispatched again when the client has read its audio (resume)
        for index, _text in stream.take_dispatchable(stream.audio_in_hand()):
            if not await self.send_chunk(stream, index, stream.due(index)):
                return
        if stream.owes_audio:
            self.recovery.restart_deadline(stream)
        elif stream.deadline is not None:
            stream.deadline.cancel()  # an open stream waiting for text has no deadline
        self.outlet.changed()

    async def resume(self) -> None:
        """The client has read its backlog: dispatch what was held back."""
        for stream in list(self.requests.values()):
            if self.current(stream):
                await self.dispatch(stream)

    async def send_chunk(self, stream: RequestStream, index: int, due: float) -> bool:
        """Hand chunk `index` to the workers; if that fails, end the request with why (False)."""
        assert stream.job is not None
        job: SynthesizeJob = {
            **stream.job,
            "index": index,
            "text": stream.chunks[index],
            "due": due,
        }
        try:
            sent = await send_retrying(
                self.layer, WORKER_CHANNEL, job, lambda: self.current(stream)
            )
        except ChannelFull:
            problem = "The server has too much to synthesize right now; try again shortly."
        except Exception:
            # The channel layer itself failed (Redis is unreachable, ...): this request cannot
            # go on, but the session and the process can.
            logger.exception(
                "Could not send a chunk of request %s to the workers", job["request_id"]
            )
            problem = "The synthesis workers cannot be reached right now; try again shortly."
        else:
            if sent and self.current(stream):  # not ended while the send awaited
                load.dispatched(stream.token, index, due)
                stream.queued.setdefault(index, (time.time(), due))
                if settings.REDIS_URL:  # workers in other processes, which may die
                    self.recovery.watch_workers()
            return sent
        await self.fail(stream, ErrorCode.SERVER_BUSY, problem)
        return False

    # The workers' replies.

    async def on_worker(self, event: Any) -> None:
        """A worker's reply (messages.py); replies for an ended run of a request are dropped."""
        stream = self.requests.get(event["request_id"])
        if stream is None or stream.token != event["stream"]:
            return
        kind = event["type"]
        stream.heard.add(event["index"])
        if kind == "tts.audio":
            await self.on_audio(stream, event)
        elif kind == "tts.started":
            stream.begun.add(event["index"])
        elif kind == "tts.taken":
            self.recovery.taken(stream, event["index"], event["worker"])
        elif kind == "tts.failed":
            await self.fail(stream, ErrorCode.SYNTHESIS_FAILED, event["message"])

    async def on_audio(self, stream: RequestStream, event: Any) -> None:
        """A part of a chunk's audio: deliver what is now in order."""
        load.arrived(stream.token, event["index"])
        dry_before = stream.run_dries
        deliveries = stream.add_part(
            event["index"], event["part"], event["last"], event["audio"], event.get("words", [])
        )
        if stream.run_dries > dry_before and stream.job is not None:
            metrics.RUN_DRY.labels(stream.job["voice_id"]).inc(stream.run_dries - dry_before)
        stream.delivering += 1
        try:
            for delivery in deliveries:
                audio = await Audio.next_of(stream, delivery.audio) if delivery.audio else None
                if not self.current(stream):
                    return  # it ended while its audio was being encoded: nothing more goes
                if audio is not None:
                    await self.outlet.deliver(audio)
                for word in delivery.words:
                    number, stream.words_sent = stream.words_sent, stream.words_sent + 1
                    await self.outlet.deliver(
                        Word(stream.request_id, number, word["word"], word["start"], word["end"])
                    )
        finally:
            stream.delivering -= 1
        await self.dispatch(stream)

    # Endings.

    async def fail(self, stream: RequestStream, code: ErrorCode, message: str) -> None:
        await self.end(stream, Failed(ClientError(code, message, stream.request_id)))

    async def fail_waiting(self, code: ErrorCode, message: str) -> None:
        """End every request that waits for the workers (their answers cannot arrive)."""
        for stream in list(self.requests.values()):
            if stream.owes_audio:
                await self.fail(stream, code, message)

    async def abort(self, request_id: str | None) -> None:
        """Something beneath failed while handling a message (the database, Redis, a bug):
        its request ends with server_busy, and the other requests carry on."""
        error = ClientError(
            ErrorCode.SERVER_BUSY,
            "The server could not handle this message just now; try again shortly.",
            request_id,
        )
        stream = self.requests.get(request_id) if request_id else None
        if stream is not None:
            await self.end(stream, Failed(error))
        else:
            await self.outlet.deliver(Failed(error))

    async def end(self, stream: RequestStream, event: Event) -> None:
        """Deliver the request's last event and forget it."""
        await self.forget(stream)
        self.log_request(stream, event)  # before the client hears that it is over
        await self.outlet.deliver(event)
        self.outlet.changed()

    def log_request(self, stream: RequestStream, event: Event) -> None:
        """One line per request: who (the key's prefix, never the key), which voice, how much
        text and audio, how soon, and how it ended. Never the text itself."""
        first_audio = stream.first_audio_after
        voice = stream.job["voice_id"] if stream.job else None
        outcome = event.error.code if isinstance(event, Failed) else type(event).__name__.lower()
        metrics.request_ended(outcome, voice, first_audio, stream.audio_seconds)
        fields = {
            "event": "request",
            "request_id": stream.request_id,
            "key": self.client_label(),
            "voice": voice,
            "characters": stream.characters,
            "chunks": stream.sequence,
            "audio_seconds": round(stream.audio_seconds, 3),
            "ttfa_ms": None if first_audio is None else round(first_audio * 1000),
            "run_dries": stream.run_dries,
            "duration_ms": round((time.monotonic() - stream.started) * 1000),
            "outcome": outcome,
        }
        logger.info(
            "Request %s %s: key %s, voice %s, %d characters, %d chunks, %.2f s of audio, "
            "first audio after %s, %d ms in all, %d run-dries",
            fields["request_id"],
            outcome,
            fields["key"],
            voice or "-",
            fields["characters"],
            fields["chunks"],
            stream.audio_seconds,
            "-" if fields["ttfa_ms"] is None else f"{fields['ttfa_ms']} ms",
            fields["duration_ms"],
            stream.run_dries,
            extra={"fields": fields},
        )

    def client_label(self) -> str:
        """Who the client is, safe to log: its key's prefix, "page" for a staff user's demo
        page, "-" when keys are off."""
        if self.client.key is not None:
            return str(self.client.key.prefix)
        return "page" if self.client.staff_user_id is not None else "-"

    async def forget(self, stream: RequestStream) -> None:
        """Drop a request: its timers stop, its chunks at the workers are cancelled, and what
        it used counts against the client's key."""
        if self.requests.get(stream.request_id) is stream:
            del self.requests[stream.request_id]
        if stream.context_id is not None and self.contexts.get(stream.context_id) is stream:
            del self.contexts[stream.context_id]
        load.forget(stream.token)
        stream.cancel_timers()
        stream.encoder.close()
        if stream.in_flight:
            await mark_cancelled(stream.token)
        guard.record_usage_soon(self.client, stream.characters, stream.audio_seconds)

    async def close(self) -> None:
        """The client is gone: forget every request."""
        self.recovery.stop()
        for stream in list(self.requests.values()):
            await self.forget(stream)


def chunk_limits() -> ChunkLimits:
    """The chunk sizes the settings ask for (read per request, so tests can change them)."""
    return ChunkLimits(
        first=settings.TTS_FIRST_CHUNK_MAX_CHARS,
        second=settings.TTS_SECOND_CHUNK_MAX_CHARS,
        rest=settings.TTS_CHUNK_MAX_CHARS,
    )
