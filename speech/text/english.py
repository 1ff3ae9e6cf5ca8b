"""English text normalization: turn written forms into the words a speaker would say.

Piper voices phonemize with espeak-ng, which reads "3/4/2025" as "three slash four slash two
thousand twenty-five" and "$12.50" as "dollar twelve point five zero", and ends a sentence after
the "doctor" of "Dr. Smith" (as the bundled voice does). This module rewrites such forms first,
so that the voice says what the writer meant.

Design
------
`normalize_english` runs `PASSES`, an ordered tuple of small pure functions. Each pass owns one
regular expression for one written form (an e-mail address, a date, an amount of money...) and
replaces every match with words, leaving the rest of the text as it was: case, spacing and the
punctuation that shapes prosody (commas, sentence-ending periods, question marks). A pass only
sees what the passes before it left, so the order is part of the design:

1. e-mail addresses and URLs first: they hold dots, digits and abbreviation-like pieces that
   every later pass would misread;
2. abbreviations next, so that their periods are gone (or kept as a sentence end) early;
3. phone numbers, dates, ranges and times, which are made of numbers, before any number is
   read;
4. symbols, money and percentages before the plain numbers inside them;
5. decades, ordinals, units and years in context, then every remaining number;
6. acronyms last, once units ("GB") and times ("AM") have been read.

Readings and conventions
------------------------
Number words come from num2words, said the American way, like the bundled US voice: no commas
and no "and", so "1,234" is "one thousand two hundred thirty-four" and "101st" is "one hundred
first". Years are read the way years are said: "1999" is "nineteen ninety-nine", "2005" is
"two thousand five". Unit names use American spelling ("kilometer", "liter"). Letters said one
by one are joined by hyphens ("FBI" -> "F-B-I", "am" -> "A-M"): espeak-ng then reads each
letter's name, where a spaced "A" would be read as the article "uh". Numeric dates are month
first, as in the US ("3/4/2025" is March fourth) unless the first number cannot be a month.

Deliberately not handled
------------------------
Roman numerals ("World War II" is left as written), fractions ("3/4" becomes "three/four"),
"in" as a unit of length (too often the preposition), dotted initialisms such as "U.S." (espeak
reads them well), currency codes ("USD" is spelled out like any acronym), decimal commas
("3,50 €"), a minus between spaced numbers ("5 - 3" keeps its dash, unless the request asks
for math notation: `_read_math`), and readings that need grammar, such as telling "lead" the
metal from "lead" the verb.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from num2words import num2words

from speech.text.tracking import sub

# A written number: digits grouped by commas or not, optional decimals, and an optional minus
# sign. It must not continue a word or another number ("MP3", "1.2.3" are left to
# `_read_numbers`).
_UNSIGNED_NUMBER = r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_SIGN = r"(?<![\w.-])[-−]"
_NUMBER = rf"(?:{_SIGN})?{_UNSIGNED_NUMBER}"
# Whole numbers with more digits than this are codes (card or account numbers), not quantities.
_LONGEST_QUANTITY = 15
_DIGIT_WORDS = tuple(str(num2words(digit)) for digit in range(10))


def _american(words: str) -> str:
    """num2words' British style said the American way, as the US voice would: "one thousand,
    two hundred and thirty-four" -> "one thousand two hundred thirty-four"."""
    return words.replace(",", "").replace(" and ", " ")


def _cardinal(number: int) -> str:
    return _american(str(num2words(number)))


def say_ordinal(number: int) -> str:
    return _american(str(num2words(number, to="ordinal")))


def say_digits(digits: str) -> str:
    """Digits one by one, for codes, phone numbers and decimals: "007" -> "zero zero seven"."""
    return " ".join(_DIGIT_WORDS[int(digit)] for digit in digits)


def say_integer(digits: str) -> str:
    """A run of digits as a quantity, or digit by digit when it is a code.

    A leading zero ("02134") or more than `_LONGEST_QUANTITY` digits marks a code: nobody says
    "four quadrillion, one hundred and eleven trillion..." for a card number.
    """
    if len(digits) > _LONGEST_QUANTITY or (len(digits) > 1 and digits[0] == "0"):
        return say_digits(digits)
    return _cardinal(int(digits))


