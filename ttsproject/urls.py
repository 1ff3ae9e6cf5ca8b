from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView

from voices.views import voice_list

urlpatterns = [
    path("", TemplateView.as_view(template_name="index.html"), name="index"),
    path("api/voices/", voice_list, name="voice-list"),
    path("admin/", admin.site.urls),
]
