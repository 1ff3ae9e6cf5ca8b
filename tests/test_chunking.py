from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speech.chunking import split_into_chunks, split_into_sentences
from speech.text.script import Plain, Reading, decode, encode, strip_markers

CJK_BOUNDARY = re.compile(r"""[。！？，、；：]["'”’»)\]」』）]*$""")


def assert_valid_chunks(
    text: str, chunks: list[str], max_chars: int, first_chunk_max_chars: int
) -> None:
    assert "".join("".join(chunks).split()) == "".join(text.split())
    cursor = 0
    for number, chunk in enumerate(chunks):
        assert chunk
        assert chunk == chunk.strip()
        assert len(chunk) <= max_chars
        # Each chunk is the next slice of the text, separated from the previous one by whitespace
        # only, so nothing can be lost, added or reordered.
        index = text.find(chunk, cursor)
        assert index != -1
        assert text[cursor:index].strip() == ""
        if number and index == cursor:
            assert_boundary_allowed(text, index, max_chars)
        cursor = index + len(chunk)
    assert text[cursor:].strip() == ""
    if chunks:
        first_limit = min(max_chars, first_chunk_max_chars)
        assert len(chunks[0]) <= first_limit or len(chunks[0].split()) == 1


def assert_boundary_allowed(text: str, position: int, max_chars: int) -> None:
    """A boundary with no whitespace must follow CJK punctuation or split an overlong word."""
    if CJK_BOUNDARY.search(text, 0, position):
        return
    start = position
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    end = position
    while end < len(text) and not text[end].isspace():
        end += 1
    assert end - start > max_chars, f"split inside {text[start:end]!r}"


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Dr. Smith arrived. He sat down.", ["Dr. Smith arrived.", "He sat down."]),
        ("Mr. and Mrs. Jones met Prof. Lee.", ["Mr. and Mrs. Jones met Prof. Lee."]),
        ("Use fruit, e.g. apples. Or not.", ["Use fruit, e.g. apples.", "Or not."]),
        (
            "She moved to the U.S. in 2010. It rained.",
            ["She moved to the U.S. in 2010.", "It rained."],
        ),
        ("I read J. R. R. Tolkien. Great.", ["I read J. R. R. Tolkien.", "Great."]),
        (
            "Bring pens, paper, etc. for class. Thanks.",
            ["Bring pens, paper, etc. for class.", "Thanks."],
        ),
        ("Bring pens, paper, etc. Thanks.", ["Bring pens, paper, etc.", "Thanks."]),
        ("We meet at 9 a.m. tomorrow. Bye.", ["We meet at 9 a.m. tomorrow.", "Bye."]),
        ("See item No. 5 today. Done.", ["See item No. 5 today.", "Done."]),
        ("No. I won't go.", ["No.", "I won't go."]),
    ],
)
def test_it_keeps_abbreviations_inside_sentences(text: str, sentences: list[str]) -> None:
    assert split_into_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("It costs 3.5 dollars. Cheap!", ["It costs 3.5 dollars.", "Cheap!"]),
        ("Pay $12.50 now. Thanks.", ["Pay $12.50 now.", "Thanks."]),
        ("Install version 1.2.3 today. Done.", ["Install version 1.2.3 today.", "Done."]),
        (
            "Visit example.com. Or mail a.b@c.org now.",
            ["Visit example.com.", "Or mail a.b@c.org now."],
        ),
    ],
)
def test_it_keeps_numbers_and_addresses_whole(text: str, sentences: list[str]) -> None:
    assert split_into_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("I waited... and waited. Done.", ["I waited... and waited.", "Done."]),
        ("I waited… and waited. Done.", ["I waited… and waited.", "Done."]),
        ("I waited... Then it came.", ["I waited...", "Then it came."]),
        ("Really?! Yes.", ["Really?!", "Yes."]),
    ],
)
def test_it_ends_sentences_at_ellipses_only_before_a_capital(
    text: str, sentences: list[str]
) -> None:
    assert split_into_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("First line\nsecond line", ["First line", "second line"]),
        ("Para one\n\nPara two.", ["Para one", "Para two."]),
        ("- milk\n- eggs\r\n- bread\n", ["- milk", "- eggs", "- bread"]),
        ("Ends with Dr.\nNext line", ["Ends with Dr.", "Next line"]),
    ],
)
def test_it_ends_sentences_at_line_breaks(text: str, sentences: list[str]) -> None:
    assert split_into_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ('He said "Go." Then left.', ['He said "Go."', "Then left."]),
        ("He said “Stop!” Then ran.", ["He said “Stop!”", "Then ran."]),
        ("(It was late.) We left.", ["(It was late.)", "We left."]),
    ],
)
def test_it_keeps_closing_quotes_with_their_sentence(text: str, sentences: list[str]) -> None:
    assert split_into_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("你好。世界！今天好吗？", ["你好。", "世界！", "今天好吗？"]),
        ("「你好。」他说。", ["「你好。」", "他说。"]),
        ("こんにちは。 元気？", ["こんにちは。", "元気？"]),
    ],
)
def test_it_splits_cjk_sentences_without_spaces(text: str, sentences: list[str]) -> None:
    assert split_into_sentences(text) == sentences


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t "])
def test_it_returns_nothing_for_blank_text(text: str) -> None:
    assert split_into_sentences(text) == []
    assert split_into_chunks(text) == []


def test_it_makes_the_first_chunk_the_first_clause() -> None:
    text = "Hello there, this is a long first sentence that keeps going for quite a while. Second."
    assert split_into_chunks(text) == [
        "Hello there,",
        "this is a long first sentence that keeps going for quite a while. Second.",
    ]