def say_number(written: str) -> str:
    """Words for a written number: "-1,234.5" -> "minus one thousand, ... thirty-four point five".

    Decimals are read digit by digit after "point"; a number with several dots is a version or
    an address ("1.2.3" -> "one dot two dot three").
    """
    sign = "minus " if written[0] in "-−" else ""
    whole, *fractions = written.lstrip("-−").replace(",", "").split(".")
    if len(fractions) > 1:
        return sign + " dot ".join(say_integer(part) for part in [whole, *fractions])
    words = say_integer(whole) if whole else ""
    if fractions:
        words = f"{words} point {say_digits(fractions[0])}".lstrip()
    return sign + words


def say_year(year: int) -> str:
    """A year as it is said: "nineteen ninety-nine", "nineteen oh five", "two thousand five"."""
    return str(num2words(year, to="year")).replace(" and ", " ").replace("oh-", "oh ")


def _is_year(number: int) -> bool:
    """Whether a four-digit number is likely a year when the context says it may be one."""
    return 1100 <= number <= 2099


def _plural(word: str) -> str:
    """The plural of a number word: "ninety" -> "nineties", "hundred" -> "hundreds"."""
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _match_case(written: str, words: str) -> str:
    """Capitalize words like the written form they replace ("E.g." -> "For example")."""
    return words[0].upper() + words[1:] if written[:1].isupper() else words


# What follows a period that ends a sentence: a capitalized word, maybe after an opening quote.
_NEXT_SENTENCE = re.compile(r"\s+[\"'“‘(\[]*[A-Z]")


def _closing_period(match: re.Match[str], can_end_sentence: bool) -> str:
    """The period to keep after an abbreviation that was expanded: "." or "".

    An abbreviation's period is not a sentence end ("Dr. Smith paid" has no pause after
    "Doctor"), so it is dropped, except at the very end of the text, and before a capitalized
    word when the abbreviation can end a sentence ("on Elm St. Then" -> "on Elm Street. Then").
    """
    if not match.group().endswith("."):
        return ""
    rest = match.string[match.end() :]
    if not rest.strip() or (can_end_sentence and _NEXT_SENTENCE.match(rest)):
        return "."
    return ""


# E-mail addresses and URLs -----------------------------------------------------------------------

SYMBOL_NAMES = {
    ".": "dot",
    "@": "at",
    "/": "slash",
    ":": "colon",
    "-": "dash",
    "_": "underscore",
    "+": "plus",
    "~": "tilde",
    "=": "equals",
    "?": "question mark",
    "&": "and",
    "#": "hash",
    "%": "percent",
}
_ADDRESS_PIECE = re.compile(r"\d+|_|[^\w\s]")


def _say_address(address: str) -> str:
    """An address's symbols as words and its digits one by one: "a_b2.io" -> "a underscore b
    two dot io". Symbols nobody says aloud (quotes, brackets) are dropped."""

    def say_piece(match: re.Match[str]) -> str:
        piece = match.group()
        return f" {say_digits(piece) if piece.isdigit() else SYMBOL_NAMES.get(piece, '')} "

    return " ".join(_ADDRESS_PIECE.sub(say_piece, address).split())


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _read_emails(text: str) -> str:
    """E-mail addresses: "user@example.org" -> "user at example dot org"."""
    return sub(_EMAIL, lambda match: _say_address(match.group()), text)


# A URL starts with a scheme or "www.", or is a bare domain with a common top-level domain; it
# does not end with the punctuation of the sentence around it.
_URL = re.compile(
    r"(?<![\w@.])(?:"
    r"(?i:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]"
    r"|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|org|net|edu|gov|io|dev|app|ai|co|uk)\b"
    r"(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?/?"
    r")"
)
_URL_PREFIX = re.compile(r"^(?i:https?://)?(?i:www\.)?")


def _read_urls(text: str) -> str:
    """URLs without their scheme and "www.": "https://www.example.com/docs" -> "example dot com
    slash docs"; bare domains with a common ending too ("example.org")."""

    def say_url(match: re.Match[str]) -> str:
        return _say_address(_URL_PREFIX.sub("", match.group()).rstrip("/"))

    return sub(_URL, say_url, text)


# Abbreviations -----------------------------------------------------------------------------------

