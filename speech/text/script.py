"""What a voice is asked to say: text to read, fixed readings and pauses.

A request's text reaches the engine as a sequence of items:

- `Plain` text, which the worker reads through the pronunciation lexicon and the language's
  normalizer (speech/text/__init__.py) before the voice speaks it;
- `Reading`s, spoken exactly as given: an SSML `<sub>`, `<say-as>` or `<phoneme>`, or a
  lexicon entry. `written` is what the client wrote (word timestamps report it), `spoken` is
  what the voice reads: words, or phonemes in Piper's `[[ ... ]]` form;
- `Pause`s, from SSML `<break>`.

Between the consumer and the workers, a chunk of text travels as one string, and the chunker
(speech/chunking.py) cuts it at spaces and sentence ends. So `encode` writes Readings and
Pauses as runs of private-use characters with no space or punctuation in them, which the
chunker treats like letters of a word and never cuts; `decode` reads them back. Clients cannot
send these characters (`strip_markers` removes them from their text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Plain:
    """Text to be read with the lexicon and normalization."""

    text: str


@dataclass(frozen=True)
class Reading:
    """Written words and what the voice says for them, exactly; word timestamps report
    `written`. Normalization turns Plain text into readings; SSML and the lexicon give them."""

    written: str
    spoken: str


@dataclass(frozen=True)
class Pause:
    """Silence, in seconds, in place of the pause the voice would make there."""

    seconds: float


Item = Plain | Reading | Pause
# What the engine says: readings, and pauses between them.
Script = Sequence[Reading | Pause]


def phonemes(ipa: str) -> str:
    """How the voice is given phonemes instead of words: Piper's raw phoneme block."""
    return f"[[ {ipa.strip()} ]]"


# Private-use characters: a Reading is READING_START written SEPARATOR spoken READING_END,
# with its spaces written as SPACE; a Pause is PAUSE milliseconds PAUSE_END.
READING_START, SEPARATOR, READING_END, SPACE, PAUSE, PAUSE_END = (chr(0xE000 + i) for i in range(6))
_MARKERS = re.compile("[\ue000-\ue00f]")
_ENCODED = re.compile(
    f"{READING_START}([^{SEPARATOR}{READING_END}]*){SEPARATOR}([^{READING_END}]*){READING_END}"
    f"|{PAUSE}(\\d+){PAUSE_END}"
)


def strip_markers(text: str) -> str:
    """Client text without the characters this encoding reserves."""
    return _MARKERS.sub("", text)


def encode(items: list[Item]) -> str:
    """Items as one string the chunker can cut like text (see the module docstring).

    A Pause is attached to the word before it, so that it stays at the end of that word's chunk.
    """
    parts: list[str] = []
    for item in items:
        if isinstance(item, Plain):
            parts.append(item.text)
        elif isinstance(item, Reading):
            written, spoken = (_hide_spaces(part) for part in (item.written, item.spoken))
            parts.append(f"{READING_START}{written}{SEPARATOR}{spoken}{READING_END}")
        else:
            if parts:
                parts[-1] = parts[-1].rstrip()
            parts.append(f"{PAUSE}{round(item.seconds * 1000)}{PAUSE_END}")
    return "".join(parts)


def decode(text: str) -> list[Item]:
    """The items of an encoded string (or of plain text: one Plain item)."""
    items: list[Item] = []
    position = 0
    for match in _ENCODED.finditer(text):
        if match.start() > position:
            items.append(Plain(text[position : match.start()]))
        if match[3] is not None:
            items.append(Pause(int(match[3]) / 1000))
        else:
            items.append(Reading(_show_spaces(match[1]), _show_spaces(match[2])))
        position = match.end()
    if position < len(text):
        items.append(Plain(text[position:]))
    return items


def _hide_spaces(text: str) -> str:
    return re.sub(r"\s+", SPACE, strip_markers(text).strip())


def _show_spaces(text: str) -> str:
    return text.replace(SPACE, " ")
