"""Piper neural voices on onnxruntime, loaded once per process."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig
from piper.voice import AudioChunk

from speech.text.script import Pause, Reading, Script

from . import arena
from .base import Interrupt, PhonemeChecker, SpokenSentence, SynthesisOptions
from .loudness import level
from .seams import KEEP_AFTER_SECONDS, fade_edges, pause_after, speech_bounds
from .units import DEFAULT_UNIT_PHONEMES, cut_sentences, unit_phonemes
from .words import (
    WordTiming,
    count_phoneme_words,
    phoneme_word_spans,
    timings_for,
    word_shares,
)

logger = logging.getLogger(__name__)


# Run in a child process: onnx holds the whole model in memory twice while patching it, and
# the parent's heap would keep that high-water mark (about 115 MB) for the rest of its life.
_PATCH_SCRIPT = """
import sys
import onnx
from piper.patch_voice_with_alignment import add_alignment_output
model = onnx.load(sys.argv[1])
try:
    add_alignment_output(model)
except ValueError:  # already patched, or a graph piper does not know how to patch
    sys.exit(3)
onnx.save(model, sys.argv[2])
"""


def model_with_alignments(model_path: str | Path, cache_dir: str | Path | None = None) -> str:
    """A copy of the model that also outputs each phoneme's length, for word timings.

    Made once per model file (its path, size and mtime) in `cache_dir` and reused after that.
    The extra output costs no measurable synthesis time. If the copy cannot be made (no `onnx`
    package, or a model piper cannot patch), the model is used as it is: word timings are then
    estimated from an even spread.
    """
    source = Path(model_path).resolve()
    stat = source.stat()
    key = hashlib.sha256(f"{source}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    directory = Path(cache_dir or Path(tempfile.gettempdir()) / "tts-aligned-models")
    target = directory / f"{source.stem}-{key[:16]}.onnx"
    if target.exists():
        return str(target)
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        subprocess.run(
            [sys.executable, "-c", _PATCH_SCRIPT, str(source), str(partial)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        os.replace(partial, target)  # atomic: processes racing to make it all get a whole file
    except (OSError, subprocess.SubprocessError) as error:
        stderr = (getattr(error, "stderr", b"") or b"").decode(errors="replace").strip()
        logger.warning(
            "Could not add phoneme timings to %s (%s); word timings will be estimated. %s",
            source,
            error,
            stderr.splitlines()[-1] if stderr else "",
        )
        partial.unlink(missing_ok=True)
        return str(source)
    return str(target)


class _RunOptions:
    """onnxruntime's options for the model runs of one synthesis, terminated on its Interrupt.

    onnxruntime checks `RunOptions.terminate` while it runs the model, so an interrupt ends the
    sentence being synthesized within milliseconds instead of after it (0.1-1.5 s).
    """

    def __init__(self, interrupt: Interrupt | None = None) -> None:
        # Runs of short units keep the memory they used, runs of long ones give it back.
        self.run_options = onnxruntime.RunOptions()
        self.shrinking_run_options = onnxruntime.RunOptions()
        self.shrinking_run_options.add_run_config_entry(
            "memory.enable_memory_arena_shrinkage", "cpu:0"
        )
        if interrupt is not None:
            interrupt.when_interrupted(self.terminate)

    def terminate(self) -> None:
        self.run_options.terminate = True
        self.shrinking_run_options.terminate = True

    def options_for(self, input_feed: Any) -> onnxruntime.RunOptions:
        """The run's options: give back the arena memory the run grew, when it ends, if the
        unit is long (_SHRINK_ABOVE_IDS) and the process keeps more than its budget
        (arena.py).

        onnxruntime's arena otherwise keeps the most it ever held, for good: the process
        stays at the size of the largest sentences it ever spoke at once. Shrinking returns
        the grown part to glibc, and arena.free_large_buffers_to_the_system has glibc return
        it to the system. Short units (first clauses, short sentences) skip it: they grow the
        arena little, and re-growing it on every run cost them 20 % of their time; within the
        budget long units skip it too, since re-growing cost them 5-10 % (docs/security.md).
        Length is counted in audio: phoneme ids times the length scale.
        """
        if not isinstance(input_feed, dict) or "input" not in input_feed:
            return self.shrinking_run_options
        length = float(input_feed["input"].shape[-1])
        scales = input_feed.get("scales")
        if scales is not None and len(scales) > 1:
            length *= float(scales[1])  # length_scale: slower speech, longer audio
        if length > _SHRINK_ABOVE_IDS and arena.over_budget():
            return self.shrinking_run_options
        return self.run_options


# Phoneme ids of a unit (at natural speed) above which its run gives back its arena memory:
# Piper puts a pad after each phoneme, so 81 ids are 40 phonemes, about 2 s of speech, 30 MB.
# A first clause stays under it.
_SHRINK_ABOVE_IDS = 81

# For runs that no Interrupt watches (shared: nothing sets their terminate flag).
_UNWATCHED = _RunOptions()
_calling_thread = threading.local()


class _InterruptibleSession:
    """The voice's session, running with the calling thread's synthesis's RunOptions.

    piper calls `session.run(None, inputs)` itself, so the options travel by thread: the
    synthesis generator sets them on the thread that advances it.
    """

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self._session = session

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        if run_options is None:
            runs = getattr(_calling_thread, "runs", None) or _UNWATCHED
            run_options = runs.options_for(input_feed)
            if getattr(_calling_thread, "shrink", False):
                run_options = runs.shrinking_run_options
        return self._session.run(output_names, input_feed, run_options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class PiperEngine:
    """One loaded Piper voice; `synthesize` may be called from several threads at once."""

    def __init__(self, voice: PiperVoice, max_unit_phonemes: int = DEFAULT_UNIT_PHONEMES) -> None:
        self.voice = voice
        self.sample_rate: int = voice.config.sample_rate
        # The longest unit the model is given at once, in phonemes at natural speed: the
        # model's memory grows with it (units.py).
        self.max_unit_phonemes = max_unit_phonemes

    @classmethod
    def load(
        cls,
        model_path: str | Path,
        config_path: str | Path,
        threads: int = 1,
        aligned_dir: str | Path | None = None,
        max_unit_phonemes: int = DEFAULT_UNIT_PHONEMES,
    ) -> PiperEngine:
        """Load a voice with `threads` onnxruntime threads per synthesis call.

        `aligned_dir` keeps the copy of the model with phoneme timings (model_with_alignments).
        """
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning threads burn CPU waiting for work and bought no speed here: turning it off
        # kept the speed and cut CPU by 10-15 %.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        arena.free_large_buffers_to_the_system()
        arena.register_shared_arena()
        options.add_session_config_entry("session.use_env_allocators", "1")
        session = onnxruntime.InferenceSession(
            model_with_alignments(model_path, aligned_dir),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        arena.note_loaded()
        with open(config_path, encoding="utf-8") as config_file:
            config = PiperConfig.from_dict(json.load(config_file))
        voice = PiperVoice(session=_InterruptibleSession(session), config=config)
        return cls(voice, max_unit_phonemes)

    @classmethod
    def phoneme_checker(cls, config_path: str | Path) -> PhonemeChecker:
        """What of some IPA a voice cannot say, checked against its config's phoneme_id_map
        (read once per config); the model is not loaded."""
        return functools.partial(_unknown_phonemes, config_path=str(config_path))

    def release_memory(self) -> None:
        """Give back the arena memory that runs of short units keep (they keep it to run
        faster next time): one tiny run that shrinks the arena when it ends. Then one short
        run grows it again to what a first clause takes, so that the next request's first
        audio is as fast as ever (without it, 6-14 ms slower)."""
        _calling_thread.shrink = True
        try:
            self.synthesize("a", SynthesisOptions())
        finally:
            _calling_thread.shrink = False
        self.synthesize("Hello there, how are you?", SynthesisOptions())

    def phonemize(self, text: str) -> list[str]:
        """The IPA phonemes espeak-ng gives the voice for `text`, one string per sentence."""
        return ["".join(sentence) for sentence in self.voice.phonemize(text)]

    def synthesize(self, text: str | Script, options: SynthesisOptions) -> np.ndarray:
        """Speak `text`; returns mono float32 samples at the voice's native rate."""
        sentences = [sentence.audio for sentence in self.synthesize_sentences(text, options)]
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(sentences)

    def synthesize_sentences(
        self,
        text: str | Script,
        options: SynthesisOptions,
        word_timings: bool = False,
        interrupt: Interrupt | None = None,
    ) -> Iterator[SpokenSentence]:
        """Speak `text` one sentence at a time (espeak-ng's sentences; commas stay inside).

        `text` is said as written, or is a script: readings (written words and what to say for
        them) and pauses. Each sentence is trimmed to its speech and followed by a pause that
        fits its ending (seams.py), or by the script's pause. With `word_timings`, each sentence
        carries the written words that end in it. Once `interrupt` is interrupted, the sentence
        being synthesized is abandoned and no more are yielded.
        """
        script = [Reading(word, word) for word in text.split()] if isinstance(text, str) else text
        sentences = self._sentences(script, options, word_timings)
        runs = _UNWATCHED if interrupt is None else _RunOptions(interrupt)
        while interrupt is None or not interrupt.interrupted:
            _calling_thread.runs = runs
            try:
                sentence = next(sentences, None)
            except Exception:
                if interrupt is not None and interrupt.interrupted:
                    return  # onnxruntime stopped on the terminate flag
                raise
            finally:
                _calling_thread.runs = None
            if sentence is None:
                return
            yield sentence

    def _sentences(
        self, script: Script, options: SynthesisOptions, word_timings: bool
    ) -> Iterator[SpokenSentence]:
        config = SynthesisConfig(
            speaker_id=options.speaker,
            length_scale=self.voice.config.length_scale / options.speed,
            noise_scale=options.noise_scale,
            noise_w_scale=options.noise_width,
            # Piper would scale each sentence to its own peak; loudness.py levels them instead.
            normalize_audio=False,
        )
        rate = self.sample_rate
        runs = _runs(script)
        # Each run's sentences as phonemes, cut into units the model can take (units.py).
        limit = unit_phonemes(
            self.max_unit_phonemes, self.voice.config.length_scale / options.speed
        )
        phonemized = [
            cut_sentences(self.voice.phonemize(text), limit) if text else [] for text, _, _ in runs
        ]
        words: list[str] = []
        shares: list[tuple[float, float]] = []
        if word_timings:
            phoneme_words = sum(
                count_phoneme_words(sentence) for sentences in phonemized for sentence in sentences
            )
            readings = [reading for _, run, _ in runs for reading in run]
            words, shares = word_shares(readings, phoneme_words, self._count_phoneme_words)
        spans: list[tuple[float, float]] = []  # phoneme words so far, in seconds
        timed = 0  # words timed so far
        elapsed = 0.0  # seconds of audio so far
        for (text, _, then_pause), sentences in zip(runs, phonemized, strict=True):
            chunks = _speaking(self.voice, sentences).synthesize(
                text, config, include_alignments=word_timings
            )
            for number, chunk in enumerate(chunks):
                raw = chunk.audio_float_array
                start, end = speech_bounds(raw, rate)
                if then_pause is not None and number == len(sentences) - 1:
                    # The kept tail is part of the gap the script asks for.
                    pause = max(0.0, then_pause - KEEP_AFTER_SECONDS)
                else:
                    pause = pause_after("".join(chunk.phonemes)) / options.speed
                    pause += options.sentence_silence
                speech = level(raw[start:end], rate, options.volume)
                audio = np.concatenate(
                    [fade_edges(speech, rate), np.zeros(round(pause * rate), np.float32)]
                )
                ready: list[WordTiming] = []
                if shares:
                    for span_start, span_end in phoneme_word_spans(_alignments(chunk)):
                        spans.append(
                            (
                                elapsed + (min(max(span_start, start), end) - start) / rate,
                                elapsed + (min(max(span_end, start), end) - start) / rate,
                            )
                        )
                    done = timed
                    while done < len(shares) and shares[done][1] <= len(spans) + 1e-9:
                        done += 1
                    ready = timings_for(words[timed:done], shares[timed:done], spans)
                    timed = done
                elapsed += audio.size / rate
                yield SpokenSentence(audio, tuple(ready))
            if then_pause is not None and not sentences:  # a pause with nothing to say before it
                silence = np.zeros(round(then_pause * rate), np.float32)
                elapsed += silence.size / rate
                yield SpokenSentence(silence)
        if timed < len(shares) and spans:  # not expected: the counts come from the same phonemes
            yield SpokenSentence(
                np.zeros(0, np.float32), tuple(timings_for(words[timed:], shares[timed:], spans))
            )

    def _count_phoneme_words(self, word: str) -> int:
        return sum(map(count_phoneme_words, self.voice.phonemize(word)))