# Titles come before a name and so never end a sentence.
TITLES = {"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor"}
# Name suffixes come after a name and may end a sentence.
NAME_SUFFIXES = {"Jr": "Junior", "Sr": "Senior"}
# A title before a name, or a street type after a street's name.
TITLE_OR_STREET = {"Dr": ("Doctor", "Drive"), "St": ("Saint", "Street")}
# Phrases, in any case; only "etc." can end a sentence.
PHRASES = {
    "e.g": "for example",
    "i.e": "that is",
    "etc": "et cetera",
    "vs": "versus",
    "approx": "approximately",
}
_ABBREVIATION = re.compile(
    r"(?<![\w.])(?:"
    r"(?P<word>Mrs|Mr|Ms|Prof|Dr|St|Jr|Sr)\b\.?"
    r"|(?P<phrase>(?i:e\.g\.|i\.e\.|etc\.|vs\b\.?|approx\.))"
    r"|(?P<number>(?i:no)\.)(?=\s?\d)"
    r")"
)
_PREVIOUS_WORD = re.compile(r"(\S+)\s+$")
_STREET_NAME = re.compile(r"[A-Z][A-Za-z'-]*|\d+(?:st|nd|rd|th)")
_NAME_NEXT = re.compile(r"\s+[A-Z]")


def _follows_street_name(match: re.Match[str]) -> bool:
    """Whether "Dr."/"St." is a street type ("Elm Dr.") rather than a title ("Dr. Smith").

    After a capitalized word that does not start the sentence it is a street ("on Elm St."),
    before a capitalized name a title ("I met Dr. Smith", "St. Louis"), and otherwise a street
    only after a capitalized word ("Main St. is closed"): "the Dr. said" is a doctor.
    """
    text = match.string
    previous = _PREVIOUS_WORD.search(text, 0, match.start())
    if previous is None or not _STREET_NAME.fullmatch(previous[1]):
        return False
    before = text[: previous.start(1)].rstrip()
    starts_sentence = not before or before[-1] in ".!?"
    return not starts_sentence or not _NAME_NEXT.match(text, match.end())


def _read_abbreviations(text: str) -> str:
    """Abbreviations and titles: "Dr. Smith" -> "Doctor Smith", "Elm St." -> "Elm Street",
    "e.g." -> "for example", "etc." -> "et cetera", "no. 5" -> "number 5"."""

    def expand(match: re.Match[str]) -> str:
        if word := match["word"]:
            if word in TITLES:
                expansion, can_end_sentence = TITLES[word], False
            elif word in NAME_SUFFIXES:
                expansion, can_end_sentence = NAME_SUFFIXES[word], True
            else:
                title, street = TITLE_OR_STREET[word]
                can_end_sentence = _follows_street_name(match)
                expansion = street if can_end_sentence else title
        elif phrase := match["phrase"]:
            key = phrase.lower().rstrip(".")
            expansion, can_end_sentence = _match_case(phrase, PHRASES[key]), key == "etc"
        else:
            expansion, can_end_sentence = _match_case(match["number"], "number"), False
        return expansion + _closing_period(match, can_end_sentence)

    return sub(_ABBREVIATION, expand, text)


# Phone numbers and dates -------------------------------------------------------------------------

_PHONE_NUMBER = re.compile(
    r"(?<![\w+(-])(?:"
    r"(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # North American
    r"|\+\d{1,3}(?:[ .-]\d{1,4}){2,5}"  # international, with a country code
    r"|\d{3}-\d{4}"  # local, seven digits
    r")(?![\w-]|\.\d)"
)
_PHONE_GROUP = re.compile(r"\+?\d+")


def say_phone_number(written: str) -> str:
    """A phone number digit by digit with a pause between groups: "(555) 123-4567" -> "five
    five five, one two three, four five six seven"; "+1" -> "plus one"."""
    return ", ".join(
        ("plus " if group.startswith("+") else "") + say_digits(group.lstrip("+"))
        for group in _PHONE_GROUP.findall(written)
    )


