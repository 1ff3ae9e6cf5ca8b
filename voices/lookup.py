"""What the synthesis path needs to know about a voice, cached per process.

The cache is invalidated when a voice or its model is saved or deleted (voices/signals.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache

from .models import Voice

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


async def aget_voice_settings(voice_id: str) -> VoiceSettings | None:
    """Return the settings of the enabled voice `voice_id`, or None if there is none."""
    key = cache_key(voice_id)
    settings = await cache.aget(key)
    if settings is not None:
        return settings if isinstance(settings, VoiceSettings) else None
    try:
        voice = await Voice.objects.select_related("model").aget(voice_id=voice_id, enabled=True)
    except Voice.DoesNotExist:
        # Remember misses too, so a client repeating a wrong id does not hit the database.
        await cache.aset(key, False, CACHE_SECONDS)
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
    await cache.aset(key, settings, CACHE_SECONDS)
    return settings
