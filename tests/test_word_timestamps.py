"""Word timings (`word_timestamps: true`) from the engine's phoneme alignments, over sockets."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from speech.engine.words import (
    phoneme_word_spans,
    text_words,
    timings_for,
    word_label,
    word_shares,
)
from speech.text.script import Reading

from .clients import pcm_of, receive_until_end, speak, words_of
from .test_seams import quiet_runs

TEXT = (
    "Hello there, thanks for calling. Your order of 3 books cost $12.50 and it ships today. "
    "Is there anything else?"
)
WORDS = [
    "Hello", "there", "thanks", "for", "calling", "Your", "order", "of", "3", "books", "cost",
    "$12.50", "and", "it", "ships", "today", "Is", "there", "anything", "else",
]  # fmt: skip


async def test_each_spoken_word_is_timed_in_order_within_its_audio(connect):
    socket = await connect()
    await socket.send_json_to(
        {"text": TEXT, "voice_id": "joe", "word_timestamps": True, "sample_rate": 16000}
    )
    messages = await receive_until_end(socket)
    assert messages[-1]["status"] == "complete"
    assert messages[-1]["data"]["chunks"] >= 4  # the words span several chunks

    # Each timing message follows the audio its words are heard in.
    heard = 0.0
    words: list[dict] = []
    for message in messages:
        if message["status"] == "chunk":
            heard += len(base64.b64decode(message["data"]["audio"])) / 2 / 16000
        elif message["status"] == "word_timestamp":
            assert message["request_id"] == messages[-1]["request_id"]
            assert message["data"]["end"] <= heard + 1e-6
            assert message["data"]["id"] == len(words)
            words.append(message["data"])

    assert [word["word"] for word in words] == WORDS
    starts = [word["start"] for word in words]
    ends = [word["end"] for word in words]
    assert all(start < end for start, end in zip(starts, ends, strict=True))
    assert all(end <= start for end, start in zip(ends, starts[1:], strict=False))  # monotonic
    seconds = messages[-1]["data"]["audio_seconds"]
    assert 0 <= starts[0] <= 0.05
    assert seconds - 0.4 <= ends[-1] <= seconds  # the last word ends before the final pause

    # The times match the audio: every word is heard, and no word covers a pause.
    pcm = pcm_of(messages).astype(np.float64)
    peak = np.max(np.abs(pcm))
    for word in words:
        span = pcm[int(word["start"] * 16000) : int(word["end"] * 16000)]
        # Unstressed words ("of", "it") can be quiet, but pauses are digital silence.
        assert np.sqrt(np.mean(span**2)) > peak * 10 ** (-50 / 20), word
    pauses = [(start, start + length) for start, length in quiet_runs(pcm, 16000, 0.2)]
    assert len(pauses) >= 4
    for word in words:
        for pause_start, pause_end in pauses:
            overlap = min(word["end"], pause_end) - max(word["start"], pause_start)
            assert overlap < 0.05, (word, pause_start, pause_end)

    # "$12.50" is said as five words, so it lasts much longer than "of".
    by_word = {word["word"]: word["end"] - word["start"] for word in words}
    assert by_word["$12.50"] > 3 * by_word["of"]


async def test_there_are_no_timings_unless_asked_for(connect):
    socket = await connect()
    messages = await speak(socket, "Just audio, please.")
    assert messages[-1]["status"] == "complete"
    assert {message["status"] for message in messages} == {"chunk", "complete"}


async def test_a_streamed_text_is_timed_across_its_messages(connect):
    socket = await connect()
    start = {"voice_id": "joe", "request_id": "s", "continue": True, "word_timestamps": True}
    await socket.send_json_to({**start, "text": "First we talk. "})
    await socket.send_json_to({"request_id": "s", "continue": True, "text": "Then, we "})
    await socket.send_json_to({"request_id": "s", "text": "listen."})
    messages = await receive_until_end(socket)
    words = words_of(messages)
    assert [word["word"] for word in words] == ["First", "we", "talk", "Then", "we", "listen"]
    assert all(a["end"] <= b["start"] for a, b in zip(words, words[1:], strict=False))
    assert words[-1]["end"] <= messages[-1]["data"]["audio_seconds"]


# The mapping from phoneme words to written words, on made-up alignments.


def test_written_words_keep_their_symbols_but_not_their_punctuation():
    tokens = text_words('"Hello," she said — it costs $5 & more... (really)')
    assert [word_label(token) for token in tokens] == [
        "Hello", "she", "said", "it", "costs", "$5", "&", "more", "really",
    ]  # fmt: skip


def test_phoneme_words_are_runs_of_sounds_between_spaces():
    alignments = [("^", 10), ("h", 5), ("i", 5), (",", 20), (" ", 8), ("j", 4), ("o", 6), ("$", 9)]
    assert phoneme_word_spans(alignments) == [(10, 20), (48, 58)]


def test_words_get_as_many_phoneme_words_as_their_readings_say():
    readings = [Reading("in", "in"), Reading("1999", "nineteen ninety-nine"), Reading("we", "we")]
    counts = {"in": 1, "nineteen ninety-nine": 3, "we": 1}  # "ninety-nine" is two phoneme words
    words, shares = word_shares(readings, 5, counts.__getitem__)
    assert words == ["in", "1999", "we"]
    assert shares == [(0, 1), (1, 4), (4, 5)]
    spans = [(0.0, 0.1), (0.2, 0.3), (0.3, 0.4), (0.5, 0.6), (0.7, 0.8)]
    timings = timings_for(["in", "1999", "we"], shares, spans)
    assert [(t.word, t.start, t.end) for t in timings] == [
        ("in", 0.0, 0.1), ("1999", 0.2, 0.6), ("we", 0.7, 0.8),
    ]  # fmt: skip


@pytest.mark.parametrize("phoneme_words", [2, 7])
def test_when_counts_disagree_words_share_the_time_in_order(phoneme_words):
    words = ["one", "two", "three", "four"]
    _, shares = word_shares([Reading(w, w) for w in words], phoneme_words, lambda word: 1)
    spans = [(n * 1.0, n * 1.0 + 0.5) for n in range(phoneme_words)]
    timings = timings_for(words, shares, spans)
    assert [t.word for t in timings] == words
    assert all(a.end <= b.start for a, b in zip(timings, timings[1:], strict=False))
    assert all(t.start < t.end for t in timings)
    assert timings[0].start == 0.0 and timings[-1].end == spans[-1][1]


def test_a_reading_of_several_written_words_shares_its_time_evenly():
    readings = [Reading("March", "March"), Reading("4, 2025", "fourth, twenty twenty-five")]
    words, shares = word_shares(readings, 4, lambda spoken: 0)
    assert words == ["March", "4,", "2025"]
    assert shares == [(0, 1), (1, 2.5), (2.5, 4)]