def _read_phone_numbers(text: str) -> str:
    """Phone numbers, read with `say_phone_number`."""
    return sub(_PHONE_NUMBER, lambda match: say_phone_number(match.group()), text)


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Each month by its name and its abbreviations: "Mar" and "March" are both "March".
MONTH_NAMES = {name: month for month in MONTHS for name in (month, month[:3])} | {
    "Sept": "September"
}
# A month's name or its abbreviation, whose period is only taken before the day or year.
_MONTH = (
    r"(?P<month>" + "|".join(sorted(MONTH_NAMES, key=len, reverse=True)) + r")\b(?:\.(?=\s*\d))?"
)


def say_date(month: str, day: int, year: str | None) -> str:
    """ "March fourth, twenty twenty-five": month first, as the US voice would say it, and a
    comma before the year for the pause a speaker makes there."""
    date = f"{month} {say_ordinal(day)}"
    return f"{date}, {say_year(int(year))}" if year else date


_ISO_DATE = re.compile(
    r"(?<![\w/.-])(?P<year>\d{4})(?P<separator>[-/])(?P<month>\d{2})(?P=separator)(?P<day>\d{2})"
    r"(?![\w/-]|\.\d)"
)


def _say_numeric_date(match: re.Match[str], month: int, day: int) -> str:
    """A date written in numbers, in words; an impossible one is left as it was written."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group()
    return say_date(MONTHS[month - 1], day, match["year"])


def _read_iso_dates(text: str) -> str:
    """Dates written year first: "2025-03-04" or "2025/03/04" -> "March fourth, twenty
    twenty-five". Impossible dates are left alone."""

    def say(match: re.Match[str]) -> str:
        return _say_numeric_date(match, int(match["month"]), int(match["day"]))

    return sub(_ISO_DATE, say, text)


_NUMERIC_DATE = re.compile(
    r"(?<![\w/.-])(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})(?![\w/]|\.\d)"
)


def _read_numeric_dates(text: str) -> str:
    """Dates written with slashes, month first as in the US: "3/4/2025" -> "March fourth,
    twenty twenty-five". When the first number cannot be a month, the date is read day first
    ("13/4/2025" -> "April thirteenth, ...")."""

    def say(match: re.Match[str]) -> str:
        month, day = int(match["month"]), int(match["day"])
        if month > 12 >= day:
            month, day = day, month
        return _say_numeric_date(match, month, day)

    return sub(_NUMERIC_DATE, say, text)


_DAY_FIRST_DATE = re.compile(
    rf"(?<![\w.,])(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}"
    r"(?:,?\s+(?P<year>\d{4})(?!\d))?"
)
_ENDS_WITH_THE = re.compile(r"\bthe\s+$", re.IGNORECASE)


def _read_day_first_dates(text: str) -> str:
    """Dates with the day first: "4 March 2025" -> "the fourth of March, twenty twenty-five",
    "the 4th of July" -> "the fourth of July" (no second "the")."""

    def say(match: re.Match[str]) -> str:
        day = int(match["day"])
        if not 1 <= day <= 31:
            return match.group()
        article = "" if _ENDS_WITH_THE.search(match.string, 0, match.start()) else "the "
        date = f"{article}{say_ordinal(day)} of {MONTH_NAMES[match['month']]}"
        return f"{date}, {say_year(int(match['year']))}" if match["year"] else date

    return sub(_DAY_FIRST_DATE, say, text)


_MONTH_FIRST_DATE = re.compile(
    rf"\b{_MONTH}\s+(?:"
    r"(?P<day>\d{1,2})(?:st|nd|rd|th)?(?!\d)(?:,?\s+(?P<year>\d{4})(?!\d))?"
    r"|(?P<month_year>\d{4})(?!\d)"
    r")"
)


def _read_month_first_dates(text: str) -> str:
    """Dates with the month's name first: "March 4, 2025" -> "March fourth, twenty
    twenty-five", "Jan. 5th" -> "January fifth", "May 2025" -> "May twenty twenty-five"."""

    def say(match: re.Match[str]) -> str:
        month = MONTH_NAMES[match["month"]]
        if match["month_year"]:
            return f"{month} {say_year(int(match['month_year']))}"
        day = int(match["day"])
        if not 1 <= day <= 31:
            return match.group()
        return say_date(month, day, match["year"])

    return sub(_MONTH_FIRST_DATE, say, text)


# Ranges and times --------------------------------------------------------------------------------

