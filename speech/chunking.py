"""Split text into chunks for a streaming speech engine.

The first chunk is kept short so audio starts quickly; later chunks are packed whole sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from speech.text.english import MONTH_NAMES, MONTHS, NAME_SUFFIXES, TITLE_OR_STREET, TITLES

Span = tuple[int, int]

_CLOSERS_CHARS = "\"'”’»)]」』）"
_CLOSERS = r"""["'”’»)\]」』）]*"""
# Western marks only end a sentence before whitespace (so 3.5, 1.2.3, URLs and e-mail addresses
# stay whole); CJK text has no spaces between sentences.
_SENTENCE_END = re.compile(rf"[.!?…]+{_CLOSERS}(?=\s)|[。！？]+{_CLOSERS}|\n")
_FINAL_MARK = re.compile(rf"[.!?…]+{_CLOSERS}$")
_CLAUSE_END = re.compile(rf"[,;:]{_CLOSERS}(?=\s)|\s[–—-](?=\s)|[，、；：]")
_CJK_CLAUSE_MARKS = "，、；："
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\S+")
_NEXT_CHAR = re.compile(r"\s*(\S)")
_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]")  # u.s, a.m, p.m
_OPENERS = "\"'“‘«(["
# A reading or a pause encoded as one run of private-use characters: never cut inside.
_MARKER = re.compile("\ue000[^\ue002]*\ue002|\ue004[^\ue005]*\ue005")

# The English abbreviations are the normalizer's (speech/text/english.py), lower-cased.
# Titles come before a name, so a capitalised word after them still belongs to the sentence.
_TITLES = frozenset(word.lower() for word in (*TITLES, *TITLE_OR_STREET, "Mt")) | {
    "vs",
    "e.g",
    "i.e",
}
# These can end a sentence too, so they only continue it before a lowercase word or a number:
# name suffixes, a few phrases and business words, and the months' abbreviations.
_ABBREVIATIONS = frozenset(
    {word.lower() for word in NAME_SUFFIXES}
    | {"etc", "approx", "no", "inc", "ltd", "co"}
    | {name.lower() for name in MONTH_NAMES if name not in MONTHS}
)


def split_into_sentences(text: str) -> list[str]:
    """Return the sentences of text, stripped, without empty ones.

    Appending text can only change the last sentence, so when text is a growing stream every
    sentence but the last is complete.
    """
    return [text[start:end] for start, end in _sentence_spans(text)]


def split_into_chunks(
    text: str, max_chars: int = 240, first_chunk_max_chars: int = 60
) -> list[str]:
    """Split text into stripped chunks of at most max_chars characters for synthesis.

    The first chunk is at most first_chunk_max_chars long (a short first sentence, or the start
    of a long one) so that audio starts quickly. Later sentences are packed greedily; an overlong
    sentence is split at clauses, then at spaces, and only a word longer than max_chars is cut.
    """
    if max_chars < 1 or first_chunk_max_chars < 1:
        raise ValueError("max_chars and first_chunk_max_chars must be positive")
    sentences = _sentence_spans(text)
    if not sentences:
        return []

    first_limit = min(first_chunk_max_chars, max_chars)
    start, end = sentences[0]
    head_end = _first_chunk_end(text, sentences[0], first_limit, max_chars)
    rest = _strip(text, head_end, end)
    later = ([rest] if rest else []) + sentences[1:]
    pieces = (piece for sentence in later for piece in _pieces(text, sentence, max_chars))
    spans = [(start, head_end), *_pack(pieces, max_chars)]
    return [text[start:end] for start, end in spans]


def ends_with_sentence_end(text: str) -> bool:
    """Whether text ends with a sentence end that no further text could undo.

    In a stream the mark usually arrives before the space after it: "calling." needs no more
    text to be complete, but "3." may become "3.5", "Dr." is followed by a name, and "etc." or
    "..." may go on.
    """
    stripped = text.rstrip()
    end = _FINAL_MARK.search(stripped)
    if end is None or stripped != text:
        return False  # with whitespace after it, split_into_sentences has already seen it
    mark = end.group().rstrip(_CLOSERS_CHARS)
    if "…" in mark or mark.count(".") > 1:
        return False
    if set(mark) <= set("!?"):
        return True
    start = end.start()
    while start > 0 and not stripped[start - 1].isspace():
        start -= 1
    word = stripped[start : end.start()].lstrip(_OPENERS)
    return (
        len(word) >= 2
        and word.isalpha()
        and word.lower() not in _TITLES | _ABBREVIATIONS
        and not _DOTTED.fullmatch(word.lower())
    )


