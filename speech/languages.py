"""Language codes as clients and voices write them: "en", "en-US", "en_GB", "EN"."""

from __future__ import annotations


def language_parts(code: str) -> list[str]:
    """A code's parts, lower-cased: "en_US" and "EN-us" are both ["en", "us"]."""
    return code.strip().replace("_", "-").lower().split("-")


def language_prefix(code: str) -> str:
    """The language part of a code: "en-US", "en_GB" and "EN" are all "en"."""
    return language_parts(code)[0]


def language_matches(requested: str, voice_language: str) -> bool:
    """Whether a voice of `voice_language` serves `requested`: "en" matches "en-US", "en_US"
    matches "en-US"; case does not matter."""
    wanted = language_parts(requested)
    return language_parts(voice_language)[: len(wanted)] == wanted
