"""Pure speech synthesis: text in, 16-bit PCM out. Nothing here imports Django."""

from __future__ import annotations

from .audio import (
    SAMPLE_RATES,
    encode,
    float_to_pcm16,
    resample,
    streaming_wav_header,
    wav_bytes,
)
from .base import Engine, Interrupt, SpokenSentence, SynthesisOptions
from .piper import PiperEngine, known_phonemes, load_piper_engine, unknown_phonemes
from .words import WordTiming

__all__ = [
    "SAMPLE_RATES",
    "Engine",
    "Interrupt",
    "PiperEngine",
    "SpokenSentence",
    "SynthesisOptions",
    "WordTiming",
    "encode",
    "float_to_pcm16",
    "known_phonemes",
    "load_piper_engine",
    "resample",
    "streaming_wav_header",
    "unknown_phonemes",
    "wav_bytes",
]
