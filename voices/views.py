from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .models import Voice


@require_GET
def voice_list(request: HttpRequest) -> JsonResponse:
    """The enabled voices, for clients choosing a `voice_id`."""
    voices = Voice.objects.filter(enabled=True).select_related("model")
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
                }
                for voice in voices
            ]
        }
    )
