"""The longest piece of speech the voice model is given at once, and cutting sentences to it.

A Piper model's working memory grows with the audio of the sentence it is given, about 19 MB
per second of speech on en_US-joe-medium (docs/security.md), and nothing else bounds a
sentence: readings (an SSML alias, a long number read digit by digit, a lexicon phrase) are
never cut by the chunker, and a run of words without punctuation is one sentence to espeak-ng.
So every sentence is cut here, after it is turned into phonemes and before the model sees it,
into units of at most a few seconds of speech: at the last clause mark that fits, else after
the last stressed word, else at the last space, and inside a word only when a word alone is
longer than a unit.
"""

from __future__ import annotations

from collections.abc import Sequence

# About 3.3 s of speech at natural speed, 60 MB of the model's memory while it runs, and
# 0.3 s of one core. Half of conversational sentences are shorter; a longer one is cut at a
# comma, where the voice pauses anyway, or after a stressed word.
DEFAULT_UNIT_PHONEMES = 70

# Phonemes that end a clause inside a sentence: the best places to cut, since the voice would
# pause there anyway.
_CLAUSE_MARKS = frozenset(",;:—–、，；：")
# espeak-ng marks the stressed syllable of each content word; little words go unmarked.
_PRIMARY_STRESS = "ˈ"


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
    """Where to cut `phonemes` so that the head holds at most `limit` of them.

    Best after a clause mark, where the voice pauses anyway; else after a stressed word, so
    that the head does not end on an unstressed little word ("at the | same price" sounds
    broken, "for another year | at the same price" does not); else at the last space. A cut
    early in the unit would leave it short, so the first two are taken only in its last half.
    """
    spaces = [i for i in range(1, limit + 1) if phonemes[i].isspace()]
    late = [i for i in spaces if i >= limit // 2]
    after_clause = [i for i in late if phonemes[i - 1] in _CLAUSE_MARKS]
    if after_clause:
        return after_clause[-1]
    after_stress = [i for i in late if _stressed_word_before(phonemes, i)]
    if after_stress:
        return after_stress[-1]
    if spaces:
        return spaces[-1]
    return limit


def _stressed_word_before(phonemes: list[str], space: int) -> bool:
    """Whether the word that ends at `space` carries a primary stress mark."""
    start = space
    while start > 0 and not phonemes[start - 1].isspace():
        start -= 1
    return _PRIMARY_STRESS in phonemes[start:space]
