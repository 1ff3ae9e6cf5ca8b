from __future__ import annotations

from django.contrib import admin
from django.urls import path

from access.views import page_token
from synthesis.health import healthz, readyz
from synthesis.views import demo_page, preview_voice
from voices.views import voice_list

urlpatterns = [
    path("", demo_page, name="index"),
    path("api/voices/", voice_list, name="voice-list"),
    path("api/page-token/", page_token, name="page-token"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/voices/preview/", preview_voice, name="voice-preview"),
    path("admin/", admin.site.urls),
]
