"""What reading text costs: normalization and the lexicon, per chunk, without the voice.

    .venv/bin/python bench/text.py [--repeat 200] [--entries 500]

Each text of bench/ttfa.py, plus one dense with numbers, dates and abbreviations, is cut into
chunks as the consumer cuts it, then each chunk is turned into the engine's script
(speech/text: lexicon, then normalization) `--repeat` times: once without a lexicon and
once with `--entries` made-up entries. Printed: milliseconds per chunk and for the first chunk
(the one that decides the time to first audio), best of three rounds. The engine takes about
50 ms for a first chunk on the reference machine (docs/benchmarks.md), so these are the
fractions of it that reading the text adds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ttfa import TEXTS  # noqa: E402
from speech.chunking import split_into_chunks  # noqa: E402
from speech.lexicon import Entry, Lexicon  # noqa: E402
from speech.text import script  # noqa: E402
from speech.text.script import Plain, Reading  # noqa: E402

NUMBERS = (
    "On 3/4/2025, Dr. Smith paid $12.50 for 3 kg of apples. The meeting starts at 10:30 am on "
    "Jan. 5th. Call 555-1234 before the 21st; it is 45% off, e.g. 1,234 items at ~$5 each."
)


def made_up_lexicon(entries: int) -> Callable[[str], list[Plain | Reading]]:
    """A lexicon of `entries` words that do not occur in the texts, and one that does."""
    words = [
        Entry(f"word{number}x", f"replacement {number}", False, False) for number in range(entries)
    ]
    return Lexicon([*words, Entry("Thursday", "Thurs day", False, False)]).apply


def read_all(chunks: list[str], lexicon: Callable[[str], list[Plain | Reading]] | None) -> None:
    for chunk in chunks:
        script(chunk, "en-US", lexicon)


def seconds_per_call(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            function()
        best = min(best, (time.perf_counter() - started) / repeat)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--entries", type=int, default=500)
    options = parser.parse_args()
    lexicon = made_up_lexicon(options.entries)
    print(f"{'text':10} {'chars':>5} {'chunks':>6} {'ms/chunk':>9} {'1st ms':>7} "
          f"{'+lexicon ms/chunk':>18} {'1st ms':>7}")  # fmt: skip
    for name, text in [*TEXTS.items(), ("numbers", NUMBERS)]:
        chunks = split_into_chunks(text, 240, 30)
        row = [f"{name:10} {len(text):5} {len(chunks):6}"]
        for apply in (None, lexicon):
            every = seconds_per_call(partial(read_all, chunks, apply), options.repeat)
            first = seconds_per_call(partial(script, chunks[0], "en-US", apply), options.repeat)
            width = 9 if apply is None else 18
            row.append(f"{every / len(chunks) * 1000:{width}.3f} {first * 1000:7.3f}")
        print(" ".join(row))


if __name__ == "__main__":
    main()
