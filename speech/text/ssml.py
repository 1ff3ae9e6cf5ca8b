"""SSML: the small part of the Speech Synthesis Markup Language a client may send instead of text.

A message whose text starts with a `<speak>` tag (`is_ssml`) is an SSML document; any other
text, "<" or not ("if a < b", "<b>hi</b>"), is plain text. `parse_ssml` turns a document into
the items of speech/text/script.py, in order:

- text directly inside `<speak>`, entities decoded (`&lt;` is "<"), is `Plain` text, read later
  through the lexicon and the normalizer like any plain message;
- `<break time="500ms"/>` or `<break strength="strong"/>` is a `Pause`;
- `<say-as interpret-as="...">`, `<sub alias="...">` and `<phoneme ph="...">` are `Reading`
  readings: what the client wrote, and the words or phonemes the voice says instead.

Design
------
Only these four tags are supported, each holding text only, so a document is one flat level of
elements under `<speak>`. Everything else (`<p>`, `<prosody>`, `<audio>`, a nested `<speak>`)
is refused with an `SSMLError` that names the tag, rather than silently read as text or dropped:
a client who asked for emphasis should learn that it will not get it. Unknown attributes on a
supported tag are ignored; an attribute this module reads must have a valid value. Tags are
matched by local name, so the SSML namespace (`xmlns="http://www.w3.org/2001/10/synthesis"`) is
optional. The text is untrusted, so it is parsed with defusedxml and DTDs are refused: no entity
expansion ("billion laughs"), no external references. The characters script.py reserves for its
encoding are removed first, as from plain text. An XML declaration (`<?xml ...?>`) may come
before `<speak>`; it is not text anyone would send as plain text.

Readings (English)
------------------
The words come from the normalizer's own readings (english.py), so that a `<say-as>` says a
number or a date the way the same number or date in plain text is said.

- `characters` (or `spell-out`): letters one by one in capitals, digits as words, a few symbols
  by name ("-" dash, "." dot, "@" at...), other symbols dropped, all joined by hyphens so that
  espeak-ng says letter names ("abc" -> "A-B-C"). Groups separated by whitespace are joined with
  a comma, for a short pause: "AB 12" -> "A-B, one-two".
- `cardinal`: a number with an optional sign, thousands commas and decimals; leading zeros are
  not read ("007" is "seven": the client asked for a quantity).
- `ordinal`: a whole number with or without its suffix: "21", "21st" -> "twenty-first".
- `date`, with `format` (default "mdy"): numbers or month names separated by "/", "-", ".",
  commas or spaces, read month first as the US voice says them: "March fourth, twenty
  twenty-five". Day-first formats ("dmy", "dm") only say how the client wrote the date, so they
  are read in the same US order. A day alone is its ordinal ("fourth"), a month alone its name.
  Two-digit years are read as written, the way they are said aloud ("25" -> "twenty-five",
  "05" -> "oh five"): guessing the century would put words in the client's mouth.
- `telephone`: digits one by one, groups joined with a comma for the pause between them, and a
  leading "+" read as "plus", as the normalizer reads phone numbers. Letters ("1-800-FLOWERS",
  "ext. 5") are refused rather than guessed at.
- `<sub>` says its alias; `<phoneme>` gives its IPA to the voice as a Piper phoneme block, after
  `phoneme_problems` (the voice's own phoneme table) has found nothing it cannot say.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree
from defusedxml import DefusedXmlException

from speech.text.english import (
    MONTH_NAMES,
    MONTHS,
    SYMBOL_NAMES,
    say_date,
    say_digits,
    say_number,
    say_ordinal,
    say_phone_number,
    say_year,
)
from speech.text.script import Item, Pause, Plain, Reading, phonemes, strip_markers

__all__ = ["SSMLError", "is_ssml", "parse_ssml"]


class SSMLError(ValueError):
    """A client's SSML that cannot be spoken; str(error) is the message sent to the client."""


PhonemeProblems = Callable[[str], list[str]]

_SPEAK_START = re.compile(r"\s*(?:<\?xml\s[^>]*\?>\s*)?<speak[\s/>]")
_SUPPORTED_TAGS = "<break>, <say-as>, <sub> or <phoneme>"
# Values longer than this are cut short in error messages.
_LONGEST_SHOWN = 40


def is_ssml(text: str) -> bool:
    """Whether a message's text is an SSML document: it starts with a <speak> tag, maybe after
    whitespace and an XML declaration. "if a < b" and "<b>hi</b>" are plain text."""
    return _SPEAK_START.match(text) is not None


