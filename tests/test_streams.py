"""RequestStream: the dispatch window and putting audio back in order."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthesis.streams import FAR_AHEAD_SECONDS, ChunkLimits, Delivery, RequestStream


def make_stream(chunks: int = 4, window: int = 2) -> RequestStream:
    return RequestStream(
        request_id="r",
        chunks=[f"chunk {n}." for n in range(chunks)],
        window=window,
        sample_rate=24000,
        output_format="pcm",
    )


def audio(deliveries: list[Delivery]) -> list[bytes]:
    return [delivery.audio for delivery in deliveries]


def test_it_sends_the_first_chunk_alone_then_keeps_a_window_in_flight():
    stream = make_stream()
    assert stream.take_dispatchable() == [(0, "chunk 0.")]
    assert stream.take_dispatchable() == []
    stream.add_part(0, 0, True, b"a")
    assert stream.take_dispatchable() == [(1, "chunk 1."), (2, "chunk 2.")]
    stream.add_part(1, 0, True, b"b")
    assert stream.take_dispatchable() == [(3, "chunk 3.")]


def test_a_request_far_ahead_of_its_listener_has_one_chunk_at_the_workers():
    stream = make_stream(chunks=6)
    stream.take_dispatchable()
    stream.add_part(0, 0, True, b"a")
    far_ahead = FAR_AHEAD_SECONDS
    assert stream.take_dispatchable(audio_in_hand=far_ahead) == [(1, "chunk 1.")]
    assert stream.take_dispatchable(audio_in_hand=far_ahead) == []
    stream.add_part(1, 0, True, b"b")
    # The listener is catching up: two at a time again.
    assert stream.take_dispatchable(audio_in_hand=far_ahead - 1) == [
        (2, "chunk 2."),
        (3, "chunk 3."),
    ]


def test_it_delivers_parts_in_order_whatever_order_they_arrive_in():
    stream = make_stream(chunks=3)
    assert audio(stream.add_part(1, 0, False, b"1a")) == []
    assert audio(stream.add_part(0, 1, True, b"0b")) == []
    assert audio(stream.add_part(0, 0, False, b"0a")) == [b"0a", b"0b", b"1a"]
    assert audio(stream.add_part(1, 1, True, b"")) == []  # an empty last part ends the chunk
    assert not stream.done
    assert audio(stream.add_part(2, 0, True, b"2a")) == [b"2a"]
    assert stream.done


def test_it_ignores_a_part_it_already_delivered():
    stream = make_stream(chunks=2)
    assert audio(stream.add_part(0, 0, True, b"0a")) == [b"0a"]
    assert audio(stream.add_part(0, 0, True, b"0a")) == []
    assert not stream.done


def test_it_times_words_from_the_start_of_the_request_within_its_audio():
    stream = make_stream(chunks=2)  # 24 kHz: 48000 bytes are one second
    first = stream.add_part(0, 0, True, bytes(48000), [{"word": "a", "start": 0.1, "end": 0.5}])
    assert first[0].words == [{"word": "a", "start": 0.1, "end": 0.5}]
    second = stream.add_part(1, 0, False, bytes(24000), [{"word": "b", "start": 0.25, "end": 0.75}])
    # Offset by the first chunk's second of audio; clipped to the audio sent so far.
    assert second[0].words == [{"word": "b", "start": 1.25, "end": 1.5}]
    assert stream.audio_seconds == 1.5


LIMITS = ChunkLimits(first=30, second=100, rest=240)
REPLY = (
    "Hello there, thanks for calling the support line today. Your order shipped this morning "
    "and should arrive on Friday, or on Saturday at the latest if the weather is bad. "
    "Is there anything else I can help you with? I am happy to check another order for you, "
    "or to change the delivery address if you have moved since you ordered."
)


def test_the_first_two_chunks_are_short_and_the_rest_longer():
    stream = make_stream(chunks=0)
    stream.add_text(REPLY, speak_all=True, limits=LIMITS)
    first, second, *rest = stream.chunks
    assert first == "Hello there,"
    assert len(second) <= 100 and len(second) > 30
    assert rest and all(len(chunk) <= 240 for chunk in rest)
    assert max(len(chunk) for chunk in rest) > 100
    assert " ".join(stream.chunks).split() == REPLY.split()


def test_streamed_text_is_chunked_when_its_first_clause_or_a_sentence_ends():
    stream = make_stream(chunks=0)
    stream.add_text("Hello there", speak_all=False, limits=LIMITS)
    assert stream.chunks == [] and not stream.owes_audio
    stream.add_text(", thanks for", speak_all=False, limits=LIMITS)
    assert stream.chunks == ["Hello there,"]  # spoken while the sentence goes on
    stream.add_text(" calling. Your order", speak_all=False, limits=LIMITS)
    assert stream.chunks == ["Hello there,", "thanks for calling."]
    assert stream.buffer == "Your order"
    stream.add_text("", speak_all=True, limits=LIMITS)
    assert stream.chunks[-1] == "Your order" and stream.buffer == ""


@pytest.mark.parametrize(
    ("text", "ready"),
    [
        ("Thanks for calling.", True),  # the space comes with the next word; no need to wait
        ("Is that right?", True),
        ('He said "stop!"', True),
        ("It costs 3.", False),  # may be 3.5
        ("Ask Dr.", False),
        ("Bring pens, paper, etc.", False),
        ("Well...", False),
        ("Thanks for calling", False),
    ],
)
def test_a_sentence_at_the_end_of_the_stream_is_ready_unless_it_may_go_on(text, ready):
    stream = make_stream(chunks=0)
    stream.add_text("First, a word. " + text, speak_all=False, limits=LIMITS)
    assert (stream.buffer == "") is ready


def test_only_a_streams_first_clause_is_spoken_before_its_sentence_ends():
    stream = make_stream(chunks=0)
    stream.add_text("Well, hi", speak_all=False, limits=LIMITS)
    assert stream.chunks == []  # a one-word clause is too short to say alone
    stream.add_text(" there. Later, much", speak_all=False, limits=LIMITS)
    assert stream.chunks == ["Well, hi there."]
    assert stream.buffer.strip() == "Later, much"


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(["Hello", "there,", "friend.", "Dr.", "3.5", "yes!", "ok?", "and", "so"]),
        min_size=1,
        max_size=80,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12),
)
def test_text_streamed_in_any_pieces_is_spoken_whole_and_in_order(words, cuts):
    text = " ".join(words)
    stream = make_stream(chunks=0)
    start = 0
    for cut in sorted(set(cuts)) + [len(text)]:
        stream.add_text(text[start:cut], speak_all=False, limits=LIMITS)
        start = max(start, cut)
    stream.add_text("", speak_all=True, limits=LIMITS)
    assert "".join(stream.chunks).replace(" ", "") == text.replace(" ", "")
    assert all(0 < len(chunk) <= 240 for chunk in stream.chunks)


class Clock:
    """time.monotonic, moved on by hand (from the real one: a stream's start is real)."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("synthesis.streams.time.monotonic", clock)
    return clock


def seconds_of_audio(seconds: float) -> bytes:
    return bytes(int(seconds * 24000) * 2)


def test_it_counts_a_run_dry_when_audio_it_owed_comes_after_the_last_has_played(clock):
    stream = make_stream(chunks=3)
    stream.add_part(0, 0, True, seconds_of_audio(1.0))
    clock.now += 1.05  # 50 ms of silence: unnoticed
    stream.add_part(1, 0, True, seconds_of_audio(1.0))
    assert stream.run_dries == 0
    clock.now += 1.5  # half a second without audio
    stream.add_part(2, 0, True, seconds_of_audio(1.0))
    assert stream.run_dries == 1


def test_a_text_stream_waiting_for_its_next_text_does_not_run_dry(clock):
    stream = make_stream(chunks=0)
    limits = ChunkLimits(first=50, second=100, rest=200)
    stream.add_text("The first sentence.", speak_all=False, limits=limits)
    stream.add_part(0, 0, True, seconds_of_audio(1.0))
    clock.now += 5  # the client sends its next text only now, long after the first played
    stream.add_text(" The second one.", speak_all=False, limits=limits)
    assert len(stream.chunks) == 2
    clock.now += 0.5
    stream.add_part(1, 0, True, seconds_of_audio(1.0))
    assert stream.run_dries == 0
