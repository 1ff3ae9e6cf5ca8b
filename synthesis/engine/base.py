"""The interface every engine implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SynthesisOptions:
    """How to speak: 1.0 is the voice's natural speed, 2.0 twice as fast."""

    speed: float = 1.0
    speaker: int = 0
    # None means the voice model's own value.
    noise_scale: float | None = None
    noise_width: float | None = None
    sentence_silence: float = 0.0  # seconds of silence after each sentence
    volume: float = 1.0


class Engine(Protocol):
    """Turns text into mono float32 samples in [-1, 1] at `sample_rate`."""

    sample_rate: int

    def synthesize(self, text: str, options: SynthesisOptions) -> np.ndarray:
        """The whole text's audio."""
        ...

    def synthesize_sentences(self, text: str, options: SynthesisOptions) -> Iterator[np.ndarray]:
        """The text's audio one sentence at a time, each as soon as it is ready."""
        ...
