"""Steady loudness: the sentences of a paragraph at one level, and nothing clipped."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np
import pytest

from speech.engine import Engine, SynthesisOptions
from speech.engine.loudness import CEILING, soft_limit

from .clients import pcm_of, receive_until_end, words_of

# A question, an exclamation, a one-word sentence, a long list: the shapes that Piper's own
# per-sentence peak scaling left up to 3.1 dB apart.
PARAGRAPH = (
    "Hello there, thanks for calling. Your order shipped this morning and should arrive on "
    "Thursday. Is there anything else I can help you with? Okay! We also have a sale on garden "
    "furniture this week, with chairs, tables, benches and umbrellas at half price. Goodbye."
)
MOST_DB_APART = 1.5


def speech_db(audio: np.ndarray, sample_rate: int) -> float:
    """Loudness as a listener meets it: the RMS of the 20 ms windows within 30 dB of the
    loudest one (pauses and breaths left out). Measured differently from loudness.py on
    purpose, so the test does not grade the code by its own rule."""
    window = round(0.02 * sample_rate)
    frames = audio[: audio.size // window * window].astype(np.float64).reshape(-1, window)
    energy = np.mean(np.square(frames), axis=1)
    speech = energy[energy >= energy.max() * 10 ** (-30 / 10)]
    return float(10 * np.log10(np.mean(speech)))


@pytest.fixture(scope="module")
def paragraph_at(engine: Engine) -> Callable[[float], list[np.ndarray]]:
    """The paragraph's sentences as the engine says them at a volume; said once a volume."""

    @functools.cache
    def at(volume: float) -> list[np.ndarray]:
        options = SynthesisOptions(volume=volume)
        return [spoken.audio for spoken in engine.synthesize_sentences(PARAGRAPH, options)]

    return at


@pytest.mark.parametrize("volume", [1.0, 2.5])
def test_the_sentences_of_a_paragraph_are_equally_loud_and_never_clip(engine, paragraph_at, volume):
    sentences = paragraph_at(volume)
    # Six sentences; the long list is two units, cut at one of its commas (units.py).
    assert len(sentences) == 7
    levels = [speech_db(audio, engine.sample_rate) for audio in sentences]
    assert max(levels) - min(levels) <= MOST_DB_APART, np.round(levels, 2)
    assert max(float(np.abs(audio).max()) for audio in sentences) <= np.float32(CEILING)


def test_the_voices_volume_scales_every_sentence_alike(engine, paragraph_at):
    quiet, loud = (
        [speech_db(audio, engine.sample_rate) for audio in paragraph_at(volume)]
        for volume in (0.5, 1.0)
    )
    # Half the amplitude is 6 dB less, sentence by sentence (the model is not deterministic,
    # so the same sentence differs a little between runs).
    for softer, louder in zip(quiet, loud, strict=True):
        assert louder - softer == pytest.approx(6.0, abs=1.0)


def test_peaks_bend_under_full_scale_and_quiet_samples_stay_as_they_are():
    samples = np.array([0.1, -0.5, 0.8, 0.9, -1.5, 4.0], dtype=np.float32)
    limited = soft_limit(samples)
    assert limited[:3].tolist() == samples[:3].tolist()
    assert np.all(np.abs(limited[3:]) <= np.float32(CEILING))
    assert np.all(np.sign(limited) == np.sign(samples))
    # Louder in, never quieter out: the bend keeps the order of the samples.
    assert np.all(np.diff(soft_limit(np.linspace(0, 3, 301, dtype=np.float32))) >= 0)


async def test_the_sentences_of_a_streamed_paragraph_are_equally_loud(connect):
    """Over the real socket: the request's audio joined, cut into its sentences where the
    word timings say they begin and end."""
    socket = await connect()
    await socket.send_json_to(
        {"text": PARAGRAPH, "voice_id": "joe", "sample_rate": 24000, "word_timestamps": True}
    )
    messages = await receive_until_end(socket)
    assert messages[-1]["status"] == "complete"
    audio = pcm_of(messages).astype(np.float32) / 32768
    words = words_of(messages)
    assert len(words) == len(PARAGRAPH.split())
    sentences, first = [], 0
    for sentence in re.split(r"(?<=[.!?]) ", PARAGRAPH):
        last = first + len(sentence.split()) - 1
        sentences.append((words[first]["start"], words[last]["end"]))
        first = last + 1
    assert len(sentences) == 6
    levels = [speech_db(audio[round(a * 24000) : round(b * 24000)], 24000) for a, b in sentences]
    assert max(levels) - min(levels) <= MOST_DB_APART, np.round(levels, 2)
    # Resampling to 24 kHz can overshoot the engine's 0.98 by a little between its samples;
    # no sample reaches full scale.
    assert float(np.abs(audio).max()) < 32767 / 32768
