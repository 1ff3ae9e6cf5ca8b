from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from synthesis.protocol import language_matches

from .models import Voice


@require_GET
def voice_list(request: HttpRequest) -> JsonResponse:
    """The enabled voices, for clients choosing a `voice_id`; `?language=en` narrows them."""
    voices = Voice.objects.filter(enabled=True).select_related("model")
    language = request.GET.get("language", "").strip()
    return JsonResponse(
        {
            "voices": [
                {
                    "voice_id": voice.voice_id,
                    "name": voice.name,
                    "language": voice.language,
                    "gender": voice.gender,
                    "sample_rate": voice.model.sample_rate,
                    "description": voice.description,
                    "speaker": voice.speaker,
                    "default_speed": voice.default_speed,
                }
                for voice in voices
                if not language or language_matches(language, voice.language)
            ]
        }
    )