def first_clause_end(text: str, limit: int) -> int | None:
    """Where text's first clause ends, if it has ended, fits in limit and has two words or more.

    A stream's first clause can be spoken before the rest of its sentence arrives.
    """
    sentences = _sentence_spans(text)
    return _clause_end(text, sentences[0], limit) if sentences else None


def _clause_end(text: str, sentence: Span, limit: int) -> int | None:
    start, end = sentence
    clause = _CLAUSE_END.search(text, start, end)
    if clause is None or clause.end() - start > limit:
        return None
    # A one-word clause ("Well,") is too short to sound natural on its own.
    cjk = clause[0] in _CJK_CLAUSE_MARKS and clause.start() - start >= 2
    if cjk or len(text[start : clause.end()].split()) >= 2:
        return clause.end()
    return None


def _sentence_spans(text: str) -> list[Span]:
    cuts = [m.end() for m in _SENTENCE_END.finditer(text) if _ends_sentence(text, m)]
    return _split_at(text, (0, len(text)), cuts)


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    mark = match.group()
    if mark == ".":
        start = match.start()
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        word = text[start : match.start()].lstrip(_OPENERS)
        if word.lower() in _TITLES or (len(word) == 1 and word.isupper()):
            return False  # "Dr. Smith", "J. R. R. Tolkien"
        ambiguous = word.lower() in _ABBREVIATIONS or bool(_DOTTED.fullmatch(word.lower()))
    else:
        ambiguous = mark.strip(".…") == ""  # an ellipsis may trail off mid-sentence
    if not ambiguous:
        return True
    following = _NEXT_CHAR.match(text, match.end())
    return following is None or not (following[1].islower() or following[1].isdigit())


def _first_chunk_end(text: str, sentence: Span, limit: int, max_chars: int) -> int:
    start, end = sentence
    if end - start <= limit:
        return end
    clause_end = _clause_end(text, sentence, limit)
    if clause_end is not None:
        return clause_end
    first_word = cut = None
    for word in _WORD.finditer(text, start, end):
        first_word = first_word or word.end()
        if word.end() - start > (limit // 2 if cut is not None else limit):
            break
        # Not between a title and its name ("Dr." alone would be read as a sentence), unless
        # the name does not fit.
        if word.group().lstrip(_OPENERS).rstrip(".").lower() not in _TITLES:
            cut = word.end()
    return _uncut(text, (start, end), min(cut or first_word or end, start + max_chars))


def _pieces(text: str, span: Span, limit: int) -> list[Span]:
    """Split span at clauses, then at spaces, then anywhere, into packed pieces within limit."""
    start, end = span
    if end - start <= limit:
        return [span]
    for separator in (_CLAUSE_END, _SPACE):
        parts = _split_at(text, span, (m.end() for m in separator.finditer(text, start, end)))
        if len(parts) > 1:
            return _pack((p for part in parts for p in _pieces(text, part, limit)), limit)
    pieces = []
    while start < end:
        cut = _uncut(text, (start, end), min(start + limit, end))
        pieces.append((start, cut))
        start = cut
    return pieces


def _uncut(text: str, span: Span, cut: int) -> int:
    """`cut`, or the nearest place outside the encoded reading or pause it would split
    (speech/text/script.py): before it, unless that is the span's start, else after it."""
    for marker in _MARKER.finditer(text, *span):
        if marker.start() < cut < marker.end():
            return marker.start() if marker.start() > span[0] else marker.end()
    return cut


def _pack(spans: Iterable[Span], limit: int) -> list[Span]:
    packed: list[Span] = []
    for start, end in spans:
        if packed and end - packed[-1][0] <= limit:
            packed[-1] = (packed[-1][0], end)
        else:
            packed.append((start, end))
    return packed


def _split_at(text: str, span: Span, cuts: Iterable[int]) -> list[Span]:
    start, end = span
    parts = []
    for cut in [*cuts, end]:
        part = _strip(text, start, cut)
        if part:
            parts.append(part)
        start = cut
    return parts


def _strip(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None
