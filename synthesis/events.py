"""What a Session hands its transport to deliver, and what it asks of that transport.

A Session (session.py) knows nothing of WebSockets: it returns these events through an
Outlet. The WebSocket consumer sends each as the protocol message `message()` builds; an HTTP
view could write the audio bytes of `Audio` as they come and stop at the first final event.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

from protocol import ClientError
from protocol.messages import (
    cancelled_message,
    chunk_message,
    client_error_message,
    complete_message,
    word_timestamp_message,
)

from .streams import RequestStream


@dataclass(frozen=True)
class Audio:
    """The next piece of a request's audio, in its output format (the first WAV one starts
    with the header), numbered from 0 by `sequence`."""

    request_id: str
    audio: bytes
    sequence: int
    sample_rate: int
    output_format: str
    final = False

    @classmethod
    async def next_of(cls, stream: RequestStream, pcm: bytes) -> Audio | None:
        """The request's next piece of audio, from 16-bit PCM, through the request's encoder
        (encoding.py): the pieces joined make one file of its format. None while the encoder
        holds the audio back (a compressed frame is not full yet)."""
        return cls.of(stream, await stream.encoder.encode(pcm))

    @classmethod
    async def last_of(cls, stream: RequestStream) -> Audio | None:
        """What the request's encoder still holds, once all its audio is in (a codec's last
        frame, a container's end)."""
        return cls.of(stream, await stream.encoder.finish())

    @classmethod
    def of(cls, stream: RequestStream, payload: bytes) -> Audio | None:
        if not payload:
            return None
        sequence = stream.sent()
        return cls(stream.request_id, payload, sequence, stream.sample_rate, stream.output_format)

    def message(self) -> dict[str, Any]:
        audio = base64.b64encode(self.audio).decode("ascii")
        return chunk_message(
            self.request_id, audio, self.sequence, self.sample_rate, self.output_format
        )


@dataclass(frozen=True)
class Word:
    """A word whose sound ends in the audio delivered so far: `number` counts the request's
    words from 0, `start` and `end` are seconds from the start of the request's audio."""

    request_id: str
    number: int
    word: str
    start: float
    end: float
    final = False

    def message(self) -> dict[str, Any]:
        return word_timestamp_message(self.request_id, self.number, self.word, self.start, self.end)


@dataclass(frozen=True)
class Complete:
    """The request's audio has all been delivered; `ignored_fields` names what its messages
    carried that the server does not use."""

    request_id: str
    audio_seconds: float
    chunks: int
    ignored_fields: tuple[str, ...] = ()
    final = True

    def message(self) -> dict[str, Any]:
        return complete_message(
            self.request_id, self.audio_seconds, self.chunks, self.ignored_fields
        )


@dataclass(frozen=True)
class Cancelled:
    """The client cancelled the request: nothing more comes for it."""

    request_id: str
    final = True

    def message(self) -> dict[str, Any]:
        return cancelled_message(self.request_id)


@dataclass(frozen=True)
class Failed:
    """An error: a request's last event when the error names one, else about a message."""

    error: ClientError

    @property
    def final(self) -> bool:
        return self.error.request_id is not None

    def message(self) -> dict[str, Any]:
        return client_error_message(self.error)


Event = Audio | Word | Complete | Cancelled | Failed


class Outlet(Protocol):
    """The transport a Session delivers through."""

    async def deliver(self, event: Event) -> None:
        """Send `event` to the client."""

    def behind(self) -> bool:
        """Whether the client is not reading what it was sent: nothing more is dispatched for
        it until the outlet calls Session.resume()."""

    def changed(self) -> None:
        """Requests started or ended, or began or stopped waiting for audio (the idle clock)."""