_NUMBER_RANGE = re.compile(
    r"(?<![\w.,:-])(?P<first>\d+(?::\d\d|\.\d+)?)[-–](?P<second>\d+(?::\d\d|\.\d+)?)"
    r"(?![\w:-]|[.,]\d)"
)


def _read_number_ranges(text: str) -> str:
    """Ranges and scores: "5-10" -> "5 to 10", "3:30-4:30" -> "3:30 to 4:30", left for the
    later passes to read; year ranges are read as years: "1990-2000" -> "nineteen ninety to two
    thousand", "2024-25" -> "twenty twenty-four to twenty-five"."""

    def say(match: re.Match[str]) -> str:
        first, second = match["first"], match["second"]
        if len(first) == 4 and first.isdigit() and _is_year(int(first)):
            if len(second) == 4 and second.isdigit() and _is_year(int(second)):
                return f"{say_year(int(first))} to {say_year(int(second))}"
            if len(second) == 2 and second.isdigit() and int(second) > int(first[2:]):
                return f"{say_year(int(first))} to {_cardinal(int(second))}"
        return f"{first} to {second}"

    return sub(_NUMBER_RANGE, say, text)


_MERIDIEM = r"(?P<meridiem>[AaPp]\.?[Mm]\b\.?)"


def _say_time(match: re.Match[str]) -> str | None:
    """ "three oh five P-M" for a time match with hour, minute, second and meridiem groups, or
    None when the time is impossible (25:00, 13 pm)."""
    groups = match.groupdict()
    hour = int(groups["hour"])
    minute = int(groups.get("minute") or 0)
    second = int(groups.get("second") or 0)
    meridiem = groups["meridiem"]
    if not (0 <= hour <= 23 and minute <= 59 and second <= 59) or (
        meridiem and not 1 <= hour <= 12
    ):
        return None
    words = _cardinal(hour)
    if minute:
        words += f" oh {_cardinal(minute)}" if minute < 10 else f" {_cardinal(minute)}"
    elif not meridiem:
        words += " o'clock" if 1 <= hour <= 12 else " hundred"
    if second:
        words += f" and {_cardinal(second)} second{'s' if second > 1 else ''}"
    if meridiem:
        words += " A-M" if meridiem[0] in "Aa" else " P-M"
        words += _closing_period(match, can_end_sentence=True)
    return words


_CLOCK_TIME = re.compile(
    r"(?<![\w:.])(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?(?!\d|:\d)"
    rf"(?:\s?{_MERIDIEM})?"
)


def _read_clock_times(text: str) -> str:
    """Times with a colon: "3:30" -> "three thirty", "3:05 pm" -> "three oh five P-M",
    "10:00 AM" -> "ten A-M", "14:45" -> "fourteen forty-five", "3:00" -> "three o'clock"."""
    return sub(_CLOCK_TIME, lambda match: _say_time(match) or match.group(), text)


_HOUR_TIME = re.compile(rf"(?<![\w:.])(?P<hour>\d{{1,2}})\s?{_MERIDIEM}")


def _read_hour_times(text: str) -> str:
    """Whole hours with a.m. or p.m.: "5pm" -> "five P-M", "at 9 a.m." -> "at nine A-M"."""
    return sub(_HOUR_TIME, lambda match: _say_time(match) or match.group(), text)


# Symbols, money and percentages ------------------------------------------------------------------

_SYMBOLS = (
    (re.compile(r"#(?=\d)"), "number "),
    (re.compile(r"~\s?(?=[-−$€£¥.\d])"), "about "),
    (re.compile(r"(?<=\d)\s?\+\s?(?=\d)"), " plus "),
    (re.compile(r"\s?=\s?"), " equals "),
    (re.compile(r"\s?&\s?"), " and "),
)


def _read_symbols(text: str) -> str:
    """Symbols that stand for words: "#1" -> "number 1", "~5" -> "about 5", "2+2" -> "2 plus 2",
    "=" -> "equals", "&" -> "and". Other symbols ("<", "*") are left to the voice."""
    for symbol, words in _SYMBOLS:
        text = sub(symbol, words, text)
    return text


class _Currency(NamedTuple):
    unit: str
    units: str
    subunit: str | None
    subunits: str | None