def parse_ssml(text: str, phoneme_problems: PhonemeProblems | None = None) -> list[Item]:
    """The items an SSML document says, in order; `SSMLError` names what cannot be spoken.

    `phoneme_problems(ipa)` returns the characters of a `<phoneme>`'s IPA the voice cannot say.
    """
    root = _parse_xml(strip_markers(text).lstrip())
    if _local_name(root) != "speak":
        raise SSMLError(f"An SSML document must start with <speak>, not <{_local_name(root)}>.")
    items: list[Item] = []
    _add_text(items, root.text)
    for element in root:
        item = _read_element(element, phoneme_problems)
        if item is not None:
            items.append(item)
        _add_text(items, element.tail)
    return items


def _parse_xml(text: str) -> Element:
    try:
        root: Element = defusedxml.ElementTree.fromstring(text, forbid_dtd=True)
    except DefusedXmlException:
        raise SSMLError("SSML may not contain a DTD or entity declarations.") from None
    except ParseError as error:
        # Expat says "not well-formed (invalid token): line 1, column 9"; keep the useful part.
        reason = re.sub(r"^not well-formed \((.*?)\)", r"\1", str(error))
        raise SSMLError(f"The SSML is not well-formed: {reason}.") from None
    return root


def _local_name(element: Element) -> str:
    """A tag without its namespace: "{http://www.w3.org/2001/10/synthesis}speak" -> "speak"."""
    return str(element.tag).rpartition("}")[2]


def _add_text(items: list[Item], text: str | None) -> None:
    """Add text as a Plain item, joined to the Plain item before it if there is one."""
    if not text:
        return
    if items and isinstance(items[-1], Plain):
        items[-1] = Plain(items[-1].text + text)
    else:
        items.append(Plain(text))


def _read_element(element: Element, phoneme_problems: PhonemeProblems | None) -> Item | None:
    tag = _local_name(element)
    if tag == "break":
        return _read_break(element)
    if tag == "say-as":
        return _read_say_as(element)
    if tag == "sub":
        return _read_sub(element)
    if tag == "phoneme":
        return _read_phoneme(element, phoneme_problems)
    raise SSMLError(f"SSML tag <{tag}> is not supported; use {_SUPPORTED_TAGS}.")


def _text_content(element: Element) -> str:
    """An element's text, stripped; supported tags hold text only."""
    if len(element):
        raise SSMLError(
            f"<{_local_name(element)}> may contain only text, not <{_local_name(element[0])}>."
        )
    return (element.text or "").strip()


def _shown(value: str) -> str:
    """A client's value as quoted in an error message, cut short if long."""
    return value if len(value) <= _LONGEST_SHOWN else value[: _LONGEST_SHOWN - 1] + "…"


# <break> -----------------------------------------------------------------------------------------

_BREAK_STRENGTHS = {
    "none": 0.0,
    "x-weak": 0.1,
    "weak": 0.25,
    "medium": 0.5,
    "strong": 0.75,
    "x-strong": 1.25,
}
_LONGEST_BREAK = 10.0
_BREAK_TIME = re.compile(r"\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))\s*(ms|s)\s*", re.IGNORECASE)


def _read_break(element: Element) -> Pause:
    """A pause of `time` ("500ms", "1.5s") or else of `strength` (medium by default)."""
    if len(element) or (element.text or "").strip():
        raise SSMLError('<break> must be empty, as in <break time="500ms"/>.')
    seconds = _BREAK_STRENGTHS["medium"]
    strength = element.get("strength")
    if strength is not None:
        if strength.strip().lower() not in _BREAK_STRENGTHS:
            raise SSMLError(
                f'<break strength="{_shown(strength)}"> is not a strength; use '
                "none, x-weak, weak, medium, strong or x-strong."
            )
        seconds = _BREAK_STRENGTHS[strength.strip().lower()]
    time = element.get("time")
    if time is not None:
        seconds = _break_seconds(time)
    return Pause(seconds)


def _break_seconds(time: str) -> float:
    match = _BREAK_TIME.fullmatch(time)
    if match is None:
        raise SSMLError(f'<break time="{_shown(time)}"> is not a time; write "500ms" or "1.5s".')
    seconds = float(match[1]) / (1000 if match[2].lower() == "ms" else 1)
    if not 0 <= seconds <= _LONGEST_BREAK:
        raise SSMLError(
            f'<break time="{_shown(time)}"> is out of range; a break lasts 0 to 10 seconds.'
        )
    return seconds


# <say-as> ----------------------------------------------------------------------------------------

# A reader turns a <say-as>'s text into words; it gets the element's attributes for the options
# of its kind (a date's format).
Reader = Callable[[str, Mapping[str, str]], str]

# The symbols spelled out by name, named as in addresses ("-" dash, "." dot, "@" at...).
_CHARACTER_NAMES = {symbol: SYMBOL_NAMES[symbol] for symbol in "-._@/&+#"}


