"""TTSConsumer: the WebSocket end of the protocol (docs/protocol.md).

It admits the socket, turns frames into parsed messages for its Session (session.py) and
worker replies into Session calls, and sends the Session's events as JSON. The clocks that
belong to the socket live here: inactivity, and a client that does not read (backlog.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from access import guard
from protocol import ClientError, CloseCode, ErrorCode
from protocol.codes import GOING_AWAY_REASON, fit_close_reason
from protocol.messages import SynthesisRequest, client_error_message, parse_message, parse_timeout

from . import metrics
from .backlog import Backlog, backlog_reader
from .draining import drain
from .embedded import ensure_embedded_workers
from .events import Event, Failed
from .messages import receive_riding_out
from .session import Session

logger = logging.getLogger(__name__)


class TTSConsumer(AsyncWebsocketConsumer):
    """Takes synthesis requests from one socket and streams their audio back in order."""

    session: Session | None = None
    client: guard.Client | None = None
    timeout: int = 0
    idle_timer: asyncio.TimerHandle | None = None
    backlog: Backlog | None = None
    unsent: Callable[[], int] | None = None  # bytes sent and still held here (backlog.py)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.unsent = backlog_reader(send)
        await super().__call__(scope, receive, send)

    @property
    def channel_receive(self) -> Callable[[], Coroutine[Any, Any, dict[str, Any]]]:
        """What channels reads this consumer's layer messages with: one that rides out
        outages (channels sets its own, with which a Redis outage would end the socket)."""
        return partial(receive_riding_out, self.channel_layer, self.channel_name, self.layer_lost)

    @channel_receive.setter
    def channel_receive(self, value: Any) -> None:
        pass

    async def layer_lost(self) -> None:
        """The requests waiting for workers end with an error the client can act on."""
        if self.session is not None:
            await self.session.fail_waiting(
                ErrorCode.SERVER_BUSY,
                "The connection to the synthesis workers was lost; try again shortly.",
            )

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As channels' dispatch, without closing old database connections first: channels
        does that on the one thread the process shares for sync work, where it waited behind
        any query waiting for a lock. This consumer makes no query on that thread
        (ttsproject/database.py), so it has no connection there to clean up."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']!r}")
        await handler(message)

    async def connect(self) -> None:
        """Admit the client (access/guard.py), read `?timeout=`, start the idle clock."""
        ensure_embedded_workers()
        await self.accept()
        if drain.active:
            await self.close(code=int(CloseCode.GOING_AWAY), reason=GOING_AWAY_REASON)
            return
        drain.connected(self)
        try:
            self.client = await guard.admit(self.scope, self.channel_name, self.key_revoked)
        except guard.Refused as refusal:
            return await self.refuse(refusal, refusal.close_code)
        except Exception:
            logger.exception("Could not check a connection's API key")
            problem = "The server cannot check API keys right now; try again shortly."
            error = ClientError(ErrorCode.SERVER_BUSY, problem)
            return await self.refuse(error, CloseCode.INTERNAL_ERROR)
        try:
            self.timeout = parse_timeout(
                self.scope.get("query_string", b""),
                settings.TTS_TIMEOUT_DEFAULT,
                settings.TTS_TIMEOUT_MIN,
                settings.TTS_TIMEOUT_MAX,
            )
        except ClientError as error:
            return await self.refuse(error, CloseCode.BAD_PARAMETERS)
        if self.client.group is not None:
            try:
                await self.channel_layer.group_add(self.client.group, self.channel_name)
            except Exception as error:  # revocation then reaches it on its next refresh
                logger.warning("Could not join the key's group: %s", error)
        self.session = Session(self, self.channel_layer, self.channel_name, self.client)
        metrics.OPEN_SOCKETS.inc()
        self.backlog = Backlog(self.unsent, self.timeout, self.session.resume, self.stuck)
        self.changed()

    async def refuse(self, error: ClientError, code: int) -> None:
        await self.send_json(client_error_message(error))
        # The reason repeats the message for clients that show only the close frame.
        await self.close(code=int(code), reason=fit_close_reason(error.message))

    async def access_revoked(self, event: dict[str, Any]) -> None:
        """This connection's API key was revoked or deleted (a message to the key's group)."""
        await self.key_revoked()

    async def key_revoked(self) -> None:
        """The layer's message and the connection's own refresh may both say so: close once."""
        if self.client is None or self.client.revoked:
            return
        self.client.revoked = True
        revoked = "This connection's API key has been revoked."
        await self.refuse(ClientError(ErrorCode.UNAUTHORIZED, revoked), CloseCode.UNAUTHORIZED)

    async def disconnect(self, code: int) -> None:
        drain.disconnected(self)
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.backlog is not None:
            self.backlog.stop()
        if self.session is not None:
            metrics.OPEN_SOCKETS.dec()
            await self.session.close()
        if self.client is not None:
            if self.client.group is not None:
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(self.client.group, self.channel_name)
            await guard.release(self.client)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """A client frame; every frame, even a bad one, restarts the idle clock."""
        if self.session is None or self.client is None or self.client.revoked:
            return  # refused at connect, or its key revoked: the socket is closing
        message = None
        try:
            size = len(text_data.encode("utf-8") if text_data is not None else bytes_data or b"")
            if size > settings.TTS_MAX_MESSAGE_BYTES:
                raise ClientError(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"A message may be at most {settings.TTS_MAX_MESSAGE_BYTES} bytes; "
                    f"this one is {size}. Send long text in several messages.",
                )
            if text_data is None:
                raise ClientError(
                    ErrorCode.INVALID_JSON, "Binary frames are not accepted; send JSON text."
                )
            message = parse_message(text_data, settings.TTS_MAX_TEXT_CHARS)
            await self.session.take(message)
        except ClientError as error:
            if error.request_id is None and isinstance(message, SynthesisRequest):
                error.request_id = message.request_id
            await self.deliver(Failed(error))
        except Exception:
            logger.exception("Could not handle a message")
            await self.session.abort(getattr(message, "request_id", None))
        self.changed()

    async def worker_reply(self, event: dict[str, Any]) -> None:
        """A worker's reply about one of this socket's chunks (messages.py)."""
        if self.session is not None:
            await self.session.on_worker(event)

    tts_audio = tts_started = tts_taken = tts_failed = worker_reply

    # The Session's outlet.

    async def deliver(self, event: Event) -> None:
        await self.send_json(event.message())

    def behind(self) -> bool:
        return self.backlog is not None and self.backlog.behind()

    def changed(self) -> None:
        """Restart the idle clock: idle means the client sends nothing and no request owes it
        audio (an open text stream whose text has all been spoken waits for the client). While
        draining, a socket with no request left is closed."""
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.session is None:
            return
        if drain.active and not self.session.requests:
            asyncio.ensure_future(self.close_when_idle())
        elif not self.session.owes_audio:
            self.idle_timer = asyncio.get_running_loop().call_later(
                self.timeout, lambda: asyncio.ensure_future(self.idle())
            )

    async def idle(self) -> None:
        inactive = f"Connection timed out after {self.timeout} seconds of inactivity"
        await self.refuse(ClientError(ErrorCode.TIMEOUT, inactive), CloseCode.IDLE)

    async def stuck(self, unsent: int) -> None:
        not_reading = f"The client read none of its audio for {self.timeout} seconds."
        await self.refuse(ClientError(ErrorCode.TIMEOUT, not_reading), CloseCode.IDLE)

    async def close_when_idle(self) -> None:
        """While draining: close with 1001 once no request is left on this socket."""
        if self.session is None or not self.session.requests:
            await self.close(code=int(CloseCode.GOING_AWAY), reason=GOING_AWAY_REASON)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))
