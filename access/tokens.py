"""Short-lived signed tokens that let a logged-in staff user's demo page connect.

A browser cannot send an Authorization header on a WebSocket, and a staff user should not have
to paste a key into the page: the page asks /api/page-token/ (with its session) for a token and
passes it as `?token=`. It is signed with SECRET_KEY, names the user, and expires.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing

SALT = "access.page-token"


def page_token_for(user: AbstractBaseUser) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(user.pk))


async def user_for_page_token(token: str) -> AbstractBaseUser | None:
    """The active staff user a valid, unexpired token names, else None."""
    try:
        user_id = signing.TimestampSigner(salt=SALT).unsign(
            token, max_age=settings.TTS_PAGE_TOKEN_SECONDS
        )
    except signing.BadSignature:  # also SignatureExpired
        return None
    user = await get_user_model().objects.filter(pk=user_id).afirst()
    if user is None or not user.is_active or not getattr(user, "is_staff", False):
        return None
    return user
