"""Piper neural voices on onnxruntime, loaded once per process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from .base import SynthesisOptions


class PiperEngine:
    """One loaded Piper voice; `synthesize` may be called from several threads at once."""

    def __init__(self, voice: PiperVoice) -> None:
        self.voice = voice
        self.sample_rate: int = voice.config.sample_rate

    @classmethod
    def load(cls, model_path: str | Path, config_path: str | Path, threads: int = 1) -> PiperEngine:
        """Load a voice with `threads` onnxruntime threads per synthesis call."""
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning threads burn CPU waiting for work and bought no speed here (ENGINE_NOTES).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        with open(config_path, encoding="utf-8") as config_file:
            config = PiperConfig.from_dict(json.load(config_file))
        return cls(PiperVoice(session=session, config=config))

    def synthesize(self, text: str, options: SynthesisOptions) -> np.ndarray:
        """Speak `text`; returns mono float32 samples at the voice's native rate."""
        sentences = list(self.synthesize_sentences(text, options))
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(sentences)

    def synthesize_sentences(self, text: str, options: SynthesisOptions) -> Iterator[np.ndarray]:
        """Speak `text` one sentence at a time (espeak-ng's sentences; commas stay inside)."""
        config = SynthesisConfig(
            speaker_id=options.speaker,
            length_scale=self.voice.config.length_scale / options.speed,
            noise_scale=options.noise_scale,
            noise_w_scale=options.noise_width,
            volume=options.volume,
        )
        silence = np.zeros(round(options.sentence_silence * self.sample_rate), dtype=np.float32)
        for chunk in self.voice.synthesize(text, config):
            audio = chunk.audio_float_array.astype(np.float32, copy=False)
            yield np.concatenate([audio, silence]) if silence.size else audio


_engines: dict[tuple[str, str, int], PiperEngine] = {}
_engines_lock = threading.Lock()


def load_piper_engine(model_path: str, config_path: str, threads: int = 1) -> PiperEngine:
    """Return the process's one loaded engine for this model, loading it the first time."""
    key = (model_path, config_path, threads)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = PiperEngine.load(model_path, config_path, threads)
        return engine
