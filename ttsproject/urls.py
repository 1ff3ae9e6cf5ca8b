from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from access.views import page_token
from synthesis.health import healthz, readyz
from synthesis.http_api import (
    openai_models,
    openai_speech,
    openai_voices,
    waves_tts,
    waves_tts_live,
)
from synthesis.metrics_view import metrics_view
from synthesis.views import demo_page, doc_page, preview_voice
from voices.views import voice_list

urlpatterns = [
    path("", demo_page, name="index"),
    path("docs/<slug:name>/", doc_page, name="doc-page"),
    path("api/voices/", voice_list, name="voice-list"),
    path("api/page-token/", page_token, name="page-token"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("readyz", readyz, name="readyz"),
    # Browsers ask for it whatever a page names. Permanent, so to the icon under its own name,
    # not its hashed one, which changes with the icon.
    path(
        "favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}favicon.svg", permanent=True)
    ),
    path("admin/voices/preview/", preview_voice, name="voice-preview"),
    # The HTTP API (docs/http.md): OpenAI's and Smallest's.
    path("v1/audio/speech", openai_speech, name="openai-speech"),
    path("v1/audio/voices", openai_voices, name="openai-voices"),
    path("v1/models", openai_models, name="openai-models"),
    path("waves/v1/tts", waves_tts, name="waves-tts"),
    path("waves/v1/tts/live", waves_tts_live, name="waves-tts-live"),
    path("admin/", admin.site.urls),
]
