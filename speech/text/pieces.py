"""A message's text as the chunker takes it: pieces, each marked if a pause ends it.

Plain text is one piece. An SSML document becomes script items (script.py), cut after each
pause: what comes before a pause is ready to be spoken, so the pause ends a chunk and stands
exactly where it was put.
"""

from __future__ import annotations

from dataclasses import dataclass

from .script import Pause
from .script import encode as encode_script
from .ssml import PhonemeProblems, is_ssml, parse_ssml


@dataclass
class SpokenText:
    """Pieces of text, each marked if a pause ends it, and the seconds of pause asked for."""

    pieces: list[tuple[str, bool]]
    pause_seconds: float = 0.0


def spoken_pieces(
    text: str, phoneme_problems: PhonemeProblems | None = None, after: str = ""
) -> SpokenText:
    """`text` (plain or an SSML document) in pieces for the chunker.

    A document's text is set apart by a space from the text it follows (`after`), as a new
    sentence or phrase. Raises SSMLError for SSML that cannot be spoken, naming the problem.
    """
    if not is_ssml(text):
        return SpokenText([(text, False)])
    items = parse_ssml(text, phoneme_problems)
    pieces: list[tuple[str, bool]] = []
    pause_seconds = 0.0
    start = 0
    for end, item in enumerate(items, start=1):
        if isinstance(item, Pause):
            pause_seconds += item.seconds
            if end < len(items) and isinstance(items[end], Pause):
                continue  # pauses in a row add up, in one piece: no chunks of silence alone
            pieces.append((encode_script(items[start:end]), True))
            start = end
    if start < len(items):
        pieces.append((encode_script(items[start:]), False))
    if pieces and after and not after[-1].isspace():
        pieces[0] = (" " + pieces[0][0], pieces[0][1])
    return SpokenText(pieces or [("", False)], pause_seconds)
