"""A Session speaks without a socket: the request path any transport can drive."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from channels.layers import get_channel_layer

from access import guard
from protocol import ClientError, ErrorCode
from protocol.messages import parse_message
from synthesis.embedded import ensure_embedded_workers
from synthesis.events import Audio, Cancelled, Complete, Event, Failed, Word
from synthesis.session import Session


class Collected:
    """An outlet that keeps what it is given, as an HTTP view would write it out."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changes = 0

    async def deliver(self, event: Event) -> None:
        self.events.append(event)

    def behind(self) -> bool:
        return False

    def changed(self) -> None:
        self.changes += 1


async def run(session: Session, reply: str, message: dict) -> list[Event]:
    """Feed one message, then the workers' replies, until the request's last event."""
    outlet = session.outlet
    assert isinstance(outlet, Collected)
    await session.take(parse_message(json.dumps(message), 5000))
    layer = session.layer
    while not any(getattr(event, "final", False) for event in outlet.events):
        await session.on_worker(await asyncio.wait_for(layer.receive(reply), 60))
    return outlet.events


async def new_session() -> tuple[Session, str]:
    ensure_embedded_workers()
    layer = get_channel_layer()
    reply = await layer.new_channel()

    async def revoked() -> None:
        pass

    return Session(Collected(), layer, reply, guard.Client(reply, revoked)), reply


async def test_a_session_delivers_a_requests_audio_in_order_then_completes(transactional_db):
    session, reply = await new_session()
    events = await run(
        session,
        reply,
        {
            "text": "Hello there. This is spoken without a socket.",
            "voice_id": "joe",
            "request_id": "s1",
            "word_timestamps": True,
        },
    )
    audio = [event for event in events if isinstance(event, Audio)]
    assert [event.sequence for event in audio] == list(range(len(audio)))
    samples = np.frombuffer(b"".join(event.audio for event in audio), dtype="<i2")
    assert samples.size > 24000  # more than a second of speech at the default 24 kHz
    assert np.abs(samples).max() > 3000  # speech, not silence
    words = [event.word for event in events if isinstance(event, Word)]
    assert words[:2] == ["Hello", "there"]
    complete = events[-1]
    assert isinstance(complete, Complete)
    assert complete.chunks == len(audio)
    assert abs(complete.audio_seconds - samples.size / 24000) < 0.01
    assert session.requests == {}  # forgotten once complete
    await session.close()


async def test_a_sessions_refusal_is_a_client_error_naming_the_field(transactional_db):
    session, _ = await new_session()
    message = {"text": "Hi.", "voice_id": "nobody", "request_id": "s2"}
    with pytest.raises(ClientError) as refused:
        await session.take(parse_message(json.dumps(message), 5000))
    assert refused.value.code == ErrorCode.VOICE_NOT_FOUND
    assert refused.value.field == "voice_id"
    assert session.requests == {}


async def test_a_cancelled_request_ends_with_its_cancelled_event(transactional_db):
    session, reply = await new_session()
    await session.take(
        parse_message(
            json.dumps({"text": "One. Two. Three. " * 20, "voice_id": "joe", "request_id": "c"}),
            5000,
        )
    )
    events = await run(session, reply, {"type": "cancel", "request_id": "c"})
    assert isinstance(events[-1], Cancelled)
    assert not any(isinstance(event, Failed) for event in events)
    assert session.requests == {}