_CURRENCIES = {
    "$": _Currency("dollar", "dollars", "cent", "cents"),
    "€": _Currency("euro", "euros", "cent", "cents"),
    "£": _Currency("pound", "pounds", "penny", "pence"),
    "¥": _Currency("yen", "yen", None, None),
}
_SCALES = {
    "k": "thousand",
    "m": "million",
    "mn": "million",
    "b": "billion",
    "bn": "billion",
    "t": "trillion",
    "tn": "trillion",
} | {word: word for word in ("thousand", "million", "billion", "trillion")}
_MONEY = re.compile(
    rf"(?P<sign>{_SIGN})?(?P<symbol>[$€£¥])\s?(?P<amount>{_UNSIGNED_NUMBER}|\.\d+)"
    r"(?P<scale>(?:\s?(?i:thousand|million|billion|trillion)|k|K|mn|m|M|bn|B|tn|T)(?![\w-]))?"
)
# The symbol after the amount, as much of Europe writes it: "5 €", "20€".
_MONEY_SYMBOL_AFTER = re.compile(
    rf"(?P<sign>{_SIGN})?(?P<amount>{_UNSIGNED_NUMBER})\s?(?P<symbol>[$€£¥])(?![\w$€£¥])"
)


def _say_money(currency: _Currency, amount: str, scale: str | None) -> str:
    """ "twelve dollars and fifty cents"; amounts with a scale ("$1.5 billion", "$5M", but not
    "$20 T-shirts") or more than two decimals are read as numbers ("one point five billion
    dollars")."""
    whole, _, fraction = amount.replace(",", "").partition(".")
    whole = whole or "0"  # "$.99"
    if scale:
        return f"{say_number(amount)} {_SCALES[scale.strip().lower()]} {currency.units}"
    if currency.subunit is None or len(fraction) > 2:
        unit = currency.unit if amount == "1" else currency.units
        return f"{say_number(amount)} {unit}"
    units = int(whole)
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if units or not cents:
        unit = currency.unit if units == 1 else currency.units
        parts.append(f"{say_integer(whole)} {unit}")
    if cents:
        parts.append(f"{_cardinal(cents)} {currency.subunit if cents == 1 else currency.subunits}")
    return " and ".join(parts)


def _read_money(text: str) -> str:
    """Amounts of money: "$12.50" -> "twelve dollars and fifty cents", "$1" -> "one dollar",
    "$0.99" -> "ninety-nine cents", "£3.20" -> "three pounds and twenty pence", "$5 million" ->
    "five million dollars", "$1.5bn" -> "one point five billion dollars", "5 €" -> "five
    euros"."""

    def say(match: re.Match[str]) -> str:
        sign = "minus " if match["sign"] else ""
        currency = _CURRENCIES[match["symbol"]]
        return sign + _say_money(currency, match["amount"], match.groupdict().get("scale"))

    return sub(_MONEY_SYMBOL_AFTER, say, sub(_MONEY, say, text))


_PERCENTAGE = re.compile(rf"(?P<number>{_NUMBER})\s?%")


def _read_percentages(text: str) -> str:
    """Percentages: "50%" -> "fifty percent", "3.5%" -> "three point five percent"."""
    return sub(_PERCENTAGE, lambda match: f"{say_number(match['number'])} percent", text)


# Decades, ordinals, units and years --------------------------------------------------------------

_DECADE = re.compile(r"(?<![\w.,'’])['’]?(?P<century>1[1-9]|20)?(?P<decade>\d0)s\b")


def _read_decades(text: str) -> str:
    """Decades: "1990s" -> "nineteen nineties", "'80s" -> "eighties", "2000s" -> "two
    thousands". Before units, which would read the "s" as seconds."""

    def say(match: re.Match[str]) -> str:
        if match["century"]:
            return _plural(say_year(int(match["century"] + match["decade"])))
        if match["decade"] == "00":
            return match.group()
        return _plural(_cardinal(int(match["decade"])))

    return sub(_DECADE, say, text)


_ORDINAL = re.compile(r"(?<![\w.])(?P<number>\d{1,3}(?:,\d{3})+|\d{1,15})(?:st|nd|rd|th)\b")


def _read_ordinals(text: str) -> str:
    """Ordinals: "1st" -> "first", "23rd" -> "twenty-third", "101st" -> "one hundred and
    first"."""
    return sub(_ORDINAL, lambda match: say_ordinal(int(match["number"].replace(",", ""))), text)


