"""Sample-rate conversion and sample formats."""

from __future__ import annotations

import io
import wave

import numpy as np
import soxr

# The output rates clients may ask for (docs/protocol.md).
SAMPLE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono float32 audio with soxr (high quality; < 0.5 ms per audio second)."""
    if from_rate == to_rate or samples.size == 0:
        return samples
    return soxr.resample(samples, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """Convert float samples in [-1, 1] to signed 16-bit little-endian PCM."""
    clipped = np.clip(samples, -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


def wav_bytes(pcm16: bytes, sample_rate: int) -> bytes:
    """A complete mono 16-bit WAV file holding `pcm16`."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm16)
    return buffer.getvalue()
