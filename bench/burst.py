"""A burst of long requests at once, then newcomers: is everyone answered promptly?

Run from the project root against a running server (without keys, or with TTS_API_KEY set):

    .venv/bin/python bench/burst.py --url ws://127.0.0.1:8000/ws/tts/ [--sockets 50]

Each of --sockets clients sends --chars characters at the same moment and reads its audio as
fast as it arrives for --listen seconds (then hangs up). Two seconds in, --newcomers clients
each send one short sentence. A good server gives every client prompt audio or a prompt
`server_busy`: no `synthesis_failed`, no newcomer waiting seconds for its first audio.
docs/benchmarks.md records runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import websockets

SENTENCE = "A long answer that one of many listeners asked for at the very same moment. "
NEWCOMER_TEXT = "Hello there, how are you today?"


@dataclass
class Outcome:
    first_status: str = ""
    first_after: float = 0.0  # seconds from send to the first message
    end: str = ""  # complete, an error code, or "listening" when it hung up first
    longest_gap: float = 0.0  # seconds between two chunks, after the first
    chunks: int = 0
    errors: list[str] = field(default_factory=list)


async def client(url: str, headers: dict[str, str], text: str, listen: float) -> Outcome:
    outcome = Outcome()
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        started = time.monotonic()
        await ws.send(json.dumps({"text": text, "voice_id": "joe"}))
        last = None
        while time.monotonic() - started < listen:
            try:
                remaining = listen - (time.monotonic() - started)
                message = json.loads(await asyncio.wait_for(ws.recv(), max(remaining, 0.01)))
            except TimeoutError:
                break
            now = time.monotonic()
            if not outcome.first_status:
                outcome.first_status = message["status"]
                outcome.first_after = now - started
            if message["status"] == "chunk":
                outcome.chunks += 1
                if last is not None:
                    outcome.longest_gap = max(outcome.longest_gap, now - last)
                last = now
                continue
            outcome.end = message.get("code") or message["status"]
            if message["status"] == "error":
                outcome.errors.append(message["code"])
            break
        outcome.end = outcome.end or "listening"
    return outcome


def summary(name: str, outcomes: list[Outcome]) -> None:
    answered = [o for o in outcomes if o.first_status]
    audio = [o.first_after for o in answered if o.first_status == "chunk"]
    refused = [o.first_after for o in answered if o.first_status == "error"]
    print(f"{name}: {len(outcomes)} clients")
    print(f"  first message: {dict(Counter(o.first_status or 'none' for o in outcomes))}")
    print(f"  ended: {dict(Counter(o.end for o in outcomes))}")
    if audio:
        audio.sort()
        print(
            f"  first audio: median {statistics.median(audio):.2f} s, "
            f"p90 {audio[int(0.9 * (len(audio) - 1))]:.2f} s, max {audio[-1]:.2f} s"
        )
        gaps = sorted(o.longest_gap for o in answered if o.chunks > 1)
        if gaps:
            print(f"  longest gap between chunks: median {statistics.median(gaps):.2f} s")
    if refused:
        print(f"  refusals answered within {max(refused):.2f} s")


async def burst(args: argparse.Namespace) -> None:
    key = os.environ.get("TTS_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    text = (SENTENCE * (args.chars // len(SENTENCE) + 1))[: args.chars]
    crowd = [
        asyncio.create_task(client(args.url, headers, text, args.listen))
        for _ in range(args.sockets)
    ]
    await asyncio.sleep(2.0)
    newcomers = [
        await client(args.url, headers, NEWCOMER_TEXT, 15.0) for _ in range(args.newcomers)
    ]
    summary("burst", await asyncio.gather(*crowd))
    summary("newcomers, 2 s into the burst, one after another", newcomers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/tts/")
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--chars", type=int, default=5000)
    parser.add_argument("--listen", type=float, default=20.0, help="seconds each client reads")
    parser.add_argument("--newcomers", type=int, default=3)
    asyncio.run(burst(parser.parse_args()))


if __name__ == "__main__":
    main()
