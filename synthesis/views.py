from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from protocol import CloseCode, ErrorCode
from protocol.messages import DEFAULT_SAMPLE_RATE, MAX_SPEED, MIN_SPEED
from speech.engine import SAMPLE_RATES
from speech.text import script
from voices.bundled import SMALLEST_DEFAULT_VOICES
from voices.forms import PreviewForm
from voices.lexicon import aget_lexicon

from .doc_pages import DOC_PAGES, read_doc
from .workers import synthesize_wav

logger = logging.getLogger(__name__)


def demo_page(request: HttpRequest) -> HttpResponse:
    """The demo page: type, pick a voice, hear it stream (static/demo/demo.js)."""
    return render(
        request,
        "index.html",
        {
            "protocol": page_protocol(),
            "sample_rates": SAMPLE_RATES,
            "default_sample_rate": DEFAULT_SAMPLE_RATE,
            "max_text_chars": settings.TTS_MAX_TEXT_CHARS,
            "min_speed": MIN_SPEED,
            "max_speed": MAX_SPEED,
            "timeout_default": settings.TTS_TIMEOUT_DEFAULT,
            "timeout_min": settings.TTS_TIMEOUT_MIN,
            "timeout_max": settings.TTS_TIMEOUT_MAX,
            "key_required": settings.TTS_REQUIRE_API_KEY,
            "staff": request.user.is_active and request.user.is_staff,
        },
    )


def page_protocol() -> dict[str, Any]:
    """What the demo page's script needs to know of the protocol, from its one definition."""
    return {
        "close_codes": {code.name: code.value for code in CloseCode},
        "error_codes": {code.name: code.value for code in ErrorCode},
        # The page preselects the voice that answers to these names: the one Smallest's
        # clients (and pipecat) get when they name none, the bundled voice unless an operator
        # moved the aliases. Alphabetical order would pick whichever voice was imported as
        # "amy".
        "default_voice_names": SMALLEST_DEFAULT_VOICES.split(),
    }


def doc_page(request: HttpRequest, name: str) -> HttpResponse:
    """One of the client docs (docs/<name>.md, DOC_PAGES only) as a page."""
    doc = read_doc(name)
    if doc is None:
        raise Http404("There is no such doc.")
    return render(
        request,
        "doc_page.html",
        {
            "name": name,
            "title": doc.title,
            # Safe: the renderer escapes every piece of the file's text (synthesis/doc_pages.py).
            "body": mark_safe(doc.body),
            "contents": [
                (heading.anchor, mark_safe(heading.html))
                for heading in doc.headings
                if heading.level == 2
            ],
            "pages": DOC_PAGES.items(),
        },
    )


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
    options = form.instance.synthesis_options()  # the voice as the form has it, unsaved
    model = data["model"]
    # Read as a request would read it: the lexicon (global, and the voice's own once it is
    # saved) and the model language's normalization.
    lexicon = await aget_lexicon(request.POST.get("voice_id", ""), use_cache=False)
    said = script(data["text"], model.language, lexicon.apply if lexicon else None)
    try:
        wav = await synthesize_wav(model.engine, model.model_path, model.config_path, said, options)
    except Exception:
        logger.exception("Preview of %s failed", model)
        return JsonResponse({"error": f"The model {model} could not speak."}, status=500)
    return HttpResponse(wav, content_type="audio/wav")
