"""One synthesis request over HTTP: a Session (session.py) driven from a view.

The WebSocket consumer drives a Session per socket; an HTTP request drives one for its single
request, through the same path: the key is checked as a socket's is (access/guard.py; an
HTTP request takes none of the key's connections), the message is parsed and checked as a
socket's is, the chunks go to the same workers on the
channel layer, and the request's usage is recorded when it ends. Only the outlet differs: the
events wait in a queue for the response to write them, and a client that reads slowly holds
the workers back (`behind`) as a slow socket does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from access import guard
from protocol import ClientError, ErrorCode
from protocol.messages import SynthesisRequest, parse_message

from .draining import drain
from .embedded import ensure_embedded_workers
from .events import Audio, Event, Failed
from .messages import receive_riding_out
from .session import Session

logger = logging.getLogger(__name__)

# Audio queued for a client that has not read it yet, past which no more chunks are sent to
# the workers for it (they are sent when it reads on).
HELD_BYTES = 1024 * 1024


class Queued:
    """The Session's outlet: its events, in order, until the response writes them."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.held = 0  # bytes of audio queued

    async def deliver(self, event: Event) -> None:
        if isinstance(event, Audio):
            self.held += len(event.audio)
        self.events.put_nowait(event)

    def behind(self) -> bool:
        return self.held > HELD_BYTES

    def changed(self) -> None:
        pass


class HttpSpeech:
    """One request's events, from its start to its last event; `close()` in every case."""

    def __init__(
        self, session: Session, outlet: Queued, layer: BaseChannelLayer, reply: str
    ) -> None:
        self.session = session
        self.outlet = outlet
        self.layer = layer
        self.reply = reply
        self.replies: asyncio.Task[None] | None = None
        self.closed = False
        self.output_format = "pcm"
        self.characters = 0

    @classmethod
    async def admit(cls, scope: dict[str, Any]) -> HttpSpeech:
        """Check the request's key (access/guard.py), first of all; raise ClientError if it
        may not be served. Whatever follows, `close()` it."""
        ensure_embedded_workers()
        layer = get_channel_layer()
        assert layer is not None
        reply = await layer.new_channel()
        client = await guard.admit_request(scope, reply)
        speech = cls.of(client, layer, reply)
        drain.responding(speech)  # a server told to stop first finishes what it was saying
        return speech

    @classmethod
    def of(cls, client: guard.Client, layer: BaseChannelLayer, reply: str) -> HttpSpeech:
        """`client`'s request, with its replies on `reply` of `layer`; `close()` it."""
        outlet = Queued()
        return cls(Session(outlet, layer, reply, client), outlet, layer, reply)

    async def start(self, fields: dict[str, Any]) -> None:
        """Start speaking `fields` (a WebSocket message's), or raise ClientError saying why
        not: checked as the socket checks a message, against the same limits."""
        message = parse_message(json.dumps(fields), settings.TTS_MAX_TEXT_CHARS)
        if not isinstance(message, SynthesisRequest):
            raise ClientError(ErrorCode.INVALID_REQUEST, "Send text to speak.")
        check_one_shot(message)
        self.output_format = message.output_format
        self.characters = len(message.text)
        await self.session.take(message)
        self.replies = asyncio.create_task(self.read_replies())

    async def read_replies(self) -> None:
        """The workers' replies, handed to the Session until the request has ended. Should
        this fail, the request ends with an error, not a response that never ends."""
        try:
            while self.session.requests:
                event = await receive_riding_out(self.layer, self.reply, self.layer_lost)
                await self.session.on_worker(event)
        except Exception:
            logger.exception("Could not handle a worker's reply to an HTTP request")
            for stream in list(self.session.requests.values()):
                await self.session.fail(
                    stream, ErrorCode.SYNTHESIS_FAILED, "The server failed to make this audio."
                )

    async def layer_lost(self) -> None:
        await self.session.fail_waiting(
            ErrorCode.SERVER_BUSY,
            "The connection to the synthesis workers was lost; try again shortly.",
        )

    async def next_event(self) -> Event:
        """The request's next event; a reader that catches up lets the workers go on."""
        event = await self.outlet.events.get()
        if isinstance(event, Audio):
            was_behind = self.outlet.behind()
            self.outlet.held -= len(event.audio)
            if was_behind and not self.outlet.behind():
                await self.session.resume()
        return event

    async def events(self) -> AsyncIterator[Event]:
        """Every event up to the last (complete, cancelled or error); then closes."""
        try:
            while True:
                event = await self.next_event()
                yield event
                if event.final or isinstance(event, Failed):
                    return
        finally:
            await self.close()

    async def close(self) -> None:
        """The response is over (written, or its client gone): stop and record the request."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.replies is not None:
                self.replies.cancel()
                # Its end, whatever it was; a cancellation of this task still propagates.
                await asyncio.gather(self.replies, return_exceptions=True)
            await self.session.close()
            await guard.release(self.session.client)
        finally:
            drain.responded(self)


def check_one_shot(message: SynthesisRequest) -> None:
    """An HTTP request is all of its text at once: streams and contexts need the WebSocket."""
    for asked, field in (
        (message.continue_stream, "continue"),
        (message.context_id is not None, "context_id"),
        (message.context_close, "context_close"),
    ):
        if asked:
            raise ClientError(
                ErrorCode.INVALID_REQUEST,
                f"{field} needs the WebSocket API; over HTTP a request is one text, whole.",
                field=field,
            )
    if message.blank:
        raise ClientError(ErrorCode.INVALID_REQUEST, "There is no text to speak.", field="text")
