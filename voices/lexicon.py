"""The pronunciation lexicon: words and phrases a voice says in a way set in the admin.

The entries are read from the database here and matched in text by speech/lexicon.py.

Entries are cached per voice like voice settings (voices/lookup.py), and invalidated when an
entry or a voice is saved or deleted (voices/signals.py).
"""

from __future__ import annotations

from django.db.models import Q

from speech.lexicon import Entry, Lexicon, lexicon_of, merge
from ttsproject.database import in_database_thread

from .lookup import cached, remember
from .models import Pronunciation

CACHE_PREFIX = "lexicon:"


def cache_key(voice_id: str) -> str:
    return CACHE_PREFIX + voice_id


def _read_entries(voice_id: str) -> tuple[Entry, ...]:
    global_entries: list[Entry] = []
    voice_entries: list[Entry] = []
    rows = Pronunciation.objects.filter(
        Q(voice__isnull=True) | Q(voice__voice_id=voice_id)
    ).values_list("voice_id", "text", "replacement", "kind", "case_sensitive")
    for voice_pk, text, replacement, kind, case_sensitive in rows:
        entry = Entry(text, replacement, kind == Pronunciation.KIND_PHONEMES, case_sensitive)
        (global_entries if voice_pk is None else voice_entries).append(entry)
    return merge(global_entries, voice_entries)


async def aget_lexicon(voice_id: str, use_cache: bool = True) -> Lexicon:
    """The lexicon of voice `voice_id`: its own entries over those for every voice.

    On a cache hit this is neither a query nor indexing; if the cache fails, the database
    answers. Without `use_cache` the database always answers (the admin's preview, whose voice
    may not be saved yet: its cached lexicon would not be forgotten when entries change).
    """
    key = cache_key(voice_id)
    entries = await cached(key) if use_cache else None
    if not isinstance(entries, tuple):  # a miss is None; no entries at all is a cached ()
        entries = await in_database_thread(_read_entries, voice_id)
        if use_cache:
            await remember(key, entries)
    return lexicon_of(entries)
