from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .tokens import page_token_for


@never_cache
@require_GET
def page_token(request: HttpRequest) -> JsonResponse:
    """A short-lived token for the demo page of a logged-in staff user (tokens.py)."""
    user = request.user
    session_key = request.session.session_key
    if not user.is_authenticated or not user.is_active or not user.is_staff or not session_key:
        return JsonResponse(
            {"error": "Log in as a staff user to get a token, or use an API key."}, status=403
        )
    return JsonResponse(
        {
            "token": page_token_for(user, session_key),
            "expires_in": settings.TTS_PAGE_TOKEN_SECONDS,
        }
    )
