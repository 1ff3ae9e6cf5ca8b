"""Text normalization: written English turned into the words a listener expects to hear."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speech.text import Reading, normalize, readings, script
from speech.text.script import Pause, Plain, encode


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # A sentence with a date, a title and a price, all read as meant.
        (
            "On 3/4/2025 Dr. Smith paid $12.50",
            "On March fourth, twenty twenty-five Doctor Smith paid twelve dollars and fifty cents",
        ),
        # Cardinals, the American way: no commas between groups, no "and" before the tens.
        ("42", "forty-two"),
        ("1,234", "one thousand two hundred thirty-four"),
        ("1234", "one thousand two hundred thirty-four"),
        ("-5 degrees", "minus five degrees"),
        ("1,000,000,000", "one billion"),
        ("He has 3 cats.", "He has three cats."),
        # A leading zero or more than 15 digits makes a code, read digit by digit.
        ("Agent 007", "Agent zero zero seven"),
        (
            "Card 4111111111111111",
            "Card four one one one one one one one one one one one one one one one",
        ),
        # Ordinals.
        ("1st", "first"),
        ("2nd", "second"),
        ("23rd", "twenty-third"),
        ("101st", "one hundred first"),
        ("the 21st century", "the twenty-first century"),
        # Decimals, versions and numbers joined to letters.
        ("3.14", "three point one four"),
        ("0.5", "zero point five"),
        ("version 1.2.3", "version one dot two dot three"),
        ("MP3 and H2O", "M-P three and H two O"),
        # Money.
        ("$12.50", "twelve dollars and fifty cents"),
        ("$1", "one dollar"),
        ("$0.99", "ninety-nine cents"),
        ("$1.01", "one dollar and one cent"),
        ("$1,000", "one thousand dollars"),
        ("€5", "five euros"),
        ("5 €", "five euros"),
        ("£3.20", "three pounds and twenty pence"),
        ("$5 million", "five million dollars"),
        ("$1.5 billion", "one point five billion dollars"),
        ("$2bn", "two billion dollars"),
        ("$5M deal", "five million dollars deal"),
        # A letter after the amount is a scale only when it cannot start a word.
        ("$20 T-shirts", "twenty dollars T-shirts"),
        ("-$5", "minus five dollars"),
        # Percentages.
        ("50%", "fifty percent"),
        ("3.5%", "three point five percent"),
        ("5-10%", "five to ten percent"),
        # Years, in context only.
        ("in 1999", "in nineteen ninety-nine"),
        ("In 2000, it rained.", "In two thousand, it rained."),
        ("since 2005", "since two thousand five"),
        ("by 2025", "by twenty twenty-five"),
        ("the year 2010", "the year twenty ten"),
        ("from 1990 to 1995", "from nineteen ninety to nineteen ninety-five"),
        ("1990-2000", "nineteen ninety to two thousand"),
        ("the 2024-25 season", "the twenty twenty-four to twenty-five season"),
        # Without a word announcing a year, a four-digit number is a quantity.
        ("1999 people", "one thousand nine hundred ninety-nine people"),
        ("the 1990s and the '80s", "the nineteen nineties and the eighties"),
        # Dates.
        ("3/4/2025", "March fourth, twenty twenty-five"),
        ("2025-03-04", "March fourth, twenty twenty-five"),
        ("March 4, 2025", "March fourth, twenty twenty-five"),
        # Day-first dates keep their order and are read the British way.
        ("4 March 2025", "the fourth of March, twenty twenty-five"),
        ("the 4th of July", "the fourth of July"),
        ("Jan. 5th", "January fifth"),
        ("in May 2025", "in May twenty twenty-five"),
        # 13 cannot be a month, so this date is read day first.
        ("13/4/2025", "April thirteenth, twenty twenty-five"),
        # Times.
        ("3:30", "three thirty"),
        ("3:05 pm", "three oh five P-M"),
        ("10:00 AM", "ten A-M"),
        ("14:45", "fourteen forty-five"),
        ("3:00", "three o'clock"),
        ("at 9am", "at nine A-M"),
        ("3:30-4:30 pm", "three thirty to four thirty P-M"),
        ("We met at 5 p.m. Then we left.", "We met at five P-M. Then we left."),
        ("We met at 5 p.m. on Monday.", "We met at five P-M on Monday."),
        # Phone numbers: digits one by one, a comma between groups.
        ("555-123-4567", "five five five, one two three, four five six seven"),
        ("(555) 123-4567", "five five five, one two three, four five six seven"),
        ("+1 555 123 4567", "plus one, five five five, one two three, four five six seven"),
        (
            "Call +44 20 7946 0958.",
            "Call plus four four, two zero, seven nine four six, zero nine five eight.",
        ),
        # Units, singular only for exactly one.
        ("1 km", "one kilometer"),
        ("5 km", "five kilometers"),
        ("5km", "five kilometers"),
        ("1.5 kg", "one point five kilograms"),
        ("20 °C", "twenty degrees Celsius"),
        ("-3°F", "minus three degrees Fahrenheit"),
        ("60 mph", "sixty miles per hour"),
        ("100 km/h", "one hundred kilometers per hour"),
        ("5 GB", "five gigabytes"),
        ("10 ms", "ten milliseconds"),
        ("1 s", "one second"),
        ("2 min", "two minutes"),
        ("1 h", "one hour"),
        ("6 ft", "six feet"),
        ("1 ft", "one foot"),
        ("2 lbs", "two pounds"),
        ("1 L", "one liter"),
        ("500 ml", "five hundred milliliters"),
        # "in" is too often the preposition to be read as inches.
        ("5 in", "five in"),
        # Abbreviations and titles: the period goes, unless it ends the sentence.
        ("Dr. Smith paid", "Doctor Smith paid"),
        ("He lives on Elm St.", "He lives on Elm Street."),
        ("He lives on Elm St. Then he left.", "He lives on Elm Street. Then he left."),
        ("I visited St. Louis.", "I visited Saint Louis."),
        ("Elm Dr. is closed.", "Elm Drive is closed."),
        ("123 Main St. is nice", "one hundred twenty-three Main Street is nice"),
        ("Mr. and Mrs. Smith met Ms. Jones", "Mister and Missus Smith met Miz Jones"),
        ("Prof. Lee and John Smith Jr. came", "Professor Lee and John Smith Junior came"),
        ("Fruit, e.g. apples, i.e. red ones", "Fruit, for example apples, that is red ones"),
        ("apples, pears, etc.", "apples, pears, et cetera."),
        ("(apples, etc.) are fruit", "(apples, et cetera) are fruit"),
        ("cats vs. dogs", "cats versus dogs"),
        ("approx. 5 kg", "approximately five kilograms"),
        ("He wore No. 5", "He wore Number five"),
        # "No." before a word is the word "no".
        ("No. I won't.", "No. I won't."),
        # Acronyms.
        ("The FBI uses HTML", "The F-B-I uses H-T-M-L"),
        ("the FBI's APIs", "the F-B-I's A-P-I's"),
        (
            "NASA, NATO, UNESCO, LASER, SCUBA, GIF, JPEG",
            "NASA, NATO, UNESCO, LASER, SCUBA, GIF, JPEG",
        ),
        ("I SAID STOP IT NOW", "I SAID STOP IT NOW"),
        ('"HELLO WORLD!" he said', '"HELLO WORLD!" he said'),
        # A comma between capitals makes a list of acronyms, not shouting.
        ("the FBI, CIA and NSA", "the F-B-I, C-I-A and N-S-A"),
        ("I said NO", "I said NO"),
        ("World War II", "World War II"),
        ("Smith from London", "Smith from London"),
        # URLs and e-mail addresses.
        ("https://example.com/docs", "example dot com slash docs"),
        ("Visit www.example.org.", "Visit example dot org."),
        (
            "See example.com/a-b?x=1.",
            "See example dot com slash a dash b question mark x equals one.",
        ),
        ("user@example.org", "user at example dot org"),
        (
            "Mail john.smith@mail.example.co.uk, please",
            "Mail john dot smith at mail dot example dot co dot uk, please",
        ),
        # Symbols.
        ("Tom & Jerry", "Tom and Jerry"),
        ("2+2=4", "two plus two equals four"),
        ("#1", "number one"),
        ("~5", "about five"),
        ("a < b", "a < b"),
        ("The score was 3-2.", "The score was three to two."),
        # Whitespace is collapsed; sentence punctuation stays.
        ("  Is it   $5?\n", "Is it five dollars?"),
    ],
)
def test_reads_written_forms(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


@pytest.mark.parametrize("language", ["en", "en-US", "en_GB", "EN", " en-us "])
def test_english_is_chosen_by_language_prefix(language: str) -> None:
    assert normalize("Dr. Smith paid $1", language) == "Doctor Smith paid one dollar"


@pytest.mark.parametrize("language", ["de", "fr-FR", "pt_BR", ""])
def test_other_languages_only_collapse_whitespace(language: str) -> None:
    assert normalize("  Am 3.4.2025\n  zahlte Dr. Müller  12,50 €  ", language) == (
        "Am 3.4.2025 zahlte Dr. Müller 12,50 €"
    )


def _ordinal_suffix(number: int) -> str:
    if number % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")


_INTEGERS = st.integers(-(10**12), 10**12)
_CENTS = st.integers(0, 99).map(lambda cents: f"{cents:02}")
# Inputs made only of supported patterns, each drawn with its own values.
SUPPORTED = st.one_of(
    _INTEGERS.map(str),
    _INTEGERS.map(lambda number: f"{number:,}"),
    st.builds(lambda whole, digits: f"{whole}.{digits}", _INTEGERS, st.integers(0, 10**6)),
    st.builds(
        lambda symbol, whole, cents: f"{symbol}{whole:,}.{cents}",
        st.sampled_from("$€£"),
        st.integers(0, 10**9),
        _CENTS,
    ),
    st.builds(
        lambda number, scale: f"${number} {scale}",
        st.integers(1, 999),
        st.sampled_from(["million", "billion"]),
    ),
    st.builds(lambda number: f"{number}%", st.integers(-100, 1000)),
    st.integers(1, 10**6).map(lambda number: f"{number}{_ordinal_suffix(number)}"),
    st.builds(lambda hour, minute: f"{hour}:{minute:02}", st.integers(0, 23), st.integers(0, 59)),
    st.builds(
        lambda hour, minute, meridiem: f"{hour}:{minute:02} {meridiem}",
        st.integers(1, 12),
        st.integers(0, 59),
        st.sampled_from(["am", "pm", "AM", "PM", "a.m.", "p.m."]),
    ),
    st.builds(
        lambda month, day, year: f"{month}/{day}/{year}",
        st.integers(1, 12),
        st.integers(1, 31),
        st.integers(1000, 2999),
    ),
    st.builds(
        lambda month, day, year: f"{year}-{month:02}-{day:02}",
        st.integers(1, 12),
        st.integers(1, 31),
        st.integers(1000, 2999),
    ),
    st.builds(
        lambda cue, year: f"{cue} {year}",
        st.sampled_from(["in", "since", "by", "of"]),
        st.integers(1100, 2099),
    ),
    st.builds(
        lambda area, exchange, line: f"({area}) {exchange}-{line}",
        st.integers(200, 999),
        st.integers(100, 999),
        st.integers(1000, 9999),
    ),
    st.builds(
        lambda number, unit: f"{number} {unit}",
        st.integers(-1000, 10**6),
        st.sampled_from(["km", "kg", "mph", "°C", "GB", "ms", "s", "min", "ft", "L"]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(SUPPORTED, min_size=1, max_size=4))
def test_supported_patterns_leave_no_digits(pieces: list[str]) -> None:
    spoken = normalize(", ".join(pieces))
    assert not re.search(r"\d", spoken), spoken


@settings(max_examples=300, deadline=None)
@given(st.lists(SUPPORTED, min_size=1, max_size=4))
def test_normalizing_twice_changes_nothing_more(pieces: list[str]) -> None:
    spoken = normalize(", ".join(pieces))
    assert normalize(spoken) == spoken


WORDS = st.lists(st.from_regex(r"[a-z]{3,12}", fullmatch=True), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(WORDS, st.booleans(), st.sampled_from([".", "?", "!", ",", ""]))
def test_plain_words_pass_through_unchanged(words: list[str], capitalized: bool, end: str) -> None:
    text = " ".join(words) + end
    if capitalized:
        text = text[0].upper() + text[1:]
    assert normalize(text) == text


@settings(max_examples=100, deadline=None)
@given(WORDS, WORDS)
def test_less_than_sign_in_plain_text_is_kept(before: list[str], after: list[str]) -> None:
    text = f"{' '.join(before)} < {' '.join(after)}"
    assert normalize(text) == text


# Which written words each spoken word stands for: word timestamps report the written ones.
@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "On 3/4/2025 Dr. Smith paid $12.50.",
            [
                ("On", "On"),
                ("3/4/2025", "March fourth, twenty twenty-five"),
                ("Dr.", "Doctor"),
                ("Smith", "Smith"),
                ("paid", "paid"),
                ("$12.50.", "twelve dollars and fifty cents."),
            ],
        ),
        # A pass that keeps a cue word ("in") only reads the year.
        ("in 1999", [("in", "in"), ("1999", "nineteen ninety-nine")]),
        # One reading across two written words is one pair.
        ("March 4, 2025", [("March", "March"), ("4, 2025", "fourth, twenty twenty-five")]),
        # Two passes that touch one written word ("MP3": numbers, then acronyms) make one pair.
        ("MP3 players", [("MP3", "M-P three"), ("players", "players")]),
        ("Hello,  world.\nBye", [("Hello,", "Hello,"), ("world.", "world."), ("Bye", "Bye")]),
    ],
)
def test_readings_pair_written_words_with_what_is_said(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert readings(text) == [Reading(written, spoken) for written, spoken in expected]


def test_readings_of_languages_without_a_normalizer_are_the_words() -> None:
    assert readings("Guten  Tag 3", "de") == [Reading(w, w) for w in ["Guten", "Tag", "3"]]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(SUPPORTED, WORDS.map(" ".join)), min_size=1, max_size=6))
def test_readings_cover_every_written_word_once_and_say_the_normalized_text(
    pieces: list[str],
) -> None:
    text = " ".join(pieces)
    pairs = readings(text)
    assert " ".join(pair.written for pair in pairs).split() == text.split()
    assert " ".join(pair.spoken for pair in pairs) == normalize(text)


def test_a_script_reads_the_text_around_readings_in_context():
    # "Dr." is followed by a reading (SSML or the lexicon): still a title, without a full stop.
    items: list[Plain | Reading | Pause] = [Plain("Dr. "), Reading("Nguyen", "[[ wˈɪn ]]")]
    text = encode([*items, Plain(" paid $5."), Pause(0.5), Plain("Bye.")])
    assert script(text, "en-US") == [
        Reading("Dr.", "Doctor"),
        Reading("Nguyen", "[[ wˈɪn ]]"),
        Reading("paid", "paid"),
        Reading("$5.", "five dollars."),
        Pause(0.5),
        Reading("Bye.", "Bye."),
    ]


def test_a_script_reads_lexicon_entries_as_given_and_normalizes_the_rest():
    def lexicon(text: str) -> list[Plain | Reading]:
        before, _, after = text.partition("SQL")
        return [Plain(before), Reading("SQL", "sequel"), Plain(after)] if _ else [Plain(text)]

    assert script("Learn SQL in 5 days", "en", lexicon) == [
        Reading("Learn", "Learn"),
        Reading("SQL", "sequel"),
        Reading("in", "in"),
        Reading("5", "five"),
        Reading("days", "days"),
    ]


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        st.one_of(
            st.characters(codec="utf-8"),  # any character but surrogates
            st.sampled_from(list("0123456789$%.,:/-+#&~@ ")),
        ),
        max_size=60,
    )
)
def test_any_text_is_read_without_losing_a_written_word(text: str) -> None:
    pairs = readings(text)
    assert " ".join(pair.written for pair in pairs).split() == text.split()


@pytest.mark.parametrize(
    ("text", "plain", "math"),
    [
        ("10 - 3 = 7", "ten - three equals seven", "ten minus three equals seven"),
        ("6 / 2", "six / two", "six divided by two"),
        ("3 × 4 ÷ 2", "three × four ÷ two", "three times four divided by two"),
        ("5 x 6", "five x six", "five times six"),
        ("2^8", "two^eight", "two to the power of eight"),
        ("2 + 2 = 4", "two plus two equals four", "two plus two equals four"),
        # Unspaced, a dash and a slash stay a range and a date.
        ("pages 10-12", "pages ten to twelve", "pages ten to twelve"),
        ("3/4/2025", "March fourth, twenty twenty-five", "March fourth, twenty twenty-five"),
    ],
)
def test_math_notation_reads_operators_between_numbers(text: str, plain: str, math: str) -> None:
    assert normalize(text) == plain
    assert normalize(text, math_notation=True) == math


def test_math_notation_keeps_the_written_operator_for_word_timings() -> None:
    assert readings("10 - 3", math_notation=True) == [
        Reading("10", "ten"), Reading("-", "minus"), Reading("3", "three"),
    ]  # fmt: skip