def _say_characters(content: str, attributes: Mapping[str, str]) -> str:
    """ "AB-12 x" -> "A-B-dash-one-two, X-": each group of characters spelled out.

    The characters of a group are joined by hyphens, like the normalizer's acronyms: espeak-ng
    then says each letter's name, where a lone "A" before a word would be the article "uh" (a
    single letter keeps a hyphen after it for that reason).
    """
    groups = []
    for group in content.split():
        words = [word for word in map(_say_character, group) if word]
        if words:
            groups.append("-".join(words) + ("-" if len(words) == 1 and words[0].isalpha() else ""))
    if not groups:
        raise SSMLError(
            f"<say-as interpret-as=\"characters\"> has nothing to spell in '{_shown(content)}'."
        )
    return ", ".join(groups)


def _say_character(character: str) -> str:
    if character.isdecimal():
        return say_digits(character)
    if character.isalpha():
        return character.upper()
    return _CHARACTER_NAMES.get(character, "")


_CARDINAL = re.compile(r"([-−+]?)((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)")


def _say_cardinal(content: str, attributes: Mapping[str, str]) -> str:
    """ "-1,234.5" -> "minus one thousand two hundred thirty-four point five"; "+3" -> "plus
    three"."""
    match = _CARDINAL.fullmatch(content)
    if match is None:
        raise SSMLError(
            f"<say-as interpret-as=\"cardinal\"> needs a number, not '{_shown(content)}'."
        )
    sign, number = match.groups()
    whole, point, fraction = number.replace(",", "").partition(".")
    if whole:
        whole = whole.lstrip("0") or "0"
    words = say_number(whole + point + fraction)
    if sign:
        words = ("plus " if sign == "+" else "minus ") + words
    return words


_ORDINAL = re.compile(r"([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:st|nd|rd|th)?", re.IGNORECASE)
# num2words reads ordinals up to the quadrillions; nobody says a longer one.
_LONGEST_ORDINAL = 15


def _say_ordinal(content: str, attributes: Mapping[str, str]) -> str:
    """ "21", "21st" -> "twenty-first"."""
    match = _ORDINAL.fullmatch(content)
    digits = match[1].replace(",", "").lstrip("0") if match else ""
    if match is None or len(digits) > _LONGEST_ORDINAL:
        raise SSMLError(
            f"<say-as interpret-as=\"ordinal\"> needs a whole number, not '{_shown(content)}'."
        )
    return say_ordinal(int(digits or "0"))


_DATE_FORMATS = ("mdy", "dmy", "ymd", "md", "dm", "ym", "my", "y", "m", "d")
_DATE_SEPARATORS = re.compile(r"[\s/.,-]+")
_MONTH_NUMBERS = {name.lower(): MONTHS.index(month) + 1 for name, month in MONTH_NAMES.items()}
_DAY = re.compile(r"([0-9]{1,2})(?:st|nd|rd|th)?", re.IGNORECASE)
_YEAR = re.compile(r"[0-9]{1,4}")


def _say_date(content: str, attributes: Mapping[str, str]) -> str:
    """A date in `format`'s parts, read month first: "3/4/2025" -> "March fourth, twenty
    twenty-five"; "4.3.2025" with format "dmy" too."""
    written_format = attributes.get("format", "mdy")
    date_format = written_format.strip().lower()
    if date_format not in _DATE_FORMATS:
        raise SSMLError(
            f'<say-as format="{_shown(written_format)}"> is not a date format; use '
            + ", ".join(_DATE_FORMATS[:-1])
            + f" or {_DATE_FORMATS[-1]}."
        )
    written_parts = [part for part in _DATE_SEPARATORS.split(content) if part]
    parts = dict(zip(date_format, written_parts, strict=False))
    month = _month(parts["m"]) if "m" in parts else None
    day = _day(parts["d"]) if "d" in parts else None
    year = parts.get("y")
    if (
        len(written_parts) != len(date_format)
        or month == 0
        or day == 0
        or (year is not None and not _is_year(year))
        or (day is not None and day > _days_in_month(month, year))
    ):
        raise SSMLError(
            f'<say-as interpret-as="date" format="{date_format}"> cannot read '
            f"'{_shown(content)}' as a date."
        )
    return _say_date_parts(month, day, year)


def _month(written: str) -> int:
    """A month's number from its number or English name; 0 when it is neither."""
    if written.isdecimal() and len(written) <= 2:
        number = int(written)
        return number if 1 <= number <= 12 else 0
    return _MONTH_NUMBERS.get(written.lower(), 0)


def _day(written: str) -> int:
    """A day's number, with or without an ordinal suffix; 0 when it is not one."""
    match = _DAY.fullmatch(written)
    return int(match[1]) if match else 0


