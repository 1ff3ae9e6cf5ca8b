"""Pure speech synthesis: text in, 16-bit PCM out. Nothing here imports Django."""

from __future__ import annotations

from .audio import SAMPLE_RATES, float_to_pcm16, resample, wav_bytes
from .base import Engine, SynthesisOptions
from .piper import PiperEngine, load_piper_engine

__all__ = [
    "SAMPLE_RATES",
    "Engine",
    "PiperEngine",
    "SynthesisOptions",
    "float_to_pcm16",
    "load_piper_engine",
    "resample",
    "wav_bytes",
]
