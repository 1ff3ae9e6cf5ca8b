"""Text normalization: written text turned into the words a speaker would say.

A voice reads "On 3/4/2025 Dr. Smith paid $12.50" well only once it is written "On March
fourth, twenty twenty-five Doctor Smith paid twelve dollars and fifty cents". How to get there
depends on the language, so `normalize` looks the language up in `NORMALIZERS`, a registry
keyed by language prefix ("en" serves "en", "en-US" and "en_GB"). Each language has its own
module (english.py); to add one, write speech/text/<language>.py with a `str -> str`
function and register it here. Languages without a normalizer get their text back with only
its whitespace collapsed, which is also the last step for every language.

Everything here is pure: no Django, no I/O, the same output for the same input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Protocol

from speech.languages import language_prefix
from speech.text import tracking
from speech.text.english import normalize_english
from speech.text.script import Pause, Plain, Reading, decode

__all__ = ["NORMALIZERS", "Normalizer", "Reading", "normalize", "readings", "script"]


class Normalizer(Protocol):
    """A language's reading: written text to the words said. `math_notation` asks for
    operators between numbers as words ("2 + 2 = 4" -> "two plus two equals four")."""

    def __call__(self, text: str, math_notation: bool = False) -> str: ...


NORMALIZERS: Mapping[str, Normalizer] = {"en": normalize_english}

_WHITESPACE = re.compile(r"\s+")


def normalize(text: str, language: str = "en", math_notation: bool = False) -> str:
    """Text as it should be spoken in language (a code such as "en", "en-US" or "en_GB").

    The result has single spaces and no leading or trailing whitespace; passes may add spaces
    around the words they write, so collapsing once at the end keeps them simple.
    """
    normalizer = NORMALIZERS.get(language_prefix(language))
    spoken = normalizer(text, math_notation) if normalizer is not None else text
    return _WHITESPACE.sub(" ", spoken).strip()


def readings(text: str, language: str = "en", math_notation: bool = False) -> list[Reading]:
    """`normalize(text, language)` cut into whole written words and what is said for them,
    so that word timestamps can report what was written (speech/text/tracking.py)."""
    normalizer = NORMALIZERS.get(language_prefix(language))
    if normalizer is None:
        return [Reading(word, word) for word in text.split()]
    return tracking.readings(text, partial(normalizer, math_notation=math_notation))


def script(
    text: str,
    language: str,
    lexicon: Callable[[str], list[Plain | Reading]] | None = None,
    math_notation: bool = False,
) -> list[Reading | Pause]:
    """What the voice says for a chunk of text (script.py's encoding): its plain text read
    through the lexicon and then normalized, its readings and pauses as they are.

    The text between two pauses is normalized as one, with a stand-in word for each reading,
    so that the readings are context for the words around them: "Dr." before a lexicon entry
    or an SSML <sub> is still a title, said without a full stop.
    """
    said: list[Reading | Pause] = []
    run: list[Plain | Reading] = []
    for item in [*decode(text), Pause(0.0)]:
        if isinstance(item, Pause):
            said += _normalized(run, language, math_notation)
            said += [item] if item.seconds else []  # the last one only flushes the run
            run = []
        elif isinstance(item, Plain) and lexicon is not None:
            run += lexicon(item.text)
        else:
            run.append(item)
    return said


def _normalized(run: list[Plain | Reading], language: str, math_notation: bool) -> list[Reading]:
    if not run:
        return []
    if all(isinstance(item, Reading) for item in run):
        return [item for item in run if isinstance(item, Reading)]
    # Each reading stands in as a capitalized word that no pass changes, then is put back.
    given = {
        _stand_in(number): item for number, item in enumerate(run) if isinstance(item, Reading)
    }
    text = "".join(
        item.text if isinstance(item, Plain) else _stand_in(n) for n, item in enumerate(run)
    )
    result = []
    for reading in readings(text, language, math_notation):
        for word in _STAND_IN.findall(reading.written):
            reading = Reading(
                reading.written.replace(word, given[word].written),
                reading.spoken.replace(word, given[word].spoken),
            )
        result.append(reading)
    return result


_STAND_IN = re.compile(r"Zqxj[a-z]+")


def _stand_in(number: int) -> str:
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters += chr(ord("a") + digit)
        if not number:
            return f"Zqxj{letters}"
