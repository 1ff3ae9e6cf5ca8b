"""The interface every engine implements."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from speech.text.script import Script

from .words import WordTiming


@dataclass(frozen=True)
class SynthesisOptions:
    """How to speak: 1.0 is the voice's natural speed, 2.0 twice as fast."""

    speed: float = 1.0
    speaker: int = 0
    # None means the voice model's own value.
    noise_scale: float | None = None
    noise_width: float | None = None
    sentence_silence: float = 0.0  # seconds of extra silence after each sentence
    volume: float = 1.0


@dataclass(frozen=True)
class SpokenSentence:
    """One sentence's audio, mono float32 in [-1, 1] at the engine's rate, with its pause after.

    `words` holds, when asked for, the written words whose sound ends in this sentence, timed
    in seconds from the start of the whole text's audio.
    """

    audio: np.ndarray
    words: tuple[WordTiming, ...] = ()


# What of some IPA a voice cannot say: each such character once, spaces aside.
PhonemeChecker = Callable[[str], list[str]]


class Interrupt:
    """Lets another thread stop a synthesis, in the middle of a sentence if the engine can.

    The engine says how to stop its own work with `when_interrupted` (Piper sets the flag its
    model run checks, so the sentence ends within milliseconds instead of after 0.1-1.5 s).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interrupted = False
        self._stops: list[Callable[[], object]] = []
        # Called by interrupt() after the engine's stops, e.g. to drop work not started yet.
        self.on_interrupt: Callable[[], object] | None = None

    def interrupt(self) -> None:
        with self._lock:
            self._interrupted = True
            stops, self._stops = self._stops, []
        for stop in stops:
            stop()
        if self.on_interrupt is not None:
            self.on_interrupt()

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def when_interrupted(self, stop: Callable[[], object]) -> None:
        """Call `stop` on interrupt(), or now if that has happened already."""
        with self._lock:
            if not self._interrupted:
                self._stops.append(stop)
                return
        stop()


class Engine(Protocol):
    """Turns text into speech at `sample_rate`.

    Engines are loaded and their phonemes checked through registry.py, by kind.
    """

    sample_rate: int

    def synthesize(self, text: str | Script, options: SynthesisOptions) -> np.ndarray:
        """The whole text's audio."""
        ...

    def synthesize_sentences(
        self,
        text: str | Script,
        options: SynthesisOptions,
        word_timings: bool = False,
        interrupt: Interrupt | None = None,
    ) -> Iterator[SpokenSentence]:
        """The text's audio one sentence at a time, each as soon as it is ready.

        A script (speech/text/script.py) says readings and pauses; a string is said as is.
        """
        ...

    def phonemize(self, text: str) -> list[str]:
        """The IPA phonemes the voice says for `text`, one string per sentence."""
        ...

    def release_memory(self) -> None:
        """Give back what the engine keeps from earlier work for later (called when idle)."""
        ...
