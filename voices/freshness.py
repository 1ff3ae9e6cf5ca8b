"""Cached voice lookups kept true when another process changes the voices.

When this process saves a voice, a model or a pronunciation, signals.py clears what the change
makes stale; with Redis the cache is shared, so that reaches every process. In the embedded mode
each process caches on its own, and a change made elsewhere (`manage.py import_voices`, a
shell, a script, a second server on the same database) would be served stale for up to
CACHE_SECONDS: a disabled voice still speaking, a new one still refused. So the processes that
synthesize, which look at the database every TTS_VOICE_CHECK_SECONDS anyway
(synthesis/voice_loading.py), also compare a snapshot of the voices with the last one and forget
the lookups of every voice that changed.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Max

from . import lexicon
from .lookup import ALIASES_KEY, cache_key
from .models import Pronunciation, Voice, VoiceModel


@dataclass(frozen=True)
class Snapshot:
    """What the cached lookups are made of, as the database has it at one moment."""

    # voice_id: (last saved, enabled, aliases, its model's pk)
    voices: dict[str, tuple[datetime.datetime, bool, str, int]]
    # a model's pk: (engine, model_path, config_path, file_size, sha256)
    models: dict[int, tuple[str, str, str, int, str]]
    # how many entries, and when one was last saved
    pronunciations: tuple[int, datetime.datetime | None]


def snapshot() -> Snapshot:
    """The voices as the database has them now (blocking: three small queries)."""
    voices = {
        voice_id: (updated, enabled, aliases, model_pk)
        for voice_id, updated, enabled, aliases, model_pk in Voice.objects.values_list(
            "voice_id", "updated", "enabled", "aliases", "model_id"
        )
    }
    models = {
        pk: (engine, model_path, config_path, file_size, sha256)
        for pk, engine, model_path, config_path, file_size, sha256 in (
            VoiceModel.objects.values_list(
                "pk", "engine", "model_path", "config_path", "file_size", "sha256"
            )
        )
    }
    entries = Pronunciation.objects.aggregate(count=Count("pk"), last=Max("updated"))
    return Snapshot(voices, models, (entries["count"], entries["last"]))


def stale_voices(before: Snapshot, after: Snapshot) -> set[str]:
    """The voice ids whose cached settings `after` makes stale: voices added, removed, saved,
    or whose model was imported again (a renamed voice is both its old and its new id)."""
    models = {
        pk
        for pk in before.models.keys() | after.models.keys()
        if before.models.get(pk) != after.models.get(pk)
    }
    stale = set()
    for voice_id in before.voices.keys() | after.voices.keys():
        old, new = before.voices.get(voice_id), after.voices.get(voice_id)
        if old != new or (new is not None and new[3] in models):
            stale.add(voice_id)
    return stale


def forget_stale(before: Snapshot, after: Snapshot) -> set[str]:
    """Clear this process's cached lookups that `after` makes stale; the voice ids forgotten
    (blocking: the cache may be Redis)."""
    stale = stale_voices(before, after)
    keys = [key for voice_id in stale for key in (cache_key(voice_id), lexicon.cache_key(voice_id))]
    if stale:
        keys.append(ALIASES_KEY)
    if before.pronunciations != after.pronunciations:
        keys += [lexicon.cache_key(voice_id) for voice_id in after.voices]
    if keys:
        cache.delete_many(keys)
    return stale
