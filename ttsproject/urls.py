from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView

from voices.views import preview_voice, voice_list

urlpatterns = [
    path("", TemplateView.as_view(template_name="index.html"), name="index"),
    path("api/voices/", voice_list, name="voice-list"),
    path("admin/voices/preview/", preview_voice, name="voice-preview"),
    path("admin/", admin.site.urls),
]
