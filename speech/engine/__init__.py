"""Pure speech synthesis: text in, 16-bit PCM out. Nothing here imports Django."""

from __future__ import annotations

from .arena import keep_memory
from .audio import (
    SAMPLE_RATES,
    encode,
    float_to_pcm16,
    resample,
    streaming_wav_header,
    wav_bytes,
)
from .base import Engine, Interrupt, PhonemeChecker, SpokenSentence, SynthesisOptions
from .registry import (
    ENGINES,
    UnknownEngine,
    load_engine,
    phoneme_checker,
    release_memory,
    unload_model,
)
from .words import WordTiming

__all__ = [
    "ENGINES",
    "SAMPLE_RATES",
    "Engine",
    "Interrupt",
    "PhonemeChecker",
    "SpokenSentence",
    "SynthesisOptions",
    "UnknownEngine",
    "WordTiming",
    "encode",
    "float_to_pcm16",
    "keep_memory",
    "load_engine",
    "phoneme_checker",
    "release_memory",
    "resample",
    "streaming_wav_header",
    "unload_model",
    "wav_bytes",
]