def _is_year(written: str) -> bool:
    return _YEAR.fullmatch(written) is not None and (len(written) == 2 or int(written) > 0)


def _days_in_month(month: int | None, year: str | None) -> int:
    """How many days a month has; February has 29 unless the year says otherwise."""
    if month is None:
        return 31
    leap_year = 2000
    if year is not None:
        leap_year = 2000 + int(year) if len(year) == 2 else int(year)
    return calendar.monthrange(leap_year, month)[1]


def _say_year(written: str) -> str:
    """A year; two digits as they are said: "25" -> "twenty-five", "05" -> "oh five"."""
    if len(written) == 2 and written[0] == "0":
        return "oh " + ("oh" if written == "00" else say_digits(written[1]))
    return say_year(int(written))


def _say_date_parts(month: int | None, day: int | None, year: str | None) -> str:
    if month is None:
        return say_ordinal(day) if day is not None else _say_year(year or "")
    name = MONTHS[month - 1]
    if day is None:
        return f"{name} {_say_year(year)}" if year is not None else name
    if year is None or len(year) != 2:
        return say_date(name, day, year)
    return f"{say_date(name, day, None)}, {_say_year(year)}"


_TELEPHONE = re.compile(r"\(?\+?[0-9().\s-]*[0-9][0-9().\s-]*")


def _say_telephone(content: str, attributes: Mapping[str, str]) -> str:
    """ "+1 (555) 123-4567" -> "plus one, five five five, one two three, four five six seven"."""
    if _TELEPHONE.fullmatch(content) is None:
        raise SSMLError(
            f"<say-as interpret-as=\"telephone\"> needs a phone number, not '{_shown(content)}'."
        )
    return say_phone_number(content)


_SAY_AS: dict[str, Reader] = {
    "characters": _say_characters,
    "spell-out": _say_characters,
    "cardinal": _say_cardinal,
    "ordinal": _say_ordinal,
    "date": _say_date,
    "telephone": _say_telephone,
}
_SUPPORTED_SAY_AS = "characters, cardinal, ordinal, date or telephone"


def _read_say_as(element: Element) -> Reading | None:
    interpret_as = element.get("interpret-as")
    if interpret_as is None:
        raise SSMLError(f"<say-as> needs an interpret-as attribute: {_SUPPORTED_SAY_AS}.")
    reader = _SAY_AS.get(interpret_as.strip().lower())
    if reader is None:
        raise SSMLError(
            f'<say-as interpret-as="{_shown(interpret_as)}"> is not supported; '
            f"use {_SUPPORTED_SAY_AS}."
        )
    content = _text_content(element)
    if not content:
        return None
    return Reading(content, reader(content, element.attrib))


# <sub> and <phoneme> -----------------------------------------------------------------------------


def _read_sub(element: Element) -> Reading | None:
    """The alias said in place of the text: <sub alias="World Health Organization">WHO</sub>."""
    alias = element.get("alias")
    if alias is None:
        raise SSMLError('<sub> needs an alias attribute, as in <sub alias="doctor">Dr.</sub>.')
    alias, content = alias.strip(), _text_content(element)
    if not alias:
        if content:
            raise SSMLError(f"<sub alias=\"\"> is empty; give what to say for '{_shown(content)}'.")
        return None
    return Reading(content or alias, alias)


def _read_phoneme(element: Element, phoneme_problems: PhonemeProblems | None) -> Reading | None:
    """IPA said in place of the text: <phoneme ph="təˈmɑːtoʊ">tomato</phoneme>."""
    ph = element.get("ph")
    if ph is None:
        raise SSMLError('<phoneme> needs a ph attribute, as in <phoneme ph="təˈmɑːtoʊ">.')
    alphabet = element.get("alphabet")
    if alphabet is not None and alphabet.strip().lower() != "ipa":
        raise SSMLError(f'<phoneme alphabet="{_shown(alphabet)}"> is not supported; only "ipa" is.')
    ipa, content = ph.strip(), _text_content(element)
    if not ipa:
        if content:
            raise SSMLError(f"<phoneme ph=\"\"> is empty; give the IPA for '{_shown(content)}'.")
        return None
    if "[" in ipa or "]" in ipa:
        raise SSMLError(f'<phoneme ph="{_shown(ipa)}"> may not contain "[" or "]".')
    unknown = phoneme_problems(ipa) if phoneme_problems is not None else []
    if unknown:
        word = f" for '{_shown(content)}'" if content else ""
        names = ", ".join(f"'{character}'" for character in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise SSMLError(
            f'<phoneme ph="{_shown(ipa)}">{word}: the voice has no phoneme{plural} {names}.'
        )
    return Reading(content or ipa, phonemes(ipa))