def _speaking(voice: PiperVoice, sentences: list[list[str]]) -> PiperVoice:
    """The voice, reading `sentences` (phonemes) whatever text it is given.

    piper's `synthesize` phonemizes its text itself and offers no call that takes phonemes, yet
    its per-sentence work (the model run, the alignments) is what is wanted here. A shallow
    copy per call whose `phonemize` returns the units made already keeps that work piper's own,
    and is safe on several threads at once, as the shared voice is left untouched.
    """
    speaking = copy.copy(voice)
    speaking.phonemize = lambda text: sentences  # type: ignore[method-assign]
    return speaking


def _runs(script: Script) -> list[tuple[str, list[Reading], float | None]]:
    """The script cut at its pauses: each run's spoken text, its readings, and the pause after
    it (None at the end). Pauses in a row add up: the runs between them are empty."""
    runs: list[tuple[str, list[Reading], float | None]] = []
    readings: list[Reading] = []
    for item in script:
        if isinstance(item, Pause):
            runs.append((_spoken(readings), readings, item.seconds))
            readings = []
        else:
            readings.append(item)
    if readings or not runs:
        runs.append((_spoken(readings), readings, None))
    return runs


def _spoken(readings: list[Reading]) -> str:
    return " ".join(reading.spoken for reading in readings if reading.spoken)


