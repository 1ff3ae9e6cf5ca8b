"""Word timings from phoneme alignments.

Piper reports how many samples each phoneme took, and separates the words of its phoneme
string with spaces, but it does not say which phoneme word came from which written word, and
the two do not always pair up: a reading of "$12.50" is "twelve dollars and fifty cents", and a
hyphenated word may be one phoneme word or two. So each reading (written words and what is said
for them, speech/text/tracking.py) is given a share of the phoneme words: as many as it says
words when the counts agree; otherwise as many as its spoken text gives when phonemized on its
own; and if even those do not add up, shares in proportion to them. A share may cover part of a
phoneme word, whose time is then divided evenly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from speech.text.script import Reading

_TOKEN = re.compile(r"\S+")
# Marks the model's sentence start and end in alignments.
_BOUNDARIES = frozenset("^$")


@dataclass(frozen=True)
class WordTiming:
    """A written word and when it is heard, in seconds."""

    word: str
    start: float
    end: float


# Punctuation espeak-ng does not read aloud (checked one by one); "&", "%", "#", "*" and "/"
# are read ("and", "percent", ...), so a token made of them is a word.
_SILENT = frozenset("!\"'()[]{}<>,-.:;?^_`|¡¿«»“”‘’„‚‐‑‒–—―…·。、，；：！？「」『』（）")


def text_words(text: str) -> list[str]:
    """The written tokens that may be spoken: all but those made only of silent punctuation."""
    return [token for token in _TOKEN.findall(text) if not _SILENT.issuperset(token)]


def written_words(reading: Reading) -> list[str]:
    """The words of what was written: punctuation is a word too where something is said for
    it ("-" read as "minus" with math notation)."""
    words = text_words(reading.written)
    if not words and reading.spoken != reading.written and text_words(reading.spoken):
        return reading.written.split()
    return words


def word_label(token: str) -> str:
    """A word as reported: without the silent punctuation around it ("calling." is "calling")."""
    return token.strip("".join(_SILENT)) or token


def _is_word_phoneme(phoneme: str) -> bool:
    return bool(phoneme.strip()) and phoneme not in _BOUNDARIES and phoneme not in _SILENT


def count_phoneme_words(phonemes: Sequence[str]) -> int:
    """How many words a sentence's phonemes hold (space-separated runs of sounds)."""
    return len(phoneme_word_spans([(phoneme, 1) for phoneme in phonemes]))


def phoneme_word_spans(alignments: Sequence[tuple[str, int]]) -> list[tuple[int, int]]:
    """Each phoneme word's [start, end) in samples, from (phoneme, samples) alignments."""
    spans: list[tuple[int, int]] = []
    position = 0
    start: int | None = None
    end = 0
    for phoneme, samples in alignments:
        if _is_word_phoneme(phoneme):
            if start is None:
                start = position
            end = position + samples
        elif start is not None and phoneme.isspace():
            spans.append((start, end))
            start = None
        position += samples
    if start is not None:
        spans.append((start, end))
    return spans


def word_shares(
    readings: Sequence[Reading], phoneme_words: int, count_alone: Callable[[str], int]
) -> tuple[list[str], list[tuple[float, float]]]:
    """The written words of `readings`, and each one's [start, end) position in the sequence of
    phoneme words their spoken text makes.

    A reading's share is first estimated as the words it says; when those do not add up to
    `phoneme_words`, as the phoneme words its spoken text gives on its own; and if even those do
    not, shares are made proportional to them. A reading's written words split its share
    evenly. Positions are fractional where words share a phoneme word; they never decrease. A
    reading that says nothing (when that accounts for every phoneme word) gives its words
    empty shares.
    """
    written = [written_words(reading) for reading in readings]
    words = [word for group in written for word in group]
    if not words or phoneme_words == 0:
        return words, []
    sizes = [len(text_words(reading.spoken)) for reading in readings]
    if sum(sizes) != phoneme_words:
        sizes = [count_alone(reading.spoken) for reading in readings]
        if sum(sizes) != phoneme_words:
            # Proportional shares; a reading that says nothing alone still gets a sliver.
            sizes = [
                max(size, 1) if group else size for size, group in zip(sizes, written, strict=True)
            ]
    scale = phoneme_words / sum(sizes) if sum(sizes) else 0.0
    shares = []
    done = 0.0
    for size, group in zip(sizes, written, strict=True):
        each = size * scale / len(group) if group else 0.0
        for _ in group:
            shares.append((done, done + each))
            done += each
        if not group:
            done += size * scale
    return words, shares


def timings_for(
    words: Sequence[str],
    shares: Sequence[tuple[float, float]],
    spans: Sequence[tuple[float, float]],
) -> list[WordTiming]:
    """Turn each word's share of phoneme words into times, given the phoneme words' times.

    Words with an empty share are not spoken and get no timing.
    """
    timings = []
    for word, (first, last) in zip(words, shares, strict=True):
        if first < last:
            start, end = _time_at(spans, first, True), _time_at(spans, last, False)
            timings.append(WordTiming(word_label(word), start, end))
    return timings


def _time_at(spans: Sequence[tuple[float, float]], position: float, starting: bool) -> float:
    """The time at a fractional position in the phoneme words.

    At a whole number n, a start is the start of word n and an end is the end of word n - 1,
    so the silence between words belongs to neither.
    """
    index = math.floor(position) if starting else math.ceil(position) - 1
    index = min(max(index, 0), len(spans) - 1)
    fraction = min(max(position - index, 0.0), 1.0)
    start, end = spans[index]
    return start + fraction * (end - start)
