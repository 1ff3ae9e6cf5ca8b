"""Scale-out on Redis: throughput with 1 and 2 worker processes, and what Redis adds to TTFA.

Run from the project root, with Redis on 127.0.0.1:6379 (database 12 is flushed):

    .venv/bin/python bench/scaleout.py [--runs 10] [--rounds 2] [--json FILE]

Three deployments are started in turn with `manage.py serve` on a fresh data directory: the
embedded mode (no Redis), then Redis with one and with two `synthesis_worker` processes
(`serve --workers N`). Each gets the same warm-up, then `--runs` sequential requests of the
paragraph (TTFA), then `--rounds` rounds of 4 clients sending the long text at once
(throughput: audio seconds delivered per wall second). TTS_* variables in the environment
reach the servers, e.g. TTS_FIRST_CHUNK_ENGINE_THREADS=1 keeps each worker process on one
core. docs/benchmarks.md records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ttfa import (  # noqa: E402
    TEXTS,
    concurrent_rounds,
    connect,
    ms,
    p50,
    p95,
    request,
    throwaway_server,
)

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/12"
CLIENTS = 4


@contextlib.contextmanager
def served(workers: int | None) -> Iterator[str]:
    """`manage.py serve`: embedded when `workers` is None, else Redis and that many workers."""
    environ = {
        # TTS_* settings pass through, as for bench/ttfa.py; the Redis URL is ours.
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        "LOG_LEVEL": "WARNING",
        "TTS_REQUIRE_API_KEY": os.environ.get("TTS_REQUIRE_API_KEY", "false"),
    }
    if workers is not None:
        environ["REDIS_URL"] = REDIS_URL
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    with throwaway_server(supervised=True, workers=workers or 0, environ=environ) as running:
        yield f"ws://127.0.0.1:{running.port}/ws/tts/"


async def measure(url: str, runs: int, rounds: int) -> dict[str, Any]:
    async with connect(url) as ws:
        for number, text in enumerate([TEXTS["paragraph"], TEXTS["long"], TEXTS["long"]]):
            await request(ws, text, "joe", f"warmup-{number}")
        ttfa = [
            (await request(ws, TEXTS["paragraph"], "joe", f"paragraph-{run}")).ttfa
            for run in range(runs)
        ]
    done = await concurrent_rounds(url, "joe", CLIENTS, rounds)
    timings = [t for r in done for t in r.timings]
    wall = sum(r.wall for r in done)
    return {
        "ttfa_p50_ms": ms(p50(ttfa)),
        "ttfa_p95_ms": ms(p95(ttfa)),
        "concurrent_ttfa_p50_ms": ms(p50([t.ttfa for t in timings])),
        "throughput": sum(t.audio_seconds for t in timings) / wall,
        "samples": {"ttfa_ms": [ms(t) for t in ttfa]},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="sequential paragraph requests")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of 4 concurrent clients")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for name, workers in (("embedded", None), ("redis, 1 worker", 1), ("redis, 2 workers", 2)):
        started = time.perf_counter()
        with served(workers) as url:
            results[name] = asyncio.run(measure(url, args.runs, args.rounds))
        print(f"{name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    print()
    print(f"{'deployment':<18} {'TTFA p50':>9} {'TTFA p95':>9} {'4 at once':>10} {'audio s/s':>10}")
    for name, r in results.items():
        print(
            f"{name:<18} {r['ttfa_p50_ms']:>9.1f} {r['ttfa_p95_ms']:>9.1f} "
            f"{r['concurrent_ttfa_p50_ms']:>10.1f} {r['throughput']:>10.1f}"
        )
    one, two = results["redis, 1 worker"], results["redis, 2 workers"]
    scaling = two["throughput"] / one["throughput"]
    overhead = one["ttfa_p50_ms"] - results["embedded"]["ttfa_p50_ms"]
    print()
    print(f"throughput, 2 workers / 1 worker: {scaling:.2f}x")
    # One worker's synthesis threads keep every core busy: a second on the same machine has
    # none of its own to add. On machines of their own, two come near 2x.
    print(f"(both workers on this machine's {os.cpu_count()} cores: they share them)")
    print(f"TTFA p50 on Redis (1 worker) minus embedded: {overhead:+.1f} ms")
    if args.json:
        report = {"results": results, "scaling": scaling, "redis_ttfa_overhead_ms": overhead}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
