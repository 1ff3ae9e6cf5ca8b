from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def demo_page(request: HttpRequest) -> HttpResponse:
    """The demo page: type, pick a voice, hear it stream (static/demo/demo.js)."""
    return render(
        request,
        "index.html",
        {
            "timeout_default": settings.TTS_TIMEOUT_DEFAULT,
            "timeout_min": settings.TTS_TIMEOUT_MIN,
            "timeout_max": settings.TTS_TIMEOUT_MAX,
            "key_required": settings.TTS_REQUIRE_API_KEY,
            "staff": request.user.is_active and request.user.is_staff,
        },
    )
