"""API key strings: how they are made, read back, and checked.

A key reads `tts_<prefix>_<secret>`. The prefix (8 characters) is stored as it is, to find the
key and to tell keys apart in lists; the secret (43 characters, 256 random bits) is stored only
as its SHA-256. A slow password hash would add nothing: nobody can guess 256 random bits, and
every connection checks a key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from django.utils import timezone

from .models import APIKey

KEY_START = "tts_"
PREFIX_LENGTH = 8
PREFIX_ALPHABET = string.ascii_lowercase + string.digits


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key_string() -> tuple[str, str]:
    """A fresh key and its prefix."""
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}", prefix


def create_key(name: str, **limits: int | None) -> tuple[APIKey, str]:
    """Store a new key; returns it with its full string, which is never available again."""
    while True:
        key, prefix = new_key_string()
        if not APIKey.objects.filter(prefix=prefix).exists():
            break
    api_key = APIKey.objects.create(name=name, prefix=prefix, secret_hash=hash_key(key), **limits)
    return api_key, key


def prefix_of(key: str) -> str | None:
    """The prefix of a string shaped like a key, else None."""
    if not key.startswith(KEY_START):
        return None
    prefix = key[len(KEY_START) : len(KEY_START) + PREFIX_LENGTH]
    if len(key) <= len(KEY_START) + PREFIX_LENGTH + 1 or key[len(KEY_START) + PREFIX_LENGTH] != "_":
        return None
    return prefix


def looks_like_key(token: str) -> bool:
    return prefix_of(token) is not None


def key_or_refusal(key: str) -> APIKey | str:
    """The active key this string is, or why it opens nothing, in words that say what to fix
    (blocking: one query). Only a sender of the whole key learns that it was revoked."""
    prefix = prefix_of(key)
    if prefix is None:
        return not_a_key(key)
    named = f"{KEY_START}{prefix}_…"
    api_key = APIKey.objects.filter(prefix=prefix).first()
    if api_key is None:
        return (
            f"There is no API key {named} on this server: it was deleted, mistyped, or made "
            "for another server."
        )
    if not hmac.compare_digest(api_key.secret_hash, hash_key(key)):
        return (
            f"The rest of API key {named} is wrong: it was cut short or mistyped; copy the "
            "whole key again."
        )
    if not api_key.active:
        return f"API key {named} has been revoked; make a new one (make key NAME=...)."
    return api_key


# What examples put where a key goes (`tts_...`, `<key>`), as they read without dots and brackets.
PLACEHOLDERS = frozenset(["", "tts_", "key", "your_key", "your-key", "api_key", "your_api_key"])


def not_a_key(token: str) -> str:
    """Why `token`, not even shaped like a key, is refused."""
    if token.strip(".…<>").lower() in PLACEHOLDERS:
        return (
            f"{token!r} is the examples' placeholder, not a key: make one with "
            "`make key NAME=...` and send what it prints."
        )
    if token.startswith(KEY_START):
        return (
            "This is not a whole API key: a key reads tts_, 8 letters or digits, _, and 43 "
            "more characters; copy it again whole."
        )
    return (
        "This is not an API key: keys start with tts_. Make one with `make key NAME=...` "
        "(or `manage.py create_api_key NAME`)."
    )


def revoke(api_key: APIKey) -> None:
    """Revoke a key: new connections are refused, and open ones are closed (signals.py)."""
    if api_key.revoked is None:
        api_key.revoked = timezone.now()
        api_key.save(update_fields=["revoked"])
