"""Which written words each spoken word came from, through every pass of a normalizer.

Word timestamps report the words the client wrote ("$12.50"), while the voice says others
("twelve dollars and fifty cents"). Normalizers make their replacements with `sub`, a drop-in for
`pattern.sub`; while `readings` runs a normalizer, `sub` also notes where each replacement came
from, so that the result can be cut into `(written, spoken)` pairs of whole written words.

A replacement is narrowed to what it changed, in whole words: the years pass turns "in 1999"
into "in nineteen ninety-nine", which is "in" kept and "1999" read. Replacements that touch the
same written word become one pair: "MP3" is read "M-P three".
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from speech.text.script import Reading

_WHITESPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"\S+")


@dataclass
class _Origins:
    """For each character of the text as it is now, the span of the original it stands for."""

    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, text: str) -> _Origins:
        return cls(list(range(len(text))), list(range(1, len(text) + 1)))

    def replace(self, text: str, edits: list[tuple[int, int, str]]) -> None:
        """Record that text[start:end] became `new` for each (start, end, new), in order."""
        starts: list[int] = []
        ends: list[int] = []
        position = 0
        for start, end, new in edits:
            start, end, new = _narrowed(text, start, end, new)
            starts += self.starts[position:start]
            ends += self.ends[position:start]
            if start < end:
                span = (min(self.starts[start:end]), max(self.ends[start:end]))
            else:  # an insertion belongs to the character before it
                at = self.ends[start - 1] if start > 0 else 0
                span = (at, at)
            starts += [span[0]] * len(new)
            ends += [span[1]] * len(new)
            position = end
        starts += self.starts[position:]
        ends += self.ends[position:]
        self.starts, self.ends = starts, ends


def _narrowed(text: str, start: int, end: int, new: str) -> tuple[int, int, str]:
    """An edit without the whole words it leaves as they were at either end."""
    old = text[start:end]
    prefix = len(os.path.commonprefix([old, new]))
    while prefix > 0 and not (prefix == len(old) == len(new) or old[prefix - 1].isspace()):
        prefix -= 1
    suffix = len(os.path.commonprefix([old[prefix:][::-1], new[prefix:][::-1]]))
    while suffix > 0 and not old[len(old) - suffix].isspace():
        suffix -= 1
    return start + prefix, end - suffix, new[prefix : len(new) - suffix]


_origins: ContextVar[_Origins | None] = ContextVar("normalization_origins", default=None)


def sub(pattern: re.Pattern[str], replace: str | Callable[[re.Match[str]], str], text: str) -> str:
    """`pattern.sub(replace, text)`, where `replace` is a function or a literal string; while
    `readings` runs, it also records where each replacement came from."""
    origins = _origins.get()
    parts: list[str] = []
    edits: list[tuple[int, int, str]] = []
    position = 0
    for match in pattern.finditer(text):
        new = replace if isinstance(replace, str) else replace(match)
        parts += [text[position : match.start()], new]
        if new != match.group():
            edits.append((match.start(), match.end(), new))
        position = match.end()
    if not edits:
        return text
    parts.append(text[position:])
    if origins is not None:
        origins.replace(text, edits)
    return "".join(parts)


def readings(text: str, normalizer: Callable[[str], str]) -> list[Reading]:
    """`text` normalized, as pairs of whole written words and what is said for them.

    Unchanged words are one pair each; the spoken side has its whitespace collapsed.
    """
    origins = _Origins.of(text)
    token = _origins.set(origins)
    try:
        spoken = normalizer(text)
    finally:
        _origins.reset(token)
    if len(origins.starts) != len(spoken):  # a pass changed text without `sub`: no mapping
        return [Reading(text.strip(), _WHITESPACE.sub(" ", spoken).strip())]
    return _pairs(text, spoken, origins)


def _pairs(text: str, spoken: str, origins: _Origins) -> list[Reading]:
    # Each written word gets the spoken characters that came from it; a spoken character that
    # came from several written words joins them into one group.
    words = [match.span() for match in _TOKEN.finditer(text)]
    word_at = {
        position: number
        for number, (start, end) in enumerate(words)
        for position in range(start, end)
    }
    groups: list[tuple[int, int, list[str]]] = []  # first word, last word, spoken characters
    before: list[str] = []  # what is said before the first word, if anything
    for char, start, end in zip(spoken, origins.starts, origins.ends, strict=True):
        touched = [word_at[p] for p in range(start, max(end, start + 1)) if p in word_at]
        if not touched:  # a space between words, or a mark outside them: goes with the last
            (groups[-1][2] if groups else before).append(" " if char.isspace() else char)
            continue
        first, last = min(touched), max(touched)
        if groups and groups[-1][0] <= first and last <= groups[-1][1]:
            groups[-1][2].append(char)
            continue
        chars, before = [*before, char], []
        while groups and groups[-1][1] >= first:
            merged_first, merged_last, merged_chars = groups.pop()
            first, last = min(first, merged_first), max(last, merged_last)
            chars = merged_chars + chars
        groups.append((first, last, chars))
    return [
        Reading(
            text[words[first][0] : words[last][1]], _WHITESPACE.sub(" ", "".join(chars)).strip()
        )
        for first, last, chars in groups
    ]
