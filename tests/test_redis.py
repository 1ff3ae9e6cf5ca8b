"""Scale-out mode for real: Daphne and `synthesis_worker` processes sharing Redis.

Tests with the same settings share a deployment, in the order they are written here: each
leaves it serving, or the fixture that hands it over makes it so.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from ttsproject import server

from .clients import receive, send, speak
from .conftest import require_service, service_reachable
from .servers import ROOT, Deployment, deployment, free_port, wait_for, wait_for_port
from .test_voice_availability import copy_voice

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

# The deployments that live for one test share this database (a database of its own, so that
# they never meet a developer's server on the same Redis); the module's own get a Redis server
# each.
LONELY_REDIS_URL = "redis://127.0.0.1:6379/14"


def lonely_redis() -> str:
    """LONELY_REDIS_URL, emptied of what an earlier deployment left there."""
    require_service("Redis", 6379)
    redis.Redis.from_url(LONELY_REDIS_URL).flushdb()
    return LONELY_REDIS_URL


class RedisServer:
    """A Redis server of the tests' own, which they may stop and start again."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed, and CI needs it")
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.command = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        self.command += ["--save", "", "--dir", str(directory)]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if self.process is None:
            self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
            assert wait_for(lambda: service_reachable(self.port), 10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], RedisServer]]:
    """Start Redis servers of the module's own: `private_redis()`; all stop at its end."""
    started: list[RedisServer] = []

    def start() -> RedisServer:
        redis_server = RedisServer(tmp_path_factory.mktemp("redis-server"))
        redis_server.start()
        started.append(redis_server)
        return redis_server

    yield start
    for redis_server in started:
        redis_server.stop()


def test_the_worker_channel_hands_out_the_chunk_due_soonest_first() -> None:
    """Whichever web process sent them, in whatever order: the workers take the chunk whose
    listener needs it first. Other channels stay first in, first out."""
    from synthesis.redis_layer import DueOrderedRedisChannelLayer

    layer = DueOrderedRedisChannelLayer(
        hosts=[{"address": lonely_redis(), "socket_timeout": 15}],
        ordered_channels=["tts-synthesize"],
    )

    async def scenario() -> tuple[list[str], list[str]]:
        now = time.time()
        for name, due in (("later", now + 5), ("now", now), ("soon", now + 1)):
            message = {"type": "tts.synthesize", "name": name, "due": due}
            await layer.send("tts-synthesize", message)
            await layer.send("elsewhere", message)
        ordered = [(await layer.receive("tts-synthesize"))["name"] for _ in range(3)]
        arrived = [(await layer.receive("elsewhere"))["name"] for _ in range(3)]
        return ordered, arrived

    assert asyncio.run(scenario()) == (["now", "soon", "later"], ["later", "now", "soon"])


# One Daphne without workers and one `synthesis_worker` process, on a Redis of their own,
# which the last tests stop and start again.


@pytest.fixture(scope="module")
def redis_deployment(
    tmp_path_factory: pytest.TempPathFactory, private_redis: Callable[[], RedisServer]
) -> Iterator[tuple[Deployment, RedisServer]]:
    redis_server = private_redis()
    with deployment(
        tmp_path_factory.mktemp("redis"), workers=1, REDIS_URL=redis_server.url
    ) as running:
        yield running, redis_server


@pytest.fixture
def redis_up(redis_deployment: tuple[Deployment, RedisServer]) -> Deployment:
    """The deployment with its Redis running, and ready."""
    running, redis_server = redis_deployment
    redis_server.start()
    assert wait_for(running.ready, 30), running.get("/readyz")
    return running


def test_a_worker_process_serves_requests_through_redis(redis_up):
    # 48 kHz makes the audio of this sentence larger than one layer message may be.
    text = "Scaling out works when the workers listen on Redis, far from the sockets. " * 2
    messages = redis_up.speak(text, sample_rate=48000)
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))
    audio = b"".join(base64.b64decode(m["data"]["audio"]) for m in chunks)
    seconds = len(audio) / 2 / 48000
    assert 6 < seconds < 14
    assert messages[-1]["data"]["audio_seconds"] == pytest.approx(seconds, abs=0.001)


def test_a_web_process_whose_workers_run_elsewhere_loads_no_voice(redis_up):
    """The web process only relays: after serving a request it holds no voice model (a loaded
    voice and its warm-up cost well over 200 MB)."""
    assert redis_up.speak("Relayed, not synthesized here.")[-1]["status"] == "complete"
    assert redis_up.rss_mb() < 200, redis_up.rss_mb()
    assert redis_up.rss_mb(peak=True) < 200


