"""Steady loudness: every sentence's speech at one level, whichever sentence it is.

Piper scales each sentence so that its own peak reaches full scale. Sentences differ in how far
their average sits below their peak, so the level jumped by up to 3.1 dB from one sentence to
the next over a six-sentence paragraph (a question, an exclamation, a long list). Turning that
scaling off is not enough: the model's raw output varies more, 5.3 dB over the same paragraph.
So each sentence's speech (its 5 ms frames within 45 dB of its peak, as in seams.py, so that
pauses do not count) is brought to one RMS level, the voice's volume is applied on top, and the
rare peaks that would then pass full scale are bent softly under it rather than clipped.
"""

from __future__ import annotations

import numpy as np

from .seams import FRAME_SECONDS, SPEECH_BELOW_PEAK_DB

# The speech level every sentence is brought to, in dB below full scale. Peak-normalized Piper
# speech lies between -19 and -16 dBFS; -18 keeps that loudness with room for peaks.
TARGET_SPEECH_DBFS = -18.0
# Peaks above LIMIT_FROM are bent towards CEILING and never pass it: no sample clips, and
# nothing below LIMIT_FROM changes.
LIMIT_FROM = 0.8
CEILING = 0.98


def speech_rms(audio: np.ndarray, sample_rate: int) -> float:
    """The RMS of the sentence's speech frames; 0.0 for silence."""
    frame = max(1, round(FRAME_SECONDS * sample_rate))
    frames = audio.size // frame
    if frames == 0:
        return float(np.sqrt(np.mean(np.square(audio)))) if audio.size else 0.0
    energy = np.mean(np.square(audio[: frames * frame].reshape(frames, frame)), axis=1)
    loudest = float(energy.max())
    if loudest <= 0.0:
        return 0.0
    speech = energy[energy >= loudest * 10 ** (-SPEECH_BELOW_PEAK_DB / 10)]
    return float(np.sqrt(np.mean(speech)))


def level(audio: np.ndarray, sample_rate: int, volume: float = 1.0) -> np.ndarray:
    """`audio` with its speech at TARGET_SPEECH_DBFS times `volume`, peaks kept under 1."""
    rms = speech_rms(audio, sample_rate)
    if rms <= 0.0:
        return audio.astype(np.float32, copy=True)
    gain = 10 ** (TARGET_SPEECH_DBFS / 20) * volume / rms
    return soft_limit(audio.astype(np.float32) * np.float32(gain))


def soft_limit(audio: np.ndarray) -> np.ndarray:
    """Samples above LIMIT_FROM in size bent smoothly towards CEILING (slope 1 where the bend
    starts, so there is no kink); the rest unchanged."""
    over = np.abs(audio) > LIMIT_FROM
    if not over.any():
        return audio
    limited = audio.copy()
    excess = np.abs(audio[over]) - LIMIT_FROM
    room = CEILING - LIMIT_FROM
    limited[over] = np.sign(audio[over]) * (LIMIT_FROM + room * np.tanh(excess / room))
    return limited
