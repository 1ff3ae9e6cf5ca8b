"""The pronunciation lexicon: words and phrases a voice says in a way set in the admin.

Entries are cached per voice like voice settings (voices/lookup.py), and invalidated when an
entry or a voice is saved or deleted (voices/signals.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Q

from synthesis.text.script import Plain, Reading, phonemes

from .lookup import cached, remember
from .models import Pronunciation

CACHE_PREFIX = "lexicon:"


@dataclass(frozen=True)
class Entry:
    """How to say `text`: `replacement` is words, or IPA phonemes if `phonemes`."""

    text: str
    replacement: str
    phonemes: bool
    case_sensitive: bool


class Lexicon:
    """Entries compiled into one regular expression, to find them in text."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        # Longest first, since the first alternative that matches at a place wins; for the same
        # length, a case-sensitive entry before a case-insensitive one it would also match.
        # (A blank text, which only bypassing Pronunciation.clean makes, would match anywhere.)
        self.entries = sorted(
            (entry for entry in entries if entry.text.strip()),
            key=lambda entry: (-len(" ".join(entry.text.split())), not entry.case_sensitive),
        )
        self._pattern = (
            re.compile("|".join(f"({_pattern_of(entry)})" for entry in self.entries))
            if self.entries
            else None
        )

    def __len__(self) -> int:
        return len(self.entries)

    def apply(self, text: str) -> list[Plain | Reading]:
        """`text` cut into readings of the entries found in it, and the Plain text between."""
        if self._pattern is None:
            return [Plain(text)]
        items: list[Plain | Reading] = []
        position = 0
        for match in self._pattern.finditer(text):
            # Each entry is one group, with no groups inside it: the group that matched is it.
            assert match.lastindex is not None
            entry = self.entries[match.lastindex - 1]
            if match.start() > position:
                items.append(Plain(text[position : match.start()]))
            spoken = phonemes(entry.replacement) if entry.phonemes else entry.replacement
            items.append(Reading(written=match[0], spoken=spoken))
            position = match.end()
        if position < len(text):
            items.append(Plain(text[position:]))
        return items or [Plain(text)]


def _pattern_of(entry: Entry) -> str:
    """The entry's text as a whole word or phrase, any run of spaces matching its spaces."""
    text = entry.text.strip()
    pattern = r"\s+".join(re.escape(word) for word in text.split())
    if not entry.case_sensitive:
        pattern = f"(?i:{pattern})"
    # Only where the entry begins or ends with a letter does it need a word boundary there:
    # "C++" must not match inside "ABC++", but may be followed by anything.
    if re.match(r"\w", text):
        pattern = r"(?<!\w)" + pattern
    if re.search(r"\w$", text):
        pattern += r"(?!\w)"
    return pattern


@functools.lru_cache(maxsize=64)
def lexicon_of(entries: tuple[Entry, ...]) -> Lexicon:
    """The compiled lexicon of `entries`, compiled once per process for the same entries."""
    return Lexicon(entries)


def merge(global_entries: Iterable[Entry], voice_entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """Entries for every voice, then the voice's own, which replace those with the same text."""
    own = tuple(voice_entries)
    replaced = {entry.text.casefold() for entry in own}
    kept = tuple(entry for entry in global_entries if entry.text.casefold() not in replaced)
    return kept + own


def cache_key(voice_id: str) -> str:
    return CACHE_PREFIX + voice_id


async def aget_lexicon(voice_id: str, use_cache: bool = True) -> Lexicon:
    """The lexicon of voice `voice_id`: its own entries over those for every voice.

    On a cache hit this is neither a query nor a compile; if the cache fails, the database
    answers. Without `use_cache` the database always answers (the admin's preview, whose voice
    may not be saved yet: its cached lexicon would not be forgotten when entries change).
    """
    key = cache_key(voice_id)
    entries = await cached(key) if use_cache else None
    if not isinstance(entries, tuple):  # a miss is None; no entries at all is a cached ()
        global_entries: list[Entry] = []
        voice_entries: list[Entry] = []
        rows = Pronunciation.objects.filter(
            Q(voice__isnull=True) | Q(voice__voice_id=voice_id)
        ).values_list("voice_id", "text", "replacement", "kind", "case_sensitive")
        async for voice_pk, text, replacement, kind, case_sensitive in rows:
            entry = Entry(text, replacement, kind == Pronunciation.KIND_PHONEMES, case_sensitive)
            (global_entries if voice_pk is None else voice_entries).append(entry)
        entries = merge(global_entries, voice_entries)
        if use_cache:
            await remember(key, entries)
    return lexicon_of(entries)
