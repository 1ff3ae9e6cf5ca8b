"""TTSConsumer: the WebSocket end of the protocol (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import ChannelFull, StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings

from access import guard
from speech.engine import PhonemeChecker, encode, phoneme_checker, streaming_wav_header
from speech.languages import language_matches
from speech.text.script import Pause
from speech.text.script import encode as encode_script
from speech.text.ssml import SSMLError, is_ssml, parse_ssml
from voices.lookup import aget_voice_settings

from . import draining, protocol
from .admission import load
from .backlog import backlog_reader
from .cancellation import mark_cancelled
from .embedded import LAYER_RETRY_FIRST, LAYER_RETRY_MAX, ensure_embedded_workers
from .heartbeat import workers_alive
from .messages import (
    WORKER_CHANNEL,
    AudioPart,
    SynthesisFailed,
    SynthesisStarted,
    SynthesisTaken,
    SynthesizeJob,
    send_retrying,
    synthesize_job,
)
from .protocol import Cancel, ClientError, SynthesisRequest
from .streams import ChunkLimits, RequestStream

logger = logging.getLogger(__name__)


def chunk_limits() -> ChunkLimits:
    """The chunk sizes the settings ask for (read per request, so tests can change them)."""
    return ChunkLimits(
        first=settings.TTS_FIRST_CHUNK_MAX_CHARS,
        second=settings.TTS_SECOND_CHUNK_MAX_CHARS,
        rest=settings.TTS_CHUNK_MAX_CHARS,
    )


CLOSE_GOING_AWAY = draining.GOING_AWAY
CLOSE_BAD_PARAMETERS = 4400
CLOSE_IDLE = 4408
CLOSE_INTERNAL_ERROR = 1011

# How often a client that is behind on reading is looked at again.
BACKLOG_RECHECK_SECONDS = 0.1


# Speech runs at about 15 characters a second; at twice the natural speed, 30. Chunks ahead of
# one being dispatched count at most this long, so a due time is never later than the need.
SECONDS_PER_CHAR_AT_LEAST = 1 / 30


def audio_in_hand(stream: RequestStream) -> float:
    """Seconds of audio the client has been sent and not played yet (0 before the first)."""
    if stream.first_audio_after is None:
        return 0.0
    playing_since = stream.started + stream.first_audio_after
    return max(0.0, stream.audio_seconds - (time.monotonic() - playing_since))


@dataclass
class SpokenText:
    """A message's text as the chunker takes it: pieces, each marked if a pause ends it, and
    how many seconds of pauses (SSML breaks) it asks for."""

    pieces: list[tuple[str, bool]]
    pause_seconds: float = 0.0


def spoken_pieces(text: str, unknown_phonemes: PhonemeChecker, after: str) -> SpokenText:
    """A message's text as the chunker takes it, in pieces, each marked if a pause ends it.

    Plain text is one piece. An SSML document becomes script items (speech/text/script.py),
    cut after each pause: what comes before a pause is ready to be spoken, so that the pause
    ends a chunk and stands exactly where it was put. A document's text is set apart by a space
    from the text it follows (`after`), as a new sentence or phrase.
    Raises ClientError (invalid_request) for SSML that cannot be spoken, naming the problem.
    """
    if not is_ssml(text):
        return SpokenText([(text, False)])
    try:
        items = parse_ssml(text, unknown_phonemes)
    except SSMLError as error:
        raise ClientError("invalid_request", str(error)) from None
    pieces: list[tuple[str, bool]] = []
    pause_seconds = 0.0
    start = 0
    for end, item in enumerate(items, start=1):
        if isinstance(item, Pause):
            pause_seconds += item.seconds
            if end < len(items) and isinstance(items[end], Pause):
                continue  # pauses in a row add up, in one piece: no chunks of silence alone
            pieces.append((encode_script(items[start:end]), True))
            start = end
    if start < len(items):
        pieces.append((encode_script(items[start:]), False))
    if pieces and after and not after[-1].isspace():
        pieces[0] = (" " + pieces[0][0], pieces[0][1])
    return SpokenText(pieces or [("", False)], pause_seconds)


def check_pauses(spoken: SpokenText, used: float) -> None:
    """Refuse text whose breaks would take a request's pauses past TTS_MAX_REQUEST_PAUSE_SECONDS.

    Each break is at most 10 s, but a message may hold hundreds of them: silence costs the
    server little to make and the client a lot to receive.
    """
    limit = settings.TTS_MAX_REQUEST_PAUSE_SECONDS
    if used + spoken.pause_seconds > limit:
        raise ClientError(
            "invalid_request",
            f"This request's <break> pauses would add up to {used + spoken.pause_seconds:g} s; "
            f"a request may pause for at most {limit:g} s in all.",
        )


def due(stream: RequestStream, index: int) -> float:
    """When the client will need chunk `index`'s audio (wall clock, for the workers' order).

    The first chunk is needed at once. After it, the client plays what it was sent; what it has
    not played yet, and the chunks before `index` not delivered yet, are how long it may take.
    """
    if stream.first_audio_after is None:
        return time.time()
    ahead = sum(len(text) for text in stream.chunks[stream.next_deliver : index])
    return time.time() + audio_in_hand(stream) + ahead * SECONDS_PER_CHAR_AT_LEAST


class TTSConsumer(AsyncWebsocketConsumer):
    """Takes synthesis requests from one socket and streams their audio back in order."""

    streams: dict[str, RequestStream]
    timeout: int
    client: guard.Client | None = None
    idle_timer: asyncio.TimerHandle | None = None
    layer_down = False
    # Bytes sent to the client that this process still holds (backlog.py); None if unknown.
    unsent: Callable[[], int] | None = None
    # While the client is behind: since when, and the timer that looks again.
    behind_since: float | None = None  # or since it last read anything
    backlog_seen = 0  # the backlog when last looked at
    backlog_timer: asyncio.TimerHandle | None = None
    # Looks, while other processes' workers hold this socket's chunks, whether they still live.
    workers_timer: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """As AsyncConsumer.__call__, but a channel layer that fails does not end the socket.

        With Redis down, reading this consumer's channel raises; channels would let that kill
        the connection. Instead, the requests waiting for workers end with an error the client
        can act on, and reading resumes when Redis is back.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = self.receive_from_layer
        self.base_send = send
        self.unsent = backlog_reader(send)
        with contextlib.suppress(StopConsumer):  # the clean way out
            await await_many_dispatch([receive, self.channel_receive], self.dispatch)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As AsyncConsumer.dispatch, without closing old database connections first.

        channels does that on the one thread the process shares for sync work, before every
        message, so it waited behind any query waiting for a lock there: a locked database
        froze every stream. This consumer makes no query on that thread
        (ttsproject/database.py), so it has no connection there to clean up.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']!r}")
        await handler(message)

    async def receive_from_layer(self) -> dict[str, Any]:
        """The next message for this consumer from the channel layer, riding out outages."""
        pause = LAYER_RETRY_FIRST
        while True:
            try:
                message: dict[str, Any] = await self.channel_layer.receive(self.channel_name)
            except Exception as error:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Being stopped (the socket closed): channels-redis may turn the
                    # cancellation into a connection error, which must not look like an outage.
                    raise asyncio.CancelledError from error
                if not self.layer_down:
                    self.layer_down = True
                    logger.warning("Channel layer unavailable (%s); retrying", error)
                await self.fail_requests_in_flight()
                await asyncio.sleep(pause)
                pause = min(pause * 2, LAYER_RETRY_MAX)
                continue
            if self.layer_down:
                self.layer_down = False
                logger.info("Channel layer available again")
            return message

    async def fail_requests_in_flight(self) -> None:
        """End every request that waits for the workers: their answers cannot reach us."""
        for stream in list(self.streams.values()):
            if stream.owes_audio:
                await self.end_request(
                    stream,
                    protocol.error_message(
                        "server_busy",
                        "The connection to the synthesis workers was lost; try again shortly.",
                        stream.request_id,
                    ),
                )

    async def connect(self) -> None:
        """Called when a client opens the socket: check the parameters, start the idle clock."""
        self.streams = {}
        self.timeout = settings.TTS_TIMEOUT_DEFAULT
        ensure_embedded_workers()
        await self.accept()
        if draining.draining:
            await self.close(code=CLOSE_GOING_AWAY)
            return
        draining.connected(self)
        if not await self.admit():
            return
        try:
            self.timeout = protocol.parse_timeout(
                self.scope.get("query_string", b""),
                settings.TTS_TIMEOUT_DEFAULT,
                settings.TTS_TIMEOUT_MIN,
                settings.TTS_TIMEOUT_MAX,
            )
        except ClientError as error:
            await self.send_error(error)
            await self.close(code=CLOSE_BAD_PARAMETERS)
            return
        self.restart_idle_clock()

    async def admit(self) -> bool:
        """Check the client's key (access/guard.py); a refused client is told why and closed."""
        try:
            self.client = await guard.admit(self.scope, self.channel_name, self.key_revoked)
        except guard.Refused as refusal:
            await self.send_error(ClientError(refusal.code, refusal.message))
            await self.close(code=refusal.close_code)
            return False
        except Exception:
            logger.exception("Could not check a connection's API key")
            await self.send_json(
                protocol.error_message(
                    "server_busy", "The server cannot check API keys right now; try again shortly."
                )
            )
            await self.close(code=CLOSE_INTERNAL_ERROR)
            return False
        if self.client.group is not None:
            try:
                await self.channel_layer.group_add(self.client.group, self.channel_name)
            except Exception as error:  # revocation then reaches it on its next refresh
                logger.warning("Could not join the key's group: %s", error)
        return True

    async def access_revoked(self, event: dict[str, Any]) -> None:
        """Called when this connection's API key is revoked or deleted."""
        await self.key_revoked()

    async def key_revoked(self) -> None:
        """The layer's message and the connection's own refresh may both say so: close once."""
        if self.client is None or self.client.revoked:
            return
        self.client.revoked = True
        await self.send_error(
            ClientError("unauthorized", "This connection's API key has been revoked.")
        )
        await self.close(code=guard.CLOSE_UNAUTHORIZED)

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes: stop the clocks and forget the requests."""
        draining.disconnected(self)
        for timer in (self.idle_timer, self.backlog_timer, self.workers_timer):
            if timer is not None:
                timer.cancel()
        for stream in self.streams.values():
            load.forget(stream.token)
            stream.cancel_timers()
            if stream.in_flight:
                await mark_cancelled(stream.token)
            if self.client is not None:  # what a client hung up on was still used
                guard.record_usage_soon(self.client, stream.characters, stream.audio_seconds)
        self.streams = {}
        if self.client is not None:
            if self.client.group is not None:
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(self.client.group, self.channel_name)
            await guard.release(self.client)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called with each client frame; every frame, even a bad one, restarts the idle clock."""
        message = None
        try:
            if self.client is None or self.client.revoked:
                return  # refused at connect, or its key revoked: the socket is closing
            size = len(text_data.encode("utf-8") if text_data is not None else bytes_data or b"")
            if size > settings.TTS_MAX_MESSAGE_BYTES:
                raise ClientError(
                    "message_too_large",
                    f"A message may be at most {settings.TTS_MAX_MESSAGE_BYTES} bytes; "
                    f"this one is {size}. Send long text in several messages.",
                )
            if text_data is None:
                raise ClientError("invalid_json", "Binary frames are not accepted; send JSON text.")
            message = protocol.parse_message(text_data, settings.TTS_MAX_TEXT_CHARS)
            if isinstance(message, SynthesisRequest):
                await self.take_text(message)
            elif isinstance(message, Cancel):
                await self.cancel_request(message.request_id)
        except ClientError as error:
            if error.request_id is None and isinstance(message, SynthesisRequest):
                error.request_id = message.request_id
            await self.send_error(error)
        except Exception:
            # Something beneath us failed (the database, Redis, a bug): this message's request
            # ends with an error, and the socket and its other requests carry on.
            logger.exception("Could not handle a message")
            request_id = getattr(message, "request_id", None)
            stream = self.streams.get(request_id) if request_id else None
            error_message = protocol.error_message(
                "server_busy",
                "The server could not handle this message just now; try again shortly.",
                request_id,
            )
            if stream is not None:
                await self.end_request(stream, error_message)
            else:
                await self.send_json(error_message)
        self.restart_idle_clock()

    async def take_text(self, request: SynthesisRequest) -> None:
        """Text for a stream that is open, or the start of a new request."""
        stream = self.open_stream_for(request)
        if stream is not None:
            await self.add_text(stream, request)
        elif not request.blank or request.flush:
            await self.start_request(request)
        # else: whitespace alone only keeps the connection open

    def open_stream_for(self, request: SynthesisRequest) -> RequestStream | None:
        """The open text stream a message continues: the one it names, or the only one."""
        if request.named:
            stream = self.streams.get(request.request_id)
            return stream if stream is not None and stream.open else None
        open_streams = [stream for stream in self.streams.values() if stream.open]
        if len(open_streams) > 1:
            raise ClientError(
                "invalid_request", "Several text streams are open; name one with request_id."
            )
        return open_streams[0] if open_streams else None

    async def start_request(self, request: SynthesisRequest) -> None:
        """Check a synthesis request against this socket and its voice, then start dispatching."""
        if request.request_id in self.streams:
            raise ClientError(
                "invalid_request", f"Request {request.request_id!r} is still in progress."
            )
        if draining.draining:
            raise ClientError(
                "server_busy", "This server is shutting down; reconnect to continue elsewhere."
            )
        if request.voice_id is None:
            raise ClientError("invalid_request", "voice_id is required.")
        if len(self.streams) >= settings.TTS_MAX_REQUESTS_PER_CONNECTION:
            raise ClientError(
                "too_many_concurrent_requests",
                f"This connection already runs {len(self.streams)} requests, its limit; "
                "wait for one to complete.",
            )
        voice = await aget_voice_settings(request.voice_id)
        if voice is None:
            raise ClientError(
                "voice_not_found",
                f"There is no voice {protocol.shown(request.voice_id)}; GET /api/voices/ lists "
                "the voices.",
            )
        if voice.problem is not None:
            # The code clients already handle for a voice they cannot use; the message says why.
            raise ClientError(
                "voice_not_found",
                f"Voice {voice.voice_id!r} exists but is unavailable: {voice.problem.public}. "
                "An operator must restore or re-import it; GET /api/voices/ lists the voices "
                "that can be used.",
            )
        if request.language and not language_matches(request.language, voice.language):
            raise ClientError(
                "invalid_request",
                f"language {protocol.shown(request.language)} does not match voice "
                f"{voice.voice_id!r} ({voice.language}).",
            )
        spoken = spoken_pieces(request.text, phoneme_checker(voice.engine, voice.config_path), "")
        check_pauses(spoken, 0.0)
        refusal = load.refusal(
            settings.TTS_ADMISSION_MAX_WAITING, settings.TTS_ADMISSION_MAX_LATE_SECONDS
        )
        if refusal is not None:
            raise ClientError("server_busy", refusal.message, retry_after=refusal.retry_after)
        assert self.client is not None
        try:
            await guard.start_request(self.client)
        except guard.Limited as limited:
            raise ClientError(limited.code, limited.message) from None
        stream = RequestStream(
            request_id=request.request_id,
            chunks=[],
            window=settings.TTS_CHUNKS_IN_FLIGHT,
            sample_rate=request.sample_rate,
            output_format=request.output_format,
        )
        stream.job = synthesize_job(stream.token, request, voice, reply_channel=self.channel_name)
        self.streams[request.request_id] = stream
        await self.add_text(stream, request, spoken)

    async def add_text(
        self, stream: RequestStream, request: SynthesisRequest, spoken: SpokenText | None = None
    ) -> None:
        """Chunk what of the request's text is ready to speak, and dispatch it.

        `spoken` is the text as spoken_pieces cut it, if the caller has already done so.
        """
        if spoken is None:
            assert stream.job is not None
            checker = phoneme_checker(stream.job["engine"], stream.job["config_path"])
            spoken = spoken_pieces(request.text, checker, after=stream.buffer)
            check_pauses(spoken, stream.pause_seconds)
        stream.pause_seconds += spoken.pause_seconds
        stream.characters += len(request.text)
        for text, pause_after in spoken.pieces:
            stream.add_text(
                text,
                speak_all=pause_after or request.flush or not request.continue_stream,
                limits=chunk_limits(),
            )
        # Only what still waits for its sentence to end is bounded here; a whole text is
        # bounded per message (TTS_MAX_TEXT_CHARS) when it is parsed.
        if len(stream.buffer) > settings.TTS_MAX_BUFFER_CHARS:
            await self.end_request(
                stream,
                protocol.error_message(
                    "buffer_full",
                    f"More than {settings.TTS_MAX_BUFFER_CHARS} characters are waiting for a "
                    "sentence to end; send flush: true to speak them.",
                    stream.request_id,
                ),
            )
            return
        stream.open = request.continue_stream
        if request.max_buffer_flush_ms is not None:
            stream.flush_after = request.max_buffer_flush_ms / 1000
        self.restart_flush_timer(stream)
        await self.dispatch_chunks(stream)

    def restart_flush_timer(self, stream: RequestStream) -> None:
        """Speak an unfinished sentence after `max_buffer_flush_ms` without new text."""
        if stream.flush_timer is not None:
            stream.flush_timer.cancel()
            stream.flush_timer = None
        if stream.open and stream.buffer and stream.flush_after:
            stream.flush_timer = asyncio.get_running_loop().call_later(
                stream.flush_after, lambda: asyncio.ensure_future(self.flush_buffer(stream))
            )

    async def flush_buffer(self, stream: RequestStream) -> None:
        if not self.current(stream):
            return
        stream.add_text("", speak_all=True, limits=chunk_limits())
        await self.dispatch_chunks(stream)

    async def dispatch_chunks(self, stream: RequestStream) -> None:
        """Send the chunks the request's window allows to the workers; finish if none are left."""
        if stream.done:
            await self.end_request(
                stream,
                protocol.complete_message(stream.request_id, stream.audio_seconds, stream.sequence),
            )
            return
        if stream.audio_seconds >= settings.TTS_MAX_REQUEST_AUDIO_SECONDS:
            await self.end_request(
                stream,
                protocol.error_message(
                    "text_too_long",
                    f"This request reached {settings.TTS_MAX_REQUEST_AUDIO_SECONDS:g} s of audio, "
                    "the most one request may make; send the rest as a new request.",
                    stream.request_id,
                ),
            )
            return
        if self.client_behind():
            self.hold_back()  # its chunks are dispatched when the client has read its audio
            return
        for index, _text in stream.take_dispatchable(audio_in_hand(stream)):
            if not await self.send_chunk(stream, index, due(stream, index)):
                return
        if stream.owes_audio:
            self.restart_deadline(stream)
        elif stream.deadline is not None:
            stream.deadline.cancel()  # an open stream waiting for text has no deadline
        self.restart_idle_clock()

    async def send_chunk(self, stream: RequestStream, index: int, due_at: float) -> bool:
        """Hand chunk `index` to the workers; if that fails, end the request with why (False)."""
        assert stream.job is not None
        job: SynthesizeJob = {
            **stream.job,
            "index": index,
            "text": stream.chunks[index],
            "due": due_at,
        }
        try:
            if not await send_retrying(
                self.channel_layer, WORKER_CHANNEL, job, lambda: self.current(stream)
            ):
                return False  # it ended while a send was retried (the layer is down)
        except ChannelFull:
            message = "The server has too much to synthesize right now; try again shortly."
        except Exception:
            # The channel layer itself failed (Redis is unreachable, ...): this request cannot
            # go on, but the socket and the process can.
            logger.exception(
                "Could not send a chunk of request %s to the workers", job["request_id"]
            )
            message = "The synthesis workers cannot be reached right now; try again shortly."
        else:
            if self.current(stream):  # not ended while the send awaited
                load.dispatched(stream.token, index, due_at)
            return True
        await self.end_request(
            stream, protocol.error_message("server_busy", message, stream.request_id)
        )
        return False

    async def tts_audio(self, event: AudioPart) -> None:
        """Called with a part of a chunk's audio from a worker: send what is now in order."""
        stream = self.stream_for(event)
        if stream is None:
            return
        load.arrived(stream.token, event["index"])
        deliveries = stream.add_part(
            event["index"], event["part"], event["last"], event["audio"], event.get("words", [])
        )
        for delivery in deliveries:
            if delivery.audio:
                await self.send_audio(stream, delivery.audio)
            if delivery.words:
                await self.send_json(
                    protocol.word_timestamp_message(stream.request_id, delivery.words)
                )
        await self.dispatch_chunks(stream)

    async def send_audio(self, stream: RequestStream, audio: bytes) -> None:
        payload = encode(audio, stream.output_format)
        if stream.sequence == 0 and stream.output_format == "wav":
            # The first chunk opens the file: the chunks joined make one WAV stream.
            payload = streaming_wav_header(stream.sample_rate) + payload
        await self.send_json(
            protocol.chunk_message(
                stream.request_id,
                base64.b64encode(payload).decode("ascii"),
                stream.sequence,
                stream.sample_rate,
                stream.output_format,
            )
        )
        if stream.first_audio_after is None:
            stream.first_audio_after = time.monotonic() - stream.started
        stream.sequence += 1

    async def tts_started(self, event: SynthesisStarted) -> None:
        """Called when a worker begins one of this socket's chunks."""
        stream = self.stream_for(event)
        if stream is not None:
            stream.begun.add(event["index"])

    async def tts_taken(self, event: SynthesisTaken) -> None:
        """Called when a worker process takes one of this socket's chunks (scale-out mode)."""
        stream = self.stream_for(event)
        if stream is not None:
            stream.held_by[event["index"]] = event["worker"]
            self.watch_workers()

    def watch_workers(self) -> None:
        """Look again in one heartbeat whether the workers holding chunks are alive."""
        if self.workers_timer is None:
            self.workers_timer = asyncio.get_running_loop().call_later(
                settings.TTS_HEARTBEAT_SECONDS,
                lambda: asyncio.ensure_future(self.check_workers()),
            )

    async def check_workers(self) -> None:
        """Send again, at once, the chunks held by a worker that stopped beating.

        The channel layer delivers at most once, so a worker that dies (killed, out of memory,
        its machine gone) loses the chunks it held. It is missed after three heartbeats, a few
        seconds, instead of after a whole deadline (fail_stalled). Each chunk is sent again
        once; a worker that was only cut off from Redis may still answer, and the first answer
        is used.
        """
        self.workers_timer = None
        held: dict[str, list[tuple[RequestStream, int]]] = {}
        for stream in self.streams.values():
            for index, worker in list(stream.held_by.items()):
                if index < stream.next_deliver or index in stream.resent:
                    del stream.held_by[index]  # delivered, or sent again already
                else:
                    held.setdefault(worker, []).append((stream, index))
        if not held:
            return
        try:
            alive = await workers_alive(held)
        except Exception:
            logger.warning("Could not look up the workers' heartbeats", exc_info=True)
            alive = set(held)  # the deadline still catches a lost chunk
        for worker in held.keys() - alive:
            for stream, index in held[worker]:
                if not self.current(stream) or index in stream.resent:
                    continue
                logger.warning(
                    "Request %s: worker %s is gone; sending chunk %d again",
                    stream.request_id,
                    worker,
                    index,
                )
                stream.resent.add(index)
                if not await self.send_chunk(stream, index, time.time()):
                    break  # the request has ended
                self.restart_deadline(stream)
        self.watch_workers()

    async def tts_failed(self, event: SynthesisFailed) -> None:
        """Called when a worker could not synthesize a chunk: the request ends with an error."""
        stream = self.stream_for(event)
        if stream is not None:
            await self.end_request(
                stream,
                protocol.error_message("synthesis_failed", event["message"], stream.request_id),
            )

    def current(self, stream: RequestStream) -> bool:
        """Whether `stream` is still this socket's request under its id (not ended)."""
        return self.streams.get(stream.request_id) is stream

    def stream_for(
        self, event: AudioPart | SynthesisFailed | SynthesisStarted | SynthesisTaken
    ) -> RequestStream | None:
        # Replies for a cancelled, failed or finished run of a request id are dropped here.
        stream = self.streams.get(event["request_id"])
        if stream is None or stream.token != event["stream"]:
            return None
        return stream

    async def cancel_request(self, request_id: str) -> None:
        stream = self.streams.get(request_id)
        if stream is None:
            raise ClientError(
                "invalid_request", f"There is no request {request_id!r} in progress.", request_id
            )
        await self.end_request(stream, protocol.cancelled_message(request_id))

    async def end_request(self, stream: RequestStream, message: dict[str, Any]) -> None:
        """Send the request's last message and forget it."""
        self.streams.pop(stream.request_id, None)
        load.forget(stream.token)
        stream.cancel_timers()
        if stream.in_flight:
            await mark_cancelled(stream.token)
        await self.send_json(message)
        self.restart_idle_clock()
        if draining.draining:
            await self.close_when_idle()
        if self.client is not None:
            guard.record_usage_soon(self.client, stream.characters, stream.audio_seconds)
        first_audio = stream.first_audio_after
        logger.info(
            "Request %s %s: %d chunks, %.2f s of audio, first audio after %s, %.0f ms in all",
            stream.request_id,
            message.get("code") or message["status"],
            stream.sequence,
            stream.audio_seconds,
            "-" if first_audio is None else f"{first_audio * 1000:.0f} ms",
            (time.monotonic() - stream.started) * 1000,
        )

    async def close_when_idle(self) -> None:
        """While draining: close with 1001 once no request is left on this socket."""
        if not self.streams:
            await self.close(code=CLOSE_GOING_AWAY)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    async def send_error(self, error: ClientError) -> None:
        await self.send_json(
            protocol.error_message(error.code, error.message, error.request_id, error.retry_after)
        )

    # Backpressure: a client that does not read its audio gets no more synthesized.

    def client_behind(self) -> bool:
        """Whether more of the client's audio waits in this process than it may."""
        return self.unsent is not None and self.unsent() > settings.TTS_CLIENT_BACKLOG_BYTES

    def hold_back(self) -> None:
        """Dispatch nothing until the client has read its backlog; look again shortly."""
        if self.behind_since is None:
            self.behind_since = time.monotonic()
            self.backlog_seen = self.unsent() if self.unsent is not None else 0
            logger.info("A client is not reading its audio; holding its requests back")
        if self.backlog_timer is None:
            self.backlog_timer = asyncio.get_running_loop().call_later(
                BACKLOG_RECHECK_SECONDS, lambda: asyncio.ensure_future(self.check_backlog())
            )

    async def check_backlog(self) -> None:
        """Resume the held requests once the client has caught up; close it if it reads nothing
        for as long as the inactivity timeout (a slow reader is only held back)."""
        self.backlog_timer = None
        if self.behind_since is None or self.unsent is None:
            return
        unsent = self.unsent()
        if unsent > settings.TTS_CLIENT_BACKLOG_BYTES:
            if unsent < self.backlog_seen:  # it read some: wait on
                self.behind_since = time.monotonic()
            self.backlog_seen = unsent
            if time.monotonic() - self.behind_since < self.timeout:
                self.hold_back()
                return
            logger.info(
                "Closing a client that read none of its audio for %d s (%d bytes unsent)",
                self.timeout,
                unsent,
            )
            await self.send_json(
                protocol.error_message(
                    "timeout", f"The client read none of its audio for {self.timeout} seconds."
                )
            )
            await self.close(code=CLOSE_IDLE)
            return
        self.behind_since = None
        for stream in list(self.streams.values()):
            if self.current(stream):
                await self.dispatch_chunks(stream)

    # Clocks. Both are plain loop timers, re-armed when something happens.

    def restart_idle_clock(self) -> None:
        """Idle means: the client sends nothing and no request owes it audio.

        An open text stream whose text has all been spoken owes nothing: it waits for the client.
        """
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if not any(stream.owes_audio for stream in self.streams.values()):
            loop = asyncio.get_running_loop()
            self.idle_timer = loop.call_later(self.timeout, self.on_idle)

    def on_idle(self) -> None:
        asyncio.ensure_future(self.close_idle())

    async def close_idle(self) -> None:
        await self.send_json(
            protocol.error_message(
                "timeout", f"Connection timed out after {self.timeout} seconds of inactivity"
            )
        )
        await self.close(code=CLOSE_IDLE)

    def restart_deadline(self, stream: RequestStream) -> None:
        """Each step forward restarts a request's deadline (fail_stalled).

        A client with audio in hand can wait that much longer: its chunks are not due yet, and
        busy workers rightly serve others first.
        """
        if stream.deadline is not None:
            stream.deadline.cancel()
        loop = asyncio.get_running_loop()
        stream.deadline = loop.call_later(
            settings.TTS_CHUNK_DEADLINE + audio_in_hand(stream),
            lambda: asyncio.ensure_future(self.fail_stalled(stream)),
        )

    async def fail_stalled(self, stream: RequestStream) -> None:
        """No progress for TTS_CHUNK_DEADLINE: send the chunks out again, once; then give up.

        The channel layer delivers at most once: a job can be lost with the worker holding it.
        A re-sent chunk may reach any worker; if the first copy was only slow, whichever
        answer comes first is used and the other is ignored as a duplicate. Chunks that no
        worker has started yet are waiting for a free one (the workers are busy): sending them
        again would only add to the work, so they get one more deadline first.
        """
        if not self.current(stream) or self.behind_since is not None:
            return  # while the client is behind, check_backlog decides
        waiting = stream.in_flight_chunks()
        if waiting and not stream.begun.intersection(waiting) and not stream.waited:
            logger.info(
                "Request %s: chunks %s not started after %g s; the workers are busy, waiting on",
                stream.request_id,
                ", ".join(map(str, waiting)),
                settings.TTS_CHUNK_DEADLINE,
            )
            stream.waited = True
            self.restart_deadline(stream)
            return
        if waiting and not stream.resent.intersection(waiting):
            logger.warning(
                "Request %s: no audio for %g s; sending chunks %s again",
                stream.request_id,
                settings.TTS_CHUNK_DEADLINE,
                ", ".join(map(str, waiting)),
            )
            stream.resent.update(waiting)
            for index in waiting:
                if not await self.send_chunk(stream, index, time.time()):  # late already
                    return
            self.restart_deadline(stream)
            return
        await self.end_request(
            stream,
            protocol.error_message(
                "synthesis_failed",
                f"No audio was produced for {settings.TTS_CHUNK_DEADLINE:g} seconds, "
                "even after sending the text to the workers again; the request was abandoned. "
                "Try again.",
                stream.request_id,
            ),
        )
