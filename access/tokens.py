"""Short-lived signed tokens that let a logged-in staff user's demo page connect.

A browser cannot send an Authorization header on a WebSocket, and a staff user should not have
to paste a key into the page: the page asks /api/page-token/ (with its session) for a token and
passes it as `?token=`. It is signed with SECRET_KEY, names the user and their session, and
expires. The browser sends the session cookie with the WebSocket as well, and a token opens a
connection only with the session it was made for, while that session is still logged in as the
user: logging out ends the session, and changing the password changes the hash the session
keeps, so either stops the token at once. A token copied to another browser is of no use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.http.cookie import parse_cookie
from django.utils.crypto import constant_time_compare, salted_hmac

from ttsproject.database import in_database_thread

# Tokens of the earlier form (the user's id alone) do not verify under this salt.
SALT = "access.page-token.session"


def session_digest(session_key: str) -> str:
    # The token travels in URLs, and the session key is as good as a password: only a keyed
    # hash of it goes into the token.
    return salted_hmac(SALT, session_key).hexdigest()


def page_token_for(user: AbstractBaseUser, session_key: str) -> str:
    claims = {"user": str(user.pk), "session": session_digest(session_key)}
    return signing.TimestampSigner(salt=SALT).sign_object(claims)


def looks_like_page_token(token: str) -> bool:
    """Whether `token` has the shape of a page token (signed data, a timestamp, a signature)."""
    return token.count(":") == 2


async def user_for_page_token(token: str, scope: dict[str, Any]) -> AbstractBaseUser | None:
    """The active staff user a valid, unexpired token names, if the socket comes with the
    session the token was made for and that session is still logged in as the user; else None."""
    try:
        claims = signing.TimestampSigner(salt=SALT).unsign_object(
            token, max_age=settings.TTS_PAGE_TOKEN_SECONDS
        )
    except signing.BadSignature:  # also SignatureExpired
        return None
    session_key = session_key_in(scope)
    if session_key is None or not constant_time_compare(
        claims["session"], session_digest(session_key)
    ):
        return None
    user = await in_database_thread(logged_in_user, session_key)
    if user is None or str(user.pk) != claims["user"]:
        return None
    if not user.is_active or not getattr(user, "is_staff", False):
        return None
    return user


def session_key_in(scope: dict[str, Any]) -> str | None:
    """The session cookie the socket's request carried, if any."""
    cookies = "; ".join(
        value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"cookie"
    )
    return parse_cookie(cookies).get(settings.SESSION_COOKIE_NAME) or None


def logged_in_user(session_key: str) -> AbstractBaseUser | None:
    """The user a session is logged in as, checked as Django checks each request's session
    (without changing the session), else None. Blocking: a query or two."""
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user_id = session.get(SESSION_KEY)
    if user_id is None:  # logged out, expired, or no such session
        return None
    user = get_user_model()._default_manager.filter(pk=user_id).first()
    if user is None:
        return None
    kept = session.get(HASH_SESSION_KEY)
    current = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not kept or not any(constant_time_compare(kept, valid) for valid in current):
        return None  # the password changed since this session logged in
    return user
