"""What the synthesis path needs to know about a voice, cached per process.

The cache is invalidated when a voice or its model is saved or deleted (voices/signals.py).
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from protocol import ClientError, ErrorCode
from protocol.messages import shown
from speech.languages import language_matches
from ttsproject.database import cache_get, cache_set, in_database_thread

from .availability import Problem, file_problem, load_failure
from .models import Voice

if TYPE_CHECKING:
    from speech.engine import SynthesisOptions

logger = logging.getLogger(__name__)

# With a version: settings cached by an older version, in another shape, are not read.
CACHE_PREFIX = "voice-settings:2:"
CACHE_SECONDS = 300


@dataclass(frozen=True)
class VoiceSettings:
    voice_id: str
    language: str
    engine: str  # the kind of engine that speaks the model (speech/engine/registry.py)
    model_path: str
    config_path: str
    options: SynthesisOptions  # at the voice's default speed
    # Why the voice cannot be used now, if it cannot (voices/availability.py).
    problem: Problem | None = None


def cache_key(voice_id: str) -> str:
    return CACHE_PREFIX + voice_id


async def cached(key: str) -> object:
    try:
        return await cache_get(key)
    except Exception:  # the cache is Redis, and Redis is down: ask the database instead
        logger.warning("Voice cache unavailable; reading the database", exc_info=True)
        return None


async def remember(key: str, value: object) -> None:
    try:
        await cache_set(key, value, CACHE_SECONDS)
    except Exception:
        logger.warning("Voice cache unavailable; not caching %s", key, exc_info=True)


async def aget_voice_settings(voice_id: str) -> VoiceSettings | None:
    """Return the settings of the enabled voice `voice_id`, or None if there is none.

    An enabled voice whose files cannot be used has its `problem` set. The cache only saves
    database queries and file checks: if it fails, the database answers.
    """
    key = cache_key(voice_id)
    settings = await cached(key)
    if settings is False:
        return None
    if not isinstance(settings, VoiceSettings):
        settings = await _aread_voice_settings(voice_id)
        # Remember misses too, so a client repeating a wrong id does not hit the database.
        await remember(key, settings if settings is not None else False)
        if settings is None:
            return None
    # Load failures are this process's own, so they are added after the shared cache.
    failure = load_failure(settings.model_path)
    if failure is not None and settings.problem is None:
        settings = replace(settings, problem=failure)
    return settings


async def _aread_voice_settings(voice_id: str) -> VoiceSettings | None:
    return await in_database_thread(_read_voice_settings, voice_id)


def _read_voice_settings(voice_id: str) -> VoiceSettings | None:
    try:
        voice = Voice.objects.select_related("model").get(voice_id=voice_id, enabled=True)
    except Voice.DoesNotExist:
        return None
    model = voice.model
    problem = file_problem(model.model_path, model.config_path, model.file_size)
    return VoiceSettings(
        voice_id=voice.voice_id,
        language=voice.language,
        engine=model.engine,
        model_path=model.model_path,
        config_path=model.config_path,
        options=voice.synthesis_options(),
        problem=problem,
    )


# A refusal names at most this many of the voices there are.
VOICES_NAMED = 8


def no_such_voice(voice_id: str) -> str:
    """Why `voice_id` names no voice, with the one it was probably meant to be."""
    voices = list(Voice.objects.filter(enabled=True).order_by("voice_id"))
    ids = [voice.voice_id for voice in voices]
    # Every name a request may use (ids and aliases), by how it reads ignoring case.
    answers = {
        name.casefold(): name for voice in voices for name in [voice.voice_id, *voice.alias_list()]
    }
    meant = answers.get(voice_id.strip().casefold())
    if meant is None:
        close = difflib.get_close_matches(voice_id.casefold(), list(answers), n=1, cutoff=0.75)
        meant = answers[close[0]] if close else None
    message = f"There is no voice {shown(voice_id)}"
    if meant is not None:
        message += f"; did you mean {meant!r}? Voice ids are case-sensitive"
    if not ids:
        return message + "; this server has no voice enabled (see docs/voices.md)."
    listed = ", ".join(ids[:VOICES_NAMED])
    if len(ids) > VOICES_NAMED:
        listed += f" and {len(ids) - VOICES_NAMED} more"
    return f"{message}. The voice ids here: {listed} (GET /api/voices/ lists them all)."


async def aunavailable_voices() -> tuple[int, list[str]]:
    """How many voices are enabled, and the ids of those that cannot be used now."""
    enabled = Voice.objects.filter(enabled=True).values_list("voice_id", flat=True)
    voice_ids: list[str] = await in_database_thread(list, enabled)
    unavailable = []
    for voice_id in voice_ids:
        settings = await aget_voice_settings(voice_id)
        if settings is not None and settings.problem is not None:
            unavailable.append(voice_id)
    return len(voice_ids), unavailable


ALIASES_KEY = "voice-aliases:1"


async def aliased_voice_id(name: str) -> str | None:
    """The id of the enabled voice that answers to `name` as an alias, if one does."""
    found = await cached(ALIASES_KEY)
    aliases: dict[str, str]
    if isinstance(found, dict):
        aliases = found
    else:
        aliases = await in_database_thread(_read_aliases)
        await remember(ALIASES_KEY, aliases)
    return aliases.get(name)


def _read_aliases() -> dict[str, str]:
    voices = Voice.objects.filter(enabled=True).exclude(aliases="")
    return {alias: voice.voice_id for voice in voices for alias in voice.alias_list()}


async def usable_voice(voice_id: str, language: str | None = None) -> VoiceSettings:
    """The settings of the voice a request asks for (by its id or an alias), or ClientError
    saying why it cannot have it: no such enabled voice, a voice whose files are missing or
    broken, or one that does not speak `language`."""
    voice = await aget_voice_settings(voice_id)
    if voice is None:
        aliased = await aliased_voice_id(voice_id)
        if aliased is not None:
            voice = await aget_voice_settings(aliased)
    if voice is None:
        raise ClientError(
            ErrorCode.VOICE_NOT_FOUND,
            await in_database_thread(no_such_voice, voice_id),
            field="voice_id",
        )
    if voice.problem is not None:
        # The code clients already handle for a voice they cannot use; the message says why.
        raise ClientError(
            ErrorCode.VOICE_NOT_FOUND,
            f"Voice {voice.voice_id!r} exists but is unavailable: {voice.problem.public}. "
            "An operator must restore or re-import it; GET /api/voices/ lists the voices "
            "that can be used.",
            field="voice_id",
        )
    if language and not language_matches(language, voice.language):
        raise ClientError(
            ErrorCode.INVALID_REQUEST,
            f"language {shown(language)} does not match voice {voice.voice_id!r} "
            f"({voice.language}).",
            field="language",
        )
    return voice
