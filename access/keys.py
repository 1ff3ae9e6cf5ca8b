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


def find_key(key: str) -> APIKey | None:
    """The active key this string is, or None (unknown, wrong secret or revoked)."""
    prefix = prefix_of(key)
    if prefix is None:
        return None
    api_key = APIKey.objects.filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, hash_key(key)):
        return None
    if not api_key.active:
        return None
    return api_key


def revoke(api_key: APIKey) -> None:
    """Revoke a key: new connections are refused, and open ones are closed (signals.py)."""
    if api_key.revoked is None:
        api_key.revoked = timezone.now()
        api_key.save(update_fields=["revoked"])
