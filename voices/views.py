from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from synthesis.engine import SynthesisOptions
from synthesis.protocol import language_matches
from synthesis.text import script
from synthesis.workers import synthesize_wav
from ttsproject.database import in_database_thread

from .availability import model_problem
from .forms import PreviewForm
from .lexicon import aget_lexicon
from .models import Voice

logger = logging.getLogger(__name__)


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
            }
        )
    return JsonResponse({"voices": voices})


def _usable_voices() -> list[Voice]:
    """The enabled voices whose files can be used now (blocking: a query and file checks)."""
    enabled = Voice.objects.filter(enabled=True).select_related("model")
    return [voice for voice in enabled if model_problem(voice.model) is None]


@require_POST
async def preview_voice(request: HttpRequest) -> HttpResponse:
    """A WAV of the posted text with the posted voice settings, for the admin's Preview player."""
    user = await request.auser()
    if not (user.is_active and user.is_staff):
        return JsonResponse({"error": "Log in to the admin to preview voices."}, status=403)
    form = PreviewForm(request.POST)
    if not await sync_to_async(form.is_valid)():
        errors = {field: " ".join(map(str, messages)) for field, messages in form.errors.items()}
        return JsonResponse(
            {"error": "Check the highlighted settings.", "fields": errors}, status=400
        )
    data = form.cleaned_data
    options = SynthesisOptions(
        speed=data["default_speed"],
        speaker=data["speaker"],
        noise_scale=data["noise_scale"],
        noise_width=data["noise_width"],
        sentence_silence=data["sentence_silence"],
        volume=data["volume"],
    )
    model = data["model"]
    # Read as a request would read it: the lexicon (global, and the voice's own once it is
    # saved) and the model language's normalization.
    lexicon = await aget_lexicon(request.POST.get("voice_id", ""), use_cache=False)
    said = script(data["text"], model.language, lexicon.apply if lexicon else None)
    try:
        wav = await synthesize_wav(model.model_path, model.config_path, said, options)
    except Exception:
        logger.exception("Preview of %s failed", model)
        return JsonResponse({"error": f"The model {model} could not speak."}, status=500)
    return HttpResponse(wav, content_type="audio/wav")
