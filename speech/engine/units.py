"""The longest piece of speech the voice model is given at once, and cutting sentences to it.

A Piper model's working memory grows with the audio of the sentence it is given, about 19 MB
per second of speech on en_US-joe-medium (docs/security.md), and nothing else bounds a
sentence: readings (an SSML alias, a long number read digit by digit, a lexicon phrase) are
never cut by the chunker, and a run of words without punctuation is one sentence to espeak-ng.
So every sentence is cut here, after it is turned into phonemes and before the model sees it,
into units of at most a few seconds of speech: at the last clause mark that fits, else at the
last space, and inside a word only when a word alone is longer than a unit.
"""

from __future__ import annotations

from collections.abc import Sequence

# About 4.7 s of speech at natural speed, 70 MB of the model's memory while it runs. Most
# sentences are shorter; a longer one is cut at a comma, where the voice pauses anyway.
DEFAULT_UNIT_PHONEMES = 100

# Phonemes that end a clause inside a sentence: the best places to cut, since the voice would
# pause there anyway.
_CLAUSE_MARKS = frozenset(",;:—–、，；：")


def unit_phonemes(max_phonemes: int, length_scale: float) -> int:
    """The most phonemes a unit may hold when each is spoken `length_scale` times as long.

    The bound is on audio, not phonemes: at half speed each phoneme lasts twice as long and
    takes twice the memory, so the unit holds half as many.
    """
    return max(8, int(max_phonemes / max(length_scale, 1e-3)))


def cut_sentences(sentences: Sequence[Sequence[str]], limit: int) -> list[list[str]]:
    """Each sentence whole if it fits in `limit` phonemes, else cut into units that do.

    A cut falls after a clause mark and its space, else at a space (dropped), else mid-word.
    Empty sentences are dropped.
    """
    units: list[list[str]] = []
    for sentence in sentences:
        rest = list(sentence)
        while len(rest) > limit:
            cut = _cut_at(rest, limit)
            head = rest[:cut]
            rest = rest[cut:]
            while head and head[-1].isspace():
                head.pop()
            while rest and rest[0].isspace():
                rest.pop(0)
            if head:
                units.append(head)
        if rest:
            units.append(rest)
    return units


def _cut_at(phonemes: list[str], limit: int) -> int:
    """Where to cut `phonemes` so that the head holds at most `limit` of them."""
    spaces = [i for i in range(1, limit + 1) if phonemes[i].isspace()]
    after_clause = [i for i in spaces if phonemes[i - 1] in _CLAUSE_MARKS]
    # A clause mark early in the unit would leave it short: prefer it only in the last half.
    if after_clause and after_clause[-1] >= limit // 2:
        return after_clause[-1]
    if spaces:
        return spaces[-1]
    return limit