def test_a_voice_edited_in_another_process_reaches_the_next_request(redis_up):
    text = "An operator changes the voice while the server keeps running."
    before = redis_up.speak(text)[-1]["data"]["audio_seconds"]  # now cached in Redis
    edit = "from voices.models import Voice; v = Voice.objects.get(voice_id='joe'); "
    redis_up.manage("shell", "-c", edit + "v.default_speed = 1.6; v.save()")
    try:
        after = redis_up.speak(text)[-1]["data"]["audio_seconds"]
    finally:
        redis_up.manage("shell", "-c", edit + "v.default_speed = 1.0; v.save()")
    assert after < before * 0.8


def test_a_worker_loads_a_voice_imported_by_another_process_and_lets_it_go(redis_up, tmp_path):
    copy_voice(tmp_path, "en_US-joe3-medium")
    redis_up.manage("import_voices", "--dir", str(tmp_path))

    def worker_logs() -> str:
        logs = (redis_up.data_dir / f"worker{n}.log" for n in range(len(redis_up.workers)))
        return "".join(log.read_text(errors="replace") for log in logs)

    try:
        loaded = "Loaded voice model en_US-joe3-medium in "
        assert wait_for(lambda: loaded in worker_logs(), 30), worker_logs()[-3000:]
        messages = redis_up.speak("Hello from a voice the workers loaded.", voice_id="joe3")
        assert messages[-1]["status"] == "complete", messages[-1]
    finally:
        redis_up.manage(
            "shell",
            "-c",
            "from voices.models import Voice, VoiceModel; "
            "Voice.objects.get(voice_id='joe3').delete(); "
            "VoiceModel.objects.get(name='en_US-joe3-medium').delete()",
        )
    let_go = "Let go of voice model en_US-joe3-medium: "
    assert wait_for(lambda: let_go in worker_logs(), 30), worker_logs()[-3000:]


def test_readyz_is_ready_with_a_worker_on_redis(redis_up):
    status, body = redis_up.get("/readyz")
    assert status == 200, body
    assert body["checks"] == {
        "database": "ok",
        "channel_layer": "ok",
        "workers": "ok",
        "voices": "ok",
    }


def test_an_idle_socket_and_worker_outlast_the_redis_read_timeout(redis_up):
    # redis-py 8 times reads out after 5 s by default, as long as a blocking receive waits:
    # without a longer timeout both the socket's consumer and the worker died when idle.
    async def speak_after_a_pause() -> list[dict]:
        async with redis_up.websocket() as ws:
            await asyncio.sleep(7)
            return await speak(ws, "Still here after a pause.", timeout=30)

    messages = asyncio.run(speak_after_a_pause())
    assert messages[-1]["status"] == "complete", messages[-1]
    assert all(worker.poll() is None for worker in redis_up.workers)


def test_two_daphnes_and_two_workers_serve_clients_on_both_ports(redis_up, tmp_path):
    first = redis_up
    if len(first.live_workers()) < 2:
        first.start_worker()
    # Another Daphne, as on a second machine: the same database, and the same Redis.
    port = free_port()
    with open(tmp_path / "daphne.log", "wb") as log:
        daphne = subprocess.Popen(
            server.command("127.0.0.1", port), cwd=ROOT, env=first.env, stdout=log, stderr=log
        )
    try:
        wait_for_port(port, daphne, log=tmp_path / "daphne.log")
        second = Deployment(port, first.env, tmp_path, [])

        async def both() -> list[list[dict]]:
            def speak_to(running: Deployment, n: int) -> Any:
                return asyncio.to_thread(running.speak, f"Client {n} of four, two per port.")

            return await asyncio.gather(*(speak_to((first, second)[n % 2], n) for n in range(4)))

        for messages in asyncio.run(both()):
            assert messages[-1]["status"] == "complete", messages[-1]
        assert second.get("/readyz")[0] == 200
    finally:
        daphne.terminate()
        daphne.wait(timeout=20)


def test_redis_going_away_gives_errors_and_the_server_recovers(redis_deployment, redis_up):
    running, redis_server = redis_deployment

    async def session() -> tuple[list[dict], list[dict], list[dict]]:
        async with running.websocket("/ws/tts/?timeout=60") as ws:  # outlasts the outage
            before = await speak(ws, "Everything is fine.")
            redis_server.stop()
            during = await speak(ws, "Is anybody there?")
            assert running.get("/readyz")[0] == 503
            redis_server.start()
            # The worker rides out the outage and reports in again by itself.
            assert await asyncio.to_thread(wait_for, running.ready, 20)
            assert all(worker.poll() is None for worker in running.workers), "a worker exited"
            after = await speak(ws, "Back in business, on the same socket.")
            return before, during, after

    before, during, after = asyncio.run(session())
    assert before[-1]["status"] == "complete"
    assert during[-1]["status"] == "error"
    assert during[-1]["code"] == "server_busy"
    assert "try again" in during[-1]["message"]
    assert after[-1]["status"] == "complete", after[-1]
    assert running.get("/healthz")[0] == 200