def _alignments(chunk: AudioChunk) -> list[tuple[str, int]]:
    """(phoneme, samples) for a sentence, including the model's start and end marks.

    A model without the alignment output gets an even spread over the sentence: rough, but
    still one timing per word, in order.
    """
    if chunk.phoneme_alignments:
        return [(a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments]
    phonemes = ["^", *chunk.phonemes, "$"]
    each = chunk.audio_float_array.size / len(phonemes)
    return [
        (phoneme, round((i + 1) * each) - round(i * each)) for i, phoneme in enumerate(phonemes)
    ]


@functools.cache
def known_phonemes(config_path: str) -> frozenset[str]:
    """The phonemes a Piper voice can say: the keys of its config's phoneme_id_map.

    Phonemes given to the voice directly (`[[ ... ]]`) that it does not know would be dropped
    in silence, so SSML `<phoneme>` and lexicon entries are checked against this first.
    """
    with open(config_path, encoding="utf-8") as config_file:
        phoneme_map = json.load(config_file).get("phoneme_id_map", {})
    return frozenset(phoneme for phoneme in phoneme_map if phoneme.strip())


def _unknown_phonemes(ipa: str, config_path: str) -> list[str]:
    """The characters of `ipa` (besides spaces) that the voice cannot say, each once."""
    known = known_phonemes(config_path)
    return list(dict.fromkeys(char for char in ipa if not char.isspace() and char not in known))
