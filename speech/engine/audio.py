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


# G.711 (ITU-T), for telephone lines: 8-bit samples, companded. Bit-exact with the reference
# encoder (checked against it for every 16-bit input in tests/test_audio_formats.py).


def pcm16_to_ulaw(pcm16: bytes) -> bytes:
    """Encode signed 16-bit little-endian PCM as G.711 mu-law."""
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.int32) >> 2  # 14-bit
    mask = np.where(samples < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(samples), 8159) + 0x21
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude)
    value = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])


def pcm16_to_alaw(pcm16: bytes) -> bytes:
    """Encode signed 16-bit little-endian PCM as G.711 A-law."""
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.int32) >> 3  # 13-bit
    mask = np.where(samples >= 0, 0xD5, 0x55)
    magnitude = np.where(samples >= 0, samples, -samples - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    shift = np.where(segment < 2, 1, segment)
    value = (segment << 4) | ((magnitude >> shift) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def streaming_wav_header(sample_rate: int) -> bytes:
    """A WAV header for 16-bit mono PCM of a length not known yet.

    The sizes are 0xFFFFFFFF, the usual marker for a stream: decoders read to the end.
    """
    return (
        b"RIFF"
        + (0xFFFFFFFF).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")  # PCM
        + (1).to_bytes(2, "little")  # mono
        + sample_rate.to_bytes(4, "little")
        + (sample_rate * 2).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data"
        + (0xFFFFFFFF).to_bytes(4, "little")
    )


def encode(pcm16: bytes, output_format: str) -> bytes:
    """16-bit PCM in one of the output formats' sample encodings (`wav` carries PCM)."""
    if output_format == "ulaw":
        return pcm16_to_ulaw(pcm16)
    if output_format == "alaw":
        return pcm16_to_alaw(pcm16)
    return pcm16