# Units read only after a number; "in" is left out, as "5 in" is usually the preposition.
_UNITS = {
    "km": ("kilometer", "kilometers"),
    "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "L": ("liter", "liters"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "ms": ("millisecond", "milliseconds"),
    "s": ("second", "seconds"),
    "sec": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
}
_UNIT = re.compile(
    rf"(?P<number>{_NUMBER})\s?(?P<unit>"
    + "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))
    + r")(?![\w/°])"
)


def _read_units(text: str) -> str:
    """Units after a number, singular only for exactly one: "1 km" -> "one kilometer",
    "5km" -> "five kilometers", "-3 °C" -> "minus three degrees Celsius"."""

    def say(match: re.Match[str]) -> str:
        number = match["number"]
        singular, plural = _UNITS[match["unit"]]
        return f"{say_number(number)} {singular if number.lstrip('-−') == '1' else plural}"

    return sub(_UNIT, say, text)


# Words after which a four-digit number is a year: "in 1999", "the year 2000", "since 1066".
_YEAR_CUES = "in|since|by|of|from|until|till|before|after|during|year|circa"
_YEAR_IN_CONTEXT = re.compile(
    rf"\b(?P<cue>(?i:{_YEAR_CUES})\s+)(?P<year>\d{{4}})(?!\w|[.,]\d)"
    r"(?:(?P<joint>\s+(?:to|and|or|through|until)\s+)(?P<second>\d{4})(?!\w|[.,]\d))?"
)


def _read_years(text: str) -> str:
    """Years after a word that announces one: "in 1999" -> "in nineteen ninety-nine", "since
    2005" -> "since two thousand five", "from 1990 to 1995" -> both as years. Other four-digit
    numbers stay quantities: "1999 people" -> "one thousand, nine hundred and ninety-nine"."""

    def say(match: re.Match[str]) -> str:
        years = [match["year"]] + ([match["second"]] if match["second"] else [])
        if not all(_is_year(int(year)) for year in years):
            return match.group()
        words = match["cue"] + say_year(int(match["year"]))
        return words + (match["joint"] + say_year(int(match["second"])) if match["second"] else "")

    return sub(_YEAR_IN_CONTEXT, say, text)


# Plain numbers -----------------------------------------------------------------------------------

_ANY_NUMBER = re.compile(
    r"(?P<sign>(?<![\w.-])[-−])?(?<![\d.])"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)*|(?<!\w)\.\d+)"
)


def _read_numbers(text: str) -> str:
    """Every number left: "42" -> "forty-two", "-5" -> "minus five", "3.14" -> "three point one
    four", "1.2.3" -> "one dot two dot three". A number joined to letters is set apart from them
    ("MP3" -> "MP three", "3D" -> "three D") so that the voice does not read one long word."""

    def say(match: re.Match[str]) -> str:
        text, start, end = match.string, match.start(), match.end()
        words = say_number((match["sign"] or "") + match["number"])
        before = " " if start > 0 and text[start - 1].isalpha() else ""
        after = " " if end < len(text) and text[end].isalpha() else ""
        return f"{before}{words}{after}"

    return sub(_ANY_NUMBER, say, text)


# Acronyms ----------------------------------------------------------------------------------------

# Acronyms said as words, and ordinary words often written in capitals for emphasis: these are
# left as written. Every other word of two to five capitals is spelled out.
_ACRONYMS_SAID_AS_WORDS = frozenset(
    {"NASA", "NATO", "LASER", "SCUBA", "RADAR", "SONAR", "GIF", "JPEG", "COVID", "AIDS", "FIFA"}
    | {"NAFTA", "OPEC", "IKEA", "PIN", "RAM", "ROM", "SIM"}
)
_EMPHASIS_WORDS = frozenset(
    {"NO", "NOT", "YES", "STOP", "HELP", "NEVER", "NOW", "VERY", "MUST", "ALL", "ONLY", "WOW"}
    | {"HEY", "WHAT", "WHY", "HOW", "THE", "AND", "BUT", "YOU", "THIS", "THAT", "FREE", "NEW"}
    | {"BIG", "GOOD", "BEST", "LOVE", "GREAT", "REAL"}
)
_CAPITALS = re.compile(
    r"(?<![\w'’])(?<![A-Z]-)(?P<letters>[A-Z]{2,5})(?P<plural>s)?(?![\w]|['’][A-Z]|-[A-Z])"
)
_ROMAN_NUMERAL = re.compile(r"[IVX]+")
# A word in capitals ("I" or two capitals or more) just before or after another one, separated
# by spaces; a comma after the previous word makes a list ("the FBI, CIA and NSA"), not shouting.
_CAPITALS_BEFORE = re.compile(r"(?<!\S)[\"“‘(]*(?:I|[A-Z][A-Z'’]+)\s+$")
_CAPITALS_AFTER = re.compile(r"\s+(?:I|[A-Z][A-Z'’]+)[.,;:!?\"”’)]*(?!\S)")


