"""Where chunks meet: no clicks, and pauses that sound like one utterance."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from speech.engine import SynthesisOptions
from speech.text.script import Pause, Reading

from .clients import speak

PARAGRAPH = (
    "Hello there, thanks for calling. The weather today is sunny and warm. "
    "Please call me back tomorrow morning."
)


def quiet_runs(samples: np.ndarray, rate: int, min_seconds: float) -> list[tuple[float, float]]:
    """(start, length) in seconds of each stretch of 5 ms frames 45 dB or more below the peak."""
    frame = rate // 200
    frames = len(samples) // frame
    blocks = samples[: frames * frame].astype(np.float64).reshape(frames, frame)
    levels = np.sqrt(np.mean(blocks**2, axis=1))
    quiet = levels < np.max(np.abs(samples)) * 10 ** (-45 / 20)
    runs, start = [], None
    for number, is_quiet in enumerate([*quiet, False]):
        if is_quiet and start is None:
            start = number
        elif not is_quiet and start is not None:
            if (number - start) / 200 >= min_seconds:
                runs.append((start / 200, (number - start) / 200))
            start = None
    return runs


@pytest.mark.parametrize(
    "text",
    ["Hello there,", "thanks for calling.", "Is it far?", "and then we went home"],
)
def test_every_sentence_starts_at_once_and_fades_to_zero(engine, text):
    audio = engine.synthesize(text, SynthesisOptions())
    assert audio[0] == 0.0 and audio[-1] == 0.0
    # Piper's own lead-in is 25-55 ms; a sentence now starts within 15 ms.
    assert quiet_runs(audio, engine.sample_rate, 0.0)[0][0] == 0.0
    assert quiet_runs(audio, engine.sample_rate, 0.0)[0][1] <= 0.015


@pytest.mark.parametrize(
    ("text", "pause"),
    [("It ends here.", 0.30), ("Is it far?", 0.30), ("Well,", 0.25), ("a few words", 0.06)],
)
def test_the_pause_after_a_sentence_depends_on_how_it_ends(engine, text, pause):
    audio = engine.synthesize(text, SynthesisOptions())
    start, length = quiet_runs(audio, engine.sample_rate, 0.0)[-1]
    assert start + length == pytest.approx(len(audio) / engine.sample_rate, abs=0.006)
    assert length == pytest.approx(pause, abs=0.04)


def test_speed_shortens_the_pauses_and_extra_silence_lengthens_them(engine):
    normal = quiet_runs(engine.synthesize("It ends here.", SynthesisOptions()), 22050, 0.1)
    fast = quiet_runs(engine.synthesize("It ends here.", SynthesisOptions(speed=2.0)), 22050, 0.1)
    slow = quiet_runs(
        engine.synthesize("It ends here.", SynthesisOptions(sentence_silence=0.5)), 22050, 0.1
    )
    assert fast[-1][1] < normal[-1][1] - 0.1
    assert slow[-1][1] == pytest.approx(normal[-1][1] + 0.5, abs=0.02)


async def test_chunks_join_without_clicks_or_uneven_gaps(connect):
    socket = await connect()
    messages = await speak(socket, PARAGRAPH, sample_rate=24000)
    assert messages[-1]["data"]["chunks"] >= 4
    pieces = [
        np.frombuffer(base64.b64decode(m["data"]["audio"]), dtype="<i2").astype(np.int32)
        for m in messages
        if m["status"] == "chunk"
    ]
    audio = np.concatenate(pieces)
    seams = np.cumsum([len(piece) for piece in pieces])[:-1]

    # The largest step between neighbouring samples where two chunks meet, against speech.
    steps = [abs(audio[seam] - audio[seam - 1]) for seam in seams]
    assert max(steps) <= 16, steps
    assert np.max(np.abs(np.diff(audio))) > 1000  # speech itself moves much faster

    # The text is split after "Hello there," and after each sentence: three pauses, each as
    # long as a comma's or a full stop's, with no other long silence and almost no lead-in.
    runs = quiet_runs(audio, 24000, 0.15)
    end = len(audio) / 24000 - 0.01
    inner = [length for start, length in runs if start > 0 and start + length < end]
    assert len(inner) == 3, runs
    assert all(0.2 <= length <= 0.4 for length in inner), inner
    # The first chunk ("Hello there,") starts within 15 ms of its speech. Measured against its
    # own peak: sentences are levelled by loudness, so their peaks differ (loudness.py).
    assert quiet_runs(pieces[0], 24000, 0.0)[0][1] <= 0.015


def said(*items: str | float) -> list[Reading | Pause]:
    """A script: strings are read as written, numbers are pauses in seconds."""
    return [Pause(item) if isinstance(item, float) else Reading(item, item) for item in items]


@pytest.mark.parametrize(
    "script, gap",
    [
        (said("It ends here.", 1.0, "And goes on."), 1.0),
        # Shorter than the 0.3 s the full stop would give: the pause replaces it.
        (said("It ends here.", 0.08, "And goes on."), 0.08),
        (said("No stop", 0.5, "and on."), 0.5),
        (said("It ends here.", 0.3, 0.4, "And goes on."), 0.7),  # pauses in a row add up
    ],
)
def test_a_script_pause_is_the_gap_between_its_words(engine, script, gap):
    audio = engine.synthesize(script, SynthesisOptions())
    # The gap, as the tail kept after the speech (down to -45 dB) plus the silence after it.
    runs = quiet_runs(audio, 22050, 0.04)
    inner = [length for start, length in runs if start > 0 and start + length < len(audio) / 22050]
    assert len(inner) >= 1
    # Within 0.1 s: the voice's own quiet edges (a final stop consonant) vary from run to run;
    # the pause the punctuation would give (0.3 s after a full stop) is farther off than that.
    assert abs(max(inner) - gap) <= 0.1, runs


def test_a_script_may_start_with_a_pause(engine):
    audio = engine.synthesize(said(0.5, "Hello."), SynthesisOptions())
    first_sound = np.flatnonzero(np.abs(audio) > 0.01)[0] / 22050
    assert 0.5 <= first_sound <= 0.53