def test_readyz_says_which_check_failed_but_not_where_its_redis_is(redis_deployment, redis_up):
    running, redis_server = redis_deployment
    mark = running.log_mark()
    redis_server.stop()
    status, body = running.get("/readyz")
    assert status == 503
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"] == "failed: unreachable"
    assert body["checks"]["workers"] == "failed: unreachable"
    port = str(redis_server.port)
    shown = json.dumps(body)
    for detail in ("127.0.0.1", port, "Error", "redis", "refused"):
        assert detail not in shown
    # The operator finds the detail in the log.
    assert wait_for(lambda: f"127.0.0.1:{port}" in running.log(since=mark), 5)
    assert "WARNING synthesis.health" in running.log(since=mark)


# Workers that die: a worker on a Redis of its own, missed within three heartbeats, and a
# short deadline before chunks are sent again.

# Short, so that failing takes seconds; long enough for a new worker process to start (about
# 1.5 s on an idle machine, more while the rest of the suite loads it).
DEADLINE = 3

LONG_TEXT = " ".join(
    f"This is sentence number {n} of a long answer, and it takes a moment to say." for n in range(6)
)


@pytest.fixture(scope="module")
def failing_deployment(
    tmp_path_factory: pytest.TempPathFactory, private_redis: Callable[[], RedisServer]
) -> Iterator[Deployment]:
    with deployment(
        tmp_path_factory.mktemp("failing"),
        workers=1,
        REDIS_URL=private_redis().url,
        TTS_CHUNK_DEADLINE=str(DEADLINE),
        TTS_HEARTBEAT_SECONDS="0.3",
    ) as running:
        yield running


@pytest.fixture
def one_worker(failing_deployment: Deployment) -> Deployment:
    """The failing deployment with one live worker, which /readyz has heard from."""
    if not failing_deployment.live_workers():
        failing_deployment.start_worker()
    assert len(failing_deployment.live_workers()) == 1
    assert wait_for(failing_deployment.ready, 60), failing_deployment.get("/readyz")
    return failing_deployment


def speak_through(running: Deployment, during: Callable[[], None]) -> list[dict]:
    """Speak LONG_TEXT; call `during()` once its first chunk has arrived."""

    async def call_during() -> None:
        during()

    async def exchange() -> list[dict]:
        async with running.websocket() as ws:
            return await speak(ws, LONG_TEXT, after_first=call_during)

    return asyncio.run(exchange())


def test_readyz_tells_the_load_balancer_when_the_last_worker_is_gone(one_worker):
    running = one_worker
    running.live_workers()[0].send_signal(signal.SIGKILL)
    assert wait_for(lambda: running.get("/readyz")[0] == 503, 5)
    status, body = running.get("/readyz")
    assert body["status"] == "not ready"
    assert body["checks"]["workers"].startswith("failed: no synthesis worker")
    assert body["checks"]["database"] == body["checks"]["channel_layer"] == "ok"
    assert running.get("/healthz") == (200, {"status": "ok"})


def test_a_request_with_no_worker_left_fails_in_time_and_the_next_one_succeeds(one_worker):
    running = one_worker
    started = time.monotonic()
    messages = speak_through(running, lambda: running.live_workers()[0].send_signal(signal.SIGKILL))
    assert messages[-1]["status"] == "error", messages[-1]
    assert messages[-1]["code"] == "synthesis_failed"
    # Three deadlines at most (one more for chunks no worker had started, then sent again),
    # plus the audio the client still had to play.
    audio = sum(len(m["data"]["audio"]) * 3 / 4 / 2 / 24000 for m in messages[:-1])
    assert time.monotonic() - started < 3 * DEADLINE + audio + 3
    running.start_worker()
    # Once the new worker is there: a request sent while it starts races the deadline.
    assert wait_for(running.ready, 60), running.get("/readyz")
    assert running.speak("Back again.")[-1]["status"] == "complete"


