from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from speech.languages import language_matches
from ttsproject.database import in_database_thread

from .availability import model_problem
from .models import Voice


@require_GET
async def voice_list(request: HttpRequest) -> JsonResponse:
    """The voices that can be used, for clients choosing a `voice_id`; `?language=en` narrows them.

    Disabled voices are left out, and so are enabled ones that are unavailable (their files
    missing or broken): clients would only get `voice_not_found` for them.
    """
    language = request.GET.get("language", "").strip()
    # Read afresh, not through the synthesis path's cache: a listing must not keep a voice
    # alive in this process's cache after another process removed it.
    usable = await in_database_thread(_usable_voices)
    wanted = [
        voice for voice in usable if not language or language_matches(language, voice.language)
    ]
    voices = []
    for voice in wanted:
        voices.append(
            {
                "voice_id": voice.voice_id,
                "name": voice.name,
                "language": voice.language,
                "gender": voice.gender,
                "sample_rate": voice.model.sample_rate,
                "description": voice.description,
                "speaker": voice.speaker,
                "default_speed": voice.default_speed,
                "aliases": voice.alias_list(),
            }
        )
    return JsonResponse({"voices": voices})


def _usable_voices() -> list[Voice]:
    """The enabled voices whose files can be used now (blocking: a query and file checks)."""
    enabled = Voice.objects.filter(enabled=True).select_related("model")
    return [voice for voice in enabled if model_problem(voice.model) is None]
