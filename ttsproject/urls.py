from __future__ import annotations

from django.contrib import admin
from django.urls import path

from synthesis.views import demo_page
from voices.views import preview_voice, voice_list

urlpatterns = [
    path("", demo_page, name="index"),
    path("api/voices/", voice_list, name="voice-list"),
    path("admin/voices/preview/", preview_voice, name="voice-preview"),
    path("admin/", admin.site.urls),
]