def test_chunks_lost_with_a_killed_worker_are_sent_again_long_before_the_deadline(tmp_path):
    """A worker that stops beating is missed within three heartbeats, and the chunks it held
    go to another worker then, not when the request's deadline runs out."""
    deadline = 60
    with deployment(
        tmp_path,
        workers=1,
        REDIS_URL=lonely_redis(),
        TTS_CHUNK_DEADLINE=str(deadline),
        TTS_HEARTBEAT_SECONDS="0.3",
    ) as running:
        healthy = running.speak(LONG_TEXT)
        assert healthy[-1]["status"] == "complete"
        victim = running.workers[0]

        async def replace_the_worker() -> None:
            # Once it has taken the next chunks. (One it takes off Redis and dies before it can
            # say so is lost unseen, and waits for the deadline.)
            await asyncio.sleep(0.5)
            victim.send_signal(signal.SIGKILL)
            running.start_worker()

        async def exchange() -> list[dict]:
            async with running.websocket() as ws:
                return await speak(ws, LONG_TEXT, after_first=replace_the_worker)

        started = time.monotonic()
        messages = asyncio.run(exchange())
        took = time.monotonic() - started
        log = running.log()
        following = running.speak("And the next request.")
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))
    # All of it: the lost chunks were synthesized again, not skipped.
    seconds = messages[-1]["data"]["audio_seconds"]
    assert seconds == pytest.approx(healthy[-1]["data"]["audio_seconds"], rel=0.1)
    assert following[-1]["status"] == "complete"
    assert f"worker {socket.gethostname()}:{victim.pid} is gone; sending chunk" in log
    # A new worker starts and warms up in seconds; the deadline would have taken a minute.
    assert took < deadline / 2, took


# The test as the only worker: no worker process, and a one-second deadline.

SHORT_DEADLINE = 1.0


@pytest.fixture(scope="module")
def workerless_deployment(
    tmp_path_factory: pytest.TempPathFactory, private_redis: Callable[[], RedisServer]
) -> Iterator[tuple[Deployment, str]]:
    redis_url = private_redis().url
    with deployment(
        tmp_path_factory.mktemp("workerless"),
        warm_up=False,
        REDIS_URL=redis_url,
        TTS_CHUNK_DEADLINE=str(SHORT_DEADLINE),
    ) as running:
        yield running, redis_url


@pytest.mark.parametrize("worker_starts_it", [False, True])
def test_a_chunk_is_sent_again_at_once_only_if_a_worker_started_it(
    workerless_deployment, worker_starts_it
):
    """Unstarted chunks wait for busy workers; a started chunk that stalls was lost."""
    from channels_redis.core import RedisChannelLayer

    running, redis_url = workerless_deployment
    mark = running.log_mark()
    request_id = f"started-{worker_starts_it}".lower()

    async def scenario() -> tuple[list[float], dict]:
        # The test is the only worker: one that takes chunks and never finishes them.
        layer = RedisChannelLayer(hosts=[redis_url])
        async with running.websocket() as ws:
            sent = time.monotonic()
            await send(ws, {"text": "Hello.", "voice_id": "joe", "request_id": request_id})
            copies: list[float] = []
            while len(copies) < 2:
                job = await asyncio.wait_for(layer.receive("tts-synthesize"), 10)
                if job["request_id"] != request_id:
                    continue  # an earlier test's, not yet expired
                copies.append(time.monotonic() - sent)
                if worker_starts_it:
                    started = {"type": "tts.started", "index": job["index"]}
                    for name in ("request_id", "stream"):
                        started[name] = job[name]
                    await layer.send(job["reply_channel"], started)
            end = await receive(ws, 10)
        return copies, end

    copies, end = asyncio.run(scenario())
    assert end["code"] == "synthesis_failed"
    if worker_starts_it:  # lost with its worker: sent again after one deadline
        assert SHORT_DEADLINE * 0.8 < copies[1] < SHORT_DEADLINE * 1.8, copies
    else:  # waiting for a free worker: one deadline more before it is sent again
        assert copies[1] > SHORT_DEADLINE * 1.8, copies
        assert "the workers are busy, waiting on" in running.log(since=mark)