def _is_shouted(match: re.Match[str]) -> bool:
    """Whether a word in capitals sits next to another one, as in a shouted sentence ("I SAID
    STOP", "HELLO WORLD!"): such words are left as written."""
    text = match.string
    return bool(
        _CAPITALS_BEFORE.search(text, 0, match.start()) or _CAPITALS_AFTER.match(text, match.end())
    )


def _read_acronyms(text: str) -> str:
    """Acronyms spelled out letter by letter: "FBI" -> "F-B-I", "HTML" -> "H-T-M-L", "APIs" ->
    "A-P-I's". Acronyms said as words ("NASA"), emphasis ("I said NO"), Roman numerals and
    shouted sentences are left as written."""

    def spell(match: re.Match[str]) -> str:
        letters = match["letters"]
        if (
            letters in _ACRONYMS_SAID_AS_WORDS
            or (letters in _EMPHASIS_WORDS and not match["plural"])
            or _ROMAN_NUMERAL.fullmatch(letters)
            or _is_shouted(match)
        ):
            return match.group()
        return "-".join(letters) + ("'s" if match["plural"] else "")

    return sub(_CAPITALS, spell, text)


Pass = Callable[[str], str]

PASSES: tuple[Pass, ...] = (
    _read_emails,
    _read_urls,
    _read_abbreviations,
    _read_phone_numbers,
    _read_iso_dates,
    _read_numeric_dates,
    _read_day_first_dates,
    _read_month_first_dates,
    _read_number_ranges,
    _read_clock_times,
    _read_hour_times,
    _read_symbols,
    _read_money,
    _read_percentages,
    _read_decades,
    _read_ordinals,
    _read_units,
    _read_years,
    _read_numbers,
    _read_acronyms,
)


# Math notation (asked for per request) ----------------------------------------------------------

_MATH_WORDS = {
    "+": "plus",
    "-": "minus",
    "−": "minus",
    "*": "times",
    "×": "times",
    "x": "times",
    "/": "divided by",
    "÷": "divided by",
    "=": "equals",
    "^": "to the power of",
}
# Between digits, spaced or not; a dash or a slash only with a space on each side, because
# unspaced they are ranges ("10-12"), dates ("3/4/2025") and fractions ("1/2").
_MATH_OPERATOR = re.compile(r"(?<=\d)(?:\s*([+*×x÷=^])\s*|\s+([-−/])\s+)(?=\d)")


def _read_math(text: str) -> str:
    """Operators between numbers, as words: "2 + 2 = 4" -> "2 plus 2 equals 4", "10 - 3" ->
    "10 minus 3", "6 / 2" -> "6 divided by 2", "3 × 4" -> "3 times 4", "2^8" -> "2 to the power
    of 8". Only with `math_notation`: otherwise "5 x 6" and "10 - 3" are left as written."""
    return sub(_MATH_OPERATOR, lambda match: f" {_MATH_WORDS[match[1] or match[2]]} ", text)


def normalize_english(text: str, math_notation: bool = False) -> str:
    """English text as it should be spoken: each of `PASSES`, in order; with `math_notation`,
    operators between numbers are read first."""
    for read in MATH_PASSES if math_notation else PASSES:
        text = read(text)
    return text


# URLs and e-mail addresses keep their symbols; the operators are read before anything that
# would take "10 - 3" for a range or "6 / 2" for a date.
MATH_PASSES: tuple[Pass, ...] = (*PASSES[:2], _read_math, *PASSES[2:])
