"""Pronunciation lexicons: words and phrases said the way someone chose, found in text.

An entry names its text and what to say instead, in words or in IPA phonemes. Matching is
pure; where the entries come from (the admin, a file) is the caller's business.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from speech.text.script import Plain, Reading, phonemes


@dataclass(frozen=True)
class Entry:
    """How to say `text`: `replacement` is words, or IPA phonemes if `phonemes`."""

    text: str
    replacement: str
    phonemes: bool
    case_sensitive: bool


# Text is matched as tokens: runs of letters and digits, and single symbols ("C++" is "C", "+",
# "+"). An entry matches whole tokens, so "cat" never matches inside "concatenate".
_TOKEN = re.compile(r"\w+|[^\w\s]")

# An entry's tokens, each with whether space comes before it in the entry: "New York" is
# (("new", False), ("york", True)), and matches "new  York" but not "NewYork".
Key = tuple[tuple[str, bool], ...]


class Lexicon:
    """Entries indexed by their first token, to find them in text in one pass over its tokens.

    Where entries overlap, the one that starts first wins, then the longest; for the same
    length a case-sensitive entry goes before a case-insensitive one. The cost is a dictionary
    lookup per token, whatever the number of entries (one regular expression with an
    alternative per entry took 14 ms per chunk with 500 entries; bench/text.py).
    """

    def __init__(self, entries: Sequence[Entry]) -> None:
        # (A blank text, which only bypassing Pronunciation.clean makes, is never matched.)
        self.entries = [entry for entry in entries if _key(entry.text)]
        candidates: dict[str, list[tuple[Key, Entry]]] = {}
        for entry in self.entries:
            key = _key(entry.text if entry.case_sensitive else entry.text.casefold())
            candidates.setdefault(key[0][0].casefold(), []).append((key, entry))
        for found in candidates.values():
            found.sort(
                key=lambda pair: (-len(pair[0]), -len(pair[1].text), not pair[1].case_sensitive)
            )
        self._candidates = candidates

    def __len__(self) -> int:
        return len(self.entries)

    def apply(self, text: str) -> list[Plain | Reading]:
        """`text` cut into readings of the entries found in it, and the Plain text between."""
        if not self._candidates:
            return [Plain(text)]
        tokens = list(_TOKEN.finditer(text))
        items: list[Plain | Reading] = []
        position = 0  # in text, after the last reading
        index = 0  # in tokens
        while index < len(tokens):
            found = self._match(tokens, index)
            if found is None:
                index += 1
                continue
            size, entry = found
            start, end = tokens[index].start(), tokens[index + size - 1].end()
            if start > position:
                items.append(Plain(text[position:start]))
            spoken = phonemes(entry.replacement) if entry.phonemes else entry.replacement
            items.append(Reading(written=text[start:end], spoken=spoken))
            position = end
            index += size
        if position < len(text):
            items.append(Plain(text[position:]))
        return items or [Plain(text)]

    def _match(self, tokens: list[re.Match[str]], index: int) -> tuple[int, Entry] | None:
        """The entry (and its token count) that starts at tokens[index], if one does."""
        for key, entry in self._candidates.get(tokens[index].group().casefold(), ()):
            if index + len(key) > len(tokens):
                continue
            for offset, (token, spaced) in enumerate(key):
                match = tokens[index + offset]
                word = match.group() if entry.case_sensitive else match.group().casefold()
                if word != token:
                    break
                if offset and spaced != (match.start() > tokens[index + offset - 1].end()):
                    break
            else:
                return len(key), entry
        return None


def _key(text: str) -> Key:
    key = []
    end = None
    for match in _TOKEN.finditer(text):
        key.append((match.group(), end is not None and match.start() > end))
        end = match.end()
    return tuple(key)


@functools.lru_cache(maxsize=64)
def lexicon_of(entries: tuple[Entry, ...]) -> Lexicon:
    """The lexicon of `entries`, indexed once per process for the same entries."""
    return Lexicon(entries)


def merge(global_entries: Iterable[Entry], voice_entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """Entries for every voice, then the voice's own, which replace those with the same text."""
    own = tuple(voice_entries)
    replaced = {entry.text.casefold() for entry in own}
    kept = tuple(entry for entry in global_entries if entry.text.casefold() not in replaced)
    return kept + own