def test_a_chunk_taken_by_a_worker_that_died_before_saying_so_is_sent_again_within_seconds(
    tmp_path: Path, private_redis: Callable[[], RedisServer]
) -> None:
    """A worker killed between taking a chunk off Redis and saying so leaves no trace but the
    chunk's absence from the channel: it is sent again within a few heartbeats, not after the
    deadline. A chunk that waits on the channel for a free worker is not sent again."""
    from channels_redis.core import RedisChannelLayer

    deadline = 30
    redis_url = private_redis().url
    with deployment(
        tmp_path,
        warm_up=False,
        REDIS_URL=redis_url,
        TTS_CHUNK_DEADLINE=str(deadline),
        TTS_HEARTBEAT_SECONDS="0.3",  # unheard for 1 s is lost
    ) as running:

        async def scenario() -> tuple[str, float]:
            # The test is the only worker: it takes the chunk, and dies before it says so.
            layer = RedisChannelLayer(hosts=[{"address": redis_url, "socket_timeout": 60}])
            async with running.websocket() as ws:
                await send(ws, {"text": "Hello.", "voice_id": "joe"})
                await asyncio.sleep(3)  # no worker yet: the chunk waits, unheard
                first = await asyncio.wait_for(layer.receive("tts-synthesize"), 10)
                taken = time.monotonic()
                log_then = running.log()
                again = await asyncio.wait_for(layer.receive("tts-synthesize"), deadline)
                assert (again["stream"], again["index"]) == (first["stream"], first["index"])
                return log_then, time.monotonic() - taken

        log_then, after = asyncio.run(scenario())
        log = running.log()
    lost = "left the worker channel, and no worker said it took it"
    assert lost not in log_then  # waiting three seconds on the channel is not lost
    assert lost in log
    assert after < deadline / 3, after


def test_a_newcomers_first_chunk_reaches_a_worker_before_chunks_needed_later(
    workerless_deployment,
):
    """The worker channel is in order of need: a long answer's next chunks, due once its
    first two seconds have played, wait behind a newcomer's first chunk, due now, though
    they were sent before it."""
    from channels_redis.core import RedisChannelLayer

    running, redis_url = workerless_deployment
    ours = {"long-answer", "newcomer"}

    async def scenario() -> list[tuple[str, int]]:
        # The test is the only worker.
        layer = RedisChannelLayer(hosts=[{"address": redis_url, "socket_timeout": 15}])

        async def next_job() -> dict:
            while True:
                job = await asyncio.wait_for(layer.receive("tts-synthesize"), 10)
                if job["request_id"] in ours:
                    return dict(job)  # not an earlier test's

        async with running.websocket() as long_answer, running.websocket() as newcomer:
            text = {"text": LONG_TEXT, "voice_id": "joe", "request_id": "long-answer"}
            await send(long_answer, text)
            first = await next_job()
            two_seconds = bytes(2 * first["sample_rate"] * 2)
            for part, audio in enumerate([two_seconds, b""]):
                reply = {"type": "tts.audio", "part": part, "last": not audio, "audio": audio}
                for name in ("request_id", "stream", "index"):
                    reply[name] = first[name]
                await layer.send(first["reply_channel"], {**reply, "words": []})
            assert (await receive(long_answer, 10))["status"] == "chunk"
            await asyncio.sleep(0.3)  # its next chunks are on the channel now
            await send(newcomer, {"text": "Hello.", "voice_id": "joe", "request_id": "newcomer"})
            await asyncio.sleep(0.3)
            taken = [await next_job() for _ in range(3)]
        return [(job["request_id"], job["index"]) for job in taken]

    assert asyncio.run(scenario()) == [("newcomer", 0), ("long-answer", 1), ("long-answer", 2)]


def test_a_flood_that_fills_the_worker_channel_gets_server_busy_and_nothing_breaks(tmp_path):
    with deployment(
        tmp_path, warm_up=False, REDIS_URL=lonely_redis(), TTS_WORKER_CAPACITY="3"
    ) as running:  # no worker yet: every first chunk waits on the channel

        async def flood() -> list[dict]:
            path = "/ws/tts/?timeout=60"
            async with running.websocket(path) as one, running.websocket(path) as two:
                for number in range(8):
                    ws = one if number % 2 else two
                    text = {"text": f"Request {number}.", "voice_id": "joe"}
                    await send(ws, {**text, "request_id": f"r{number}"})
                await asyncio.sleep(2)  # the channel is full now; the three that fit wait
                running.start_worker()

                async def ends(ws: Any) -> list[dict]:
                    ended: list[dict] = []
                    while len(ended) < 4:
                        message = await receive(ws, 60)
                        if message["status"] != "chunk":
                            ended.append(message)
                    return ended

                first, second = await asyncio.gather(ends(one), ends(two))
                return first + second

        messages = asyncio.run(flood())
        errors = [m for m in messages if m["status"] == "error"]
        # Three fit; channels-redis checks the capacity and then adds, so two sockets racing
        # can squeeze in a fourth.
        assert 4 <= len(errors) <= 5, messages
        assert {m["code"] for m in errors} == {"server_busy"}
        assert len([m for m in messages if m["status"] == "complete"]) == 8 - len(errors)
        assert running.speak("The flood is over.")[-1]["status"] == "complete"
