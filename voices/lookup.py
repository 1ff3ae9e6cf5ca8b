"""What the synthesis path needs to know about a voice, cached per process.

The cache is invalidated when a voice or its model is saved or deleted (voices/signals.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache

from .models import Voice

logger = logging.getLogger(__name__)

CACHE_PREFIX = "voice-settings:"
CACHE_SECONDS = 300


@dataclass(frozen=True)
class VoiceSettings:
    voice_id: str
    language: str
    engine: str
    model_path: str
    config_path: str
    native_sample_rate: int
    speaker: int
    default_speed: float
    noise_scale: float | None
    noise_width: float | None
    sentence_silence: float
    volume: float


def cache_key(voice_id: str) -> str:
    return CACHE_PREFIX + voice_id


async def cached(key: str) -> object:
    try:
        return await cache.aget(key)
    except Exception:  # the cache is Redis, and Redis is down: ask the database instead
        logger.warning("Voice cache unavailable; reading the database", exc_info=True)
        return None


async def remember(key: str, value: object) -> None:
    try:
        await cache.aset(key, value, CACHE_SECONDS)
    except Exception:
        logger.warning("Voice cache unavailable; not caching %s", key, exc_info=True)


async def aget_voice_settings(voice_id: str) -> VoiceSettings | None:
    """Return the settings of the enabled voice `voice_id`, or None if there is none.

    The cache only saves database queries: if it fails, the database answers.
    """
    key = cache_key(voice_id)
    settings = await cached(key)
    if settings is not None:
        return settings if isinstance(settings, VoiceSettings) else None
    try:
        voice = await Voice.objects.select_related("model").aget(voice_id=voice_id, enabled=True)
    except Voice.DoesNotExist:
        # Remember misses too, so a client repeating a wrong id does not hit the database.
        await remember(key, False)
        return None
    settings = VoiceSettings(
        voice_id=voice.voice_id,
        language=voice.language,
        engine=voice.model.engine,
        model_path=voice.model.model_path,
        config_path=voice.model.config_path,
        native_sample_rate=voice.model.sample_rate,
        speaker=voice.speaker,
        default_speed=voice.default_speed,
        noise_scale=voice.noise_scale,
        noise_width=voice.noise_width,
        sentence_silence=voice.sentence_silence,
        volume=voice.volume,
    )
    await remember(key, settings)
    return settings
