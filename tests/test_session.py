"""A Session speaks without a socket: the request path any transport can drive."""

from __future__ import annotations

import asyncio
import io
import json

import av
import numpy as np
import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer

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


async def test_a_resume_while_audio_is_being_encoded_does_not_finish_the_request_early(
    transactional_db, monkeypatch
):
    """The reader catching up (`resume`) while a request's last audio is in its encoder must
    not send `complete` ahead of it: every byte comes first, then one `complete`, last.

    The workers' replies are made up here, in the order that makes it happen: the second
    chunk is all in before the first has ended, so the first's end delivers the second's
    audio with nothing left to wait for."""
    from synthesis.encoding import RequestEncoder

    layer = InMemoryChannelLayer()  # no worker listens: the replies below are the only ones
    reply = await layer.new_channel()

    async def revoked() -> None:
        pass

    session = Session(Collected(), layer, reply, guard.Client(reply, revoked))
    text = "Hello there. This has two sentences."
    message = {"text": text, "voice_id": "joe", "request_id": "r", "output_format": "mp3"}
    await session.take(parse_message(json.dumps(message), 5000))
    stream = session.requests["r"]
    assert len(stream.chunks) == 2
    tone = (np.sin(np.arange(12000) / 10) * 8000).astype("<i2").tobytes()  # half a second

    def part(index: int, number: int, audio: bytes, last: bool) -> dict:
        return {"type": "tts.audio", "request_id": "r", "stream": stream.token, "index": index,
                "part": number, "last": last, "audio": audio, "words": []}  # fmt: skip

    await session.on_worker(part(0, 0, tone, False))
    await session.on_worker(part(1, 0, tone, False))
    await session.on_worker(part(1, 1, b"", True))
    encoding, go_on = asyncio.Event(), asyncio.Event()
    encode = RequestEncoder.encode

    async def held_encode(self: RequestEncoder, pcm16: bytes) -> bytes:
        encoding.set()
        await go_on.wait()
        return await encode(self, pcm16)

    monkeypatch.setattr(RequestEncoder, "encode", held_encode)
    ending = asyncio.ensure_future(session.on_worker(part(0, 1, b"", True)))
    await asyncio.wait_for(encoding.wait(), 10)
    await session.resume()  # as an HTTP response does when its client has read everything
    go_on.set()
    await asyncio.wait_for(ending, 10)

    events = session.outlet.events  # type: ignore[attr-defined]
    assert [type(event) for event in events].count(Complete) == 1
    assert isinstance(events[-1], Complete)
    audio = b"".join(event.audio for event in events if isinstance(event, Audio))
    with av.open(io.BytesIO(audio), mode="r") as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert samples / 24000 >= 1.0  # both chunks' half second
    await session.close()
