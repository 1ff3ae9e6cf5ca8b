"""Keep cached voice settings and lexicons true, and register the bundled voice after migrations."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_migrate, post_save
from django.dispatch import receiver

from . import lexicon
from .lookup import ALIASES_KEY, cache_key
from .models import Pronunciation, Voice, VoiceModel

logger = logging.getLogger(__name__)


@receiver([post_save, post_delete], sender=Voice)
def forget_voice(sender: type[Voice], instance: Voice, **kwargs: Any) -> None:
    # A renamed voice's old id stays cached until CACHE_SECONDS pass (the old id is not known).
    cache.delete_many(
        [cache_key(instance.voice_id), lexicon.cache_key(instance.voice_id), ALIASES_KEY]
    )


@receiver([post_save, post_delete], sender=VoiceModel)
def forget_model_voices(sender: type[VoiceModel], instance: VoiceModel, **kwargs: Any) -> None:
    voice_ids = Voice.objects.filter(model_id=instance.pk).values_list("voice_id", flat=True)
    cache.delete_many([cache_key(voice_id) for voice_id in voice_ids])


@receiver([post_save, post_delete], sender=Pronunciation)
def forget_lexicons(sender: type[Pronunciation], instance: Pronunciation, **kwargs: Any) -> None:
    # An entry for every voice is in every voice's lexicon.
    voices = (
        Voice.objects.all()
        if instance.voice_id is None
        else Voice.objects.filter(pk=instance.voice_id)
    )
    voice_ids = voices.values_list("voice_id", flat=True)
    cache.delete_many([lexicon.cache_key(voice_id) for voice_id in voice_ids])


@receiver(post_migrate)
def register_bundled_voices(sender: Any, **kwargs: Any) -> None:
    # Runs after `migrate` and after test databases are flushed, so `joe` is always there.
    if getattr(sender, "name", None) != "voices":
        return
    from .bundled import register_bundled_voices as register
    from .importing import VoiceImportError

    try:
        register(using=kwargs.get("using", "default"))
    except VoiceImportError as error:
        # The database is migrated all the same: a voice's files must not stop the server
        # from starting. A voice registered before stays, unavailable (voices/availability.py).
        logger.warning("The bundled voice joe could not be registered or refreshed: %s", error)
