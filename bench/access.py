"""What checking and counting API keys costs a client, measured A/B on one server.

    .venv/bin/python bench/access.py [--runs 40] [--json out.json]

One `manage.py serve` (embedded mode, keys optional) on a fresh data directory. Clients with a
key and clients without one take turns, so both see the same machine at the same moment:

- new connection: open a socket, send a short text, time to its first audio. With a key this
  includes finding the key, recording the open connection, joining the key's group, the rate
  check and, after `complete`, the usage row.
- same connection: the same short text again on an open socket: the per-request part only.
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

from bench.ttfa import make_api_key, ms, p50, p95, throwaway_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEXT = "Hello there."


@contextlib.contextmanager
def served() -> Iterator[tuple[str, str]]:
    """`manage.py serve` where keys are optional, and a key for it (no rate limit to hit)."""
    environ = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        "LOG_LEVEL": "WARNING",
        "TTS_REQUIRE_API_KEY": "false",
    }
    with throwaway_server(supervised=True, environ=environ) as running:
        yield f"ws://127.0.0.1:{running.port}/ws/tts/", make_api_key(running)


def socket(url: str, key: str | None) -> Any:
    from websockets.asyncio.client import connect

    headers = {"Authorization": f"Bearer {key}"} if key else None
    return connect(url, additional_headers=headers, compression=None)


async def first_audio(ws: Any) -> float:
    """Send TEXT and read its messages to the end; when its first chunk came."""
    await ws.send(json.dumps({"text": TEXT, "voice_id": "joe"}))
    first = None
    while True:
        message = json.loads(await ws.recv())
        if message["status"] == "chunk" and first is None:
            first = time.perf_counter()
        elif message["status"] != "chunk":
            assert message["status"] == "complete", message
            assert first is not None
            return first


def turns(run: int, pair: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Both cases, the first one first on even runs: neither always follows the other."""
    return pair if run % 2 == 0 else pair[::-1]


async def measure(url: str, key: str, runs: int) -> dict[str, Any]:
    fresh: dict[str, list[float]] = {"key": [], "none": []}
    reused: dict[str, list[float]] = {"key": [], "none": []}
    async with socket(url, key) as keyed, socket(url, None) as anonymous:
        for _warm_up in range(3):
            await first_audio(keyed)
            await first_audio(anonymous)
        # One phase each, so that no connection's set-up or tear-down overlaps the other case.
        for run in range(runs):
            for name, open_socket in turns(run, [("key", keyed), ("none", anonymous)]):
                started = time.perf_counter()
                reused[name].append(await first_audio(open_socket) - started)
    for run in range(runs):
        for name, credential in turns(run, [("key", key), ("none", None)]):
            started = time.perf_counter()
            async with socket(url, credential) as ws:
                fresh[name].append(await first_audio(ws) - started)
    summary: dict[str, Any] = {}
    for case, samples in (("new connection", fresh), ("same connection", reused)):
        summary[case] = {
            name: {"p50_ms": ms(p50(values)), "p95_ms": ms(p95(values))}
            for name, values in samples.items()
        }
        summary[case]["key minus none, p50 ms"] = round(
            ms(p50(samples["key"])) - ms(p50(samples["none"])), 1
        )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=40, help="turns of each kind of client")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    with served() as (url, key):
        results = asyncio.run(measure(url, key, args.runs))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
