"""Sentence edges: every sentence gets the same short lead-in and a pause that fits its ending.

Piper starts each sentence with 25-55 ms and ends it with 100-290 ms of near-silence, varying
from sentence to sentence (measured on en_US-joe-medium). A request's chunks are synthesized
separately, so without shaping, the gap where two chunks meet would be whatever those two
margins add up to: a clause split after a comma could pause longer than a full stop elsewhere.
Here each sentence is trimmed to its speech, faded in and out over a few milliseconds (so no
edge can click), and followed by a pause chosen from how it ends. The same rule applies inside
a chunk and across chunks, so the joined audio pauses as one utterance would.
"""

from __future__ import annotations

import numpy as np

# A 5 ms frame counts as speech when its level is within 45 dB of the sentence's peak.
FRAME_SECONDS = 0.005
SPEECH_BELOW_PEAK_DB = 45.0
# Kept around the speech, so soft onsets and decays are not cut.
KEEP_BEFORE_SECONDS = 0.010
KEEP_AFTER_SECONDS = 0.030
FADE_SECONDS = 0.005

# Pauses added after the kept tail, before `speed` and the voice's extra sentence silence.
# With the margins they give gaps of about 300 ms after a sentence and 250 ms after a clause,
# close to the pauses the model makes inside one sentence at a comma (200-350 ms), and a
# word-sized gap where a long run of words had to be split.
SENTENCE_PAUSE_SECONDS = 0.26
CLAUSE_PAUSE_SECONDS = 0.21
WORD_PAUSE_SECONDS = 0.02

SENTENCE_ENDS = frozenset(".!?…。！？")
CLAUSE_ENDS = frozenset(",;:—–、，；：")


def speech_bounds(audio: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """The samples to keep: the speech plus its margins, as [start, end). (0, 0) if silent."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0.0:
        return 0, 0
    frame = max(1, round(FRAME_SECONDS * sample_rate))
    frames = audio.size // frame
    if frames == 0:
        return 0, audio.size
    levels = np.sqrt(np.mean(np.square(audio[: frames * frame].reshape(frames, frame)), axis=1))
    loud = np.flatnonzero(levels >= peak * 10 ** (-SPEECH_BELOW_PEAK_DB / 20))
    if loud.size == 0:
        return 0, audio.size
    start = max(0, loud[0] * frame - round(KEEP_BEFORE_SECONDS * sample_rate))
    end = min(audio.size, (loud[-1] + 1) * frame + round(KEEP_AFTER_SECONDS * sample_rate))
    return int(start), int(end)


def fade_edges(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A copy of `audio` rising from and falling to exactly zero over FADE_SECONDS."""
    faded = audio.astype(np.float32, copy=True)
    length = min(round(FADE_SECONDS * sample_rate), faded.size // 2)
    if length > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, length, dtype=np.float32))).astype(
            np.float32
        )
        faded[:length] *= ramp
        faded[-length:] *= ramp[::-1]
    return faded


def pause_after(phonemes: str) -> float:
    """Seconds of pause after a sentence whose phonemes end like this (Piper keeps punctuation)."""
    stripped = phonemes.rstrip()
    last = stripped[-1:] if stripped else ""
    if last in SENTENCE_ENDS:
        return SENTENCE_PAUSE_SECONDS
    if last in CLAUSE_ENDS:
        return CLAUSE_PAUSE_SECONDS
    return WORD_PAUSE_SECONDS