def test_it_starts_with_a_few_words_when_the_first_clause_is_unsuitable() -> None:
    text = "Well, this first sentence is far too long to be spoken as the very first chunk here."
    chunks = split_into_chunks(text, first_chunk_max_chars=40)
    assert chunks == [
        "Well, this first",
        "sentence is far too long to be spoken as the very first chunk here.",
    ]


def test_it_starts_with_the_first_cjk_clause() -> None:
    text = "今天的天气非常好，我们一起去公园散步吧，然后去吃饭。"
    assert split_into_chunks(text, first_chunk_max_chars=12) == [
        "今天的天气非常好，",
        "我们一起去公园散步吧，然后去吃饭。",
    ]


def test_it_keeps_a_short_first_sentence_alone() -> None:
    text = "Hi! This sentence could have fit with the first one. So could this."
    assert split_into_chunks(text) == [
        "Hi!",
        "This sentence could have fit with the first one. So could this.",
    ]


def test_it_packs_later_sentences_up_to_max_chars() -> None:
    text = "Start. " + " ".join(f"Sentence number {n}." for n in range(10))
    chunks = split_into_chunks(text, max_chars=60)
    assert chunks == [
        "Start.",
        "Sentence number 0. Sentence number 1. Sentence number 2.",
        "Sentence number 3. Sentence number 4. Sentence number 5.",
        "Sentence number 6. Sentence number 7. Sentence number 8.",
        "Sentence number 9.",
    ]


def test_it_splits_long_sentences_at_clauses_then_spaces() -> None:
    clause = "and the words kept on coming without any full stop at all"
    text = "Start. " + ", ".join([clause] * 6) + " " + " ".join(["word"] * 80)
    chunks = split_into_chunks(text, max_chars=130)
    assert_valid_chunks(text, chunks, 130, 60)
    assert chunks[1] == f"{clause}, {clause},"
    assert all(chunk.endswith(",") for chunk in chunks[1:3])
    assert len(chunks[-2]) > 120  # words are packed greedily too


def test_it_splits_a_word_longer_than_max_chars() -> None:
    token = "x" * 300
    assert split_into_chunks(f"Go. {token}") == ["Go.", "x" * 240, "x" * 60]
    assert split_into_chunks(token, max_chars=100) == ["x" * 100] * 3


def test_it_rejects_non_positive_limits() -> None:
    with pytest.raises(ValueError):
        split_into_chunks("Hello.", max_chars=0)
    with pytest.raises(ValueError):
        split_into_chunks("Hello.", first_chunk_max_chars=0)


ALPHABET = list("abcdeXYZ  \n\t.,!?;:…\"'-–()") + list("你好世界。！？，、")
WORDS = [
    "hello", "World", "Dr.", "e.g.", "U.S.", "etc.", "3.5", "...", "…", "a", "I", "J.",
    '"Go."', "Why?", "Yes!", "no,", "so;", "it:", "–", "—", "你好。", "世界，", "x" * 70,
    "supercalifragilisticexpialidocious",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", " \n "]

random_texts = st.text(alphabet=st.sampled_from(ALPHABET), max_size=600)
sentence_like_texts = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=150
).map(lambda pairs: "".join(word + separator for word, separator in pairs))
texts = random_texts | sentence_like_texts
limits = st.sampled_from([1, 5, 20, 60, 240])


@settings(max_examples=300, deadline=None)
@given(text=texts, max_chars=limits, first_chunk_max_chars=limits)
def test_it_never_loses_text_or_breaks_words(
    text: str, max_chars: int, first_chunk_max_chars: int
) -> None:
    chunks = split_into_chunks(text, max_chars, first_chunk_max_chars)
    assert_valid_chunks(text, chunks, max_chars, first_chunk_max_chars)


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_it_splits_sentences_without_losing_text(text: str) -> None:
    sentences = split_into_sentences(text)
    assert_valid_chunks(text, sentences, len(text), len(text))


@settings(max_examples=300, deadline=None)
@given(text=texts, data=st.data())
def test_it_keeps_completed_sentences_as_text_grows(text: str, data: st.DataObject) -> None:
    prefix = text[: data.draw(st.integers(0, len(text)))]
    complete = split_into_sentences(prefix)[:-1]
    assert split_into_sentences(text)[: len(complete)] == complete


@pytest.mark.parametrize(
    "text",
    [
        "On 3/4/2025 Dr. Smith paid $12.50 for the apples.",
        "Yesterday Mr. Jones and Mrs. Jones sang loudly all night.",
        "Dr. Smith paid twelve dollars for the apples at the market.",
    ],
)
def test_the_first_chunk_does_not_part_a_title_from_its_name(text: str) -> None:
    # A chunk ending in "Dr." is spoken as a sentence of its own, with a pause after "Doctor".
    first = split_into_chunks(text, 100, 30)[0]
    assert first.split()[-1].rstrip(".").lower() not in {"dr", "mr", "mrs"}


@pytest.mark.parametrize("first_chunk_max_chars", [10, 30])
def test_an_encoded_reading_longer_than_a_chunk_is_never_cut(first_chunk_max_chars: int) -> None:
    # An SSML <sub> with a long alias travels as one run of private-use characters.
    reading = Reading("WWW", " ".join(["the world wide web"] * 12))
    text = encode([Plain("Visit "), reading, Plain(" today, or tomorrow at the latest.")])
    chunks = split_into_chunks(text, 60, first_chunk_max_chars)
    items = [item for chunk in chunks for item in decode(chunk)]
    assert items.count(reading) == 1
    plain = [item.text for item in items if isinstance(item, Plain)]
    assert all(strip_markers(text) == text for text in plain)  # no half of a marker is left
