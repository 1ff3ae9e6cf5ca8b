"""Scale-out mode for real: Daphne and `synthesis_worker` processes sharing Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import websockets

from .clients import speak
from .conftest import require_service, service_reachable
from .servers import (
    ROOT,
    Deployment,
    deployment,
    free_port,
    wait_for,
    wait_for_port,
)

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

# A database of its own, so the test never meets a developer's server on the same Redis.
REDIS_URL = "redis://127.0.0.1:6379/15"
# And another for deployments whose workers come and go.
LONELY_REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture(scope="module")
def redis_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One Daphne without workers and one `synthesis_worker` process, on Redis."""
    require_service("Redis", 6379)
    redis.Redis.from_url(REDIS_URL).flushdb()
    with deployment(tmp_path_factory.mktemp("redis"), workers=1, REDIS_URL=REDIS_URL) as running:
        yield running


def test_a_worker_process_serves_requests_through_redis(redis_deployment):
    # 48 kHz makes the audio of this sentence larger than one layer message may be.
    text = "Scaling out works when the workers listen on Redis, far from the sockets. " * 2
    messages = redis_deployment.speak(text, sample_rate=48000)
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))
    audio = b"".join(base64.b64decode(m["data"]["audio"]) for m in chunks)
    seconds = len(audio) / 2 / 48000
    assert 6 < seconds < 14
    assert messages[-1]["data"]["audio_seconds"] == pytest.approx(seconds, abs=0.001)


def test_a_voice_edited_in_another_process_reaches_the_next_request(redis_deployment):
    text = "An operator changes the voice while the server keeps running."
    before = redis_deployment.speak(text)[-1]["data"]["audio_seconds"]  # now cached in Redis
    edit = "from voices.models import Voice; v = Voice.objects.get(voice_id='joe'); "
    redis_deployment.manage("shell", "-c", edit + "v.default_speed = 1.6; v.save()")
    try:
        after = redis_deployment.speak(text)[-1]["data"]["audio_seconds"]
    finally:
        redis_deployment.manage("shell", "-c", edit + "v.default_speed = 1.0; v.save()")
    assert after < before * 0.8


def test_readyz_is_ready_with_a_worker_on_redis(redis_deployment):
    status, body = redis_deployment.get("/readyz")
    assert status == 200, body
    assert body["checks"] == {
        "database": "ok",
        "channel_layer": "ok",
        "workers": "ok",
        "voices": "ok",
    }


def test_readyz_tells_the_load_balancer_when_the_last_worker_is_gone(tmp_path):
    require_service("Redis", 6379)
    redis.Redis.from_url(LONELY_REDIS_URL).flushdb()
    with deployment(
        tmp_path, workers=1, warm_up=False, REDIS_URL=LONELY_REDIS_URL, TTS_HEARTBEAT_SECONDS="0.3"
    ) as running:
        assert wait_for(lambda: running.get("/readyz")[0] == 200, 30), running.get("/readyz")
        running.workers[0].send_signal(signal.SIGKILL)
        assert wait_for(lambda: running.get("/readyz")[0] == 503, 5)
        status, body = running.get("/readyz")
        assert body["status"] == "not ready"
        assert body["checks"]["workers"].startswith("failed: no synthesis worker")
        assert body["checks"]["database"] == body["checks"]["channel_layer"] == "ok"
        assert running.get("/healthz") == (200, {"status": "ok"})


def test_an_idle_socket_and_worker_outlast_the_redis_read_timeout(redis_deployment):
    # redis-py 8 times reads out after 5 s by default, as long as a blocking receive waits:
    # without a longer timeout both the socket's consumer and the worker died when idle.
    async def speak_after_a_pause() -> list[dict]:
        url = f"ws://127.0.0.1:{redis_deployment.port}/ws/tts/"
        async with websockets.connect(url) as ws:
            await asyncio.sleep(7)
            return await speak(ws, "Still here after a pause.", timeout=30)

    messages = asyncio.run(speak_after_a_pause())
    assert messages[-1]["status"] == "complete", messages[-1]
    assert all(worker.poll() is None for worker in redis_deployment.workers)


LONG_TEXT = " ".join(
    f"This is sentence number {n} of a long answer, and it takes a moment to say."
    for n in range(12)
)


def speak_through(running: Deployment, during: Callable[[], None]) -> list[dict]:
    """Speak LONG_TEXT; call `during()` once its first chunk has arrived."""

    async def call_during() -> None:
        during()

    async def exchange() -> list[dict]:
        async with websockets.connect(f"ws://127.0.0.1:{running.port}/ws/tts/") as ws:
            return await speak(ws, LONG_TEXT, after_first=call_during)

    return asyncio.run(exchange())


# Short, so that failing takes seconds; long enough for a new worker process to start (about
# 1.5 s on an idle machine, more while the rest of the suite loads it).
DEADLINE = 3


@pytest.fixture
def failing_deployment(tmp_path: Path) -> Iterator[Deployment]:
    """One worker on Redis, and a short deadline before chunks are sent again."""
    require_service("Redis", 6379)
    redis.Redis.from_url(LONELY_REDIS_URL).flushdb()
    with deployment(
        tmp_path, workers=1, REDIS_URL=LONELY_REDIS_URL, TTS_CHUNK_DEADLINE=str(DEADLINE)
    ) as running:
        yield running


def test_a_request_survives_its_worker_being_killed(failing_deployment):
    healthy = speak_through(failing_deployment, lambda: None)
    assert healthy[-1]["status"] == "complete"

    def replace_the_worker() -> None:
        failing_deployment.workers[0].send_signal(signal.SIGKILL)
        failing_deployment.start_worker()

    messages = speak_through(failing_deployment, replace_the_worker)
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))
    # All of it: the lost chunks were synthesized again, not skipped.
    seconds = messages[-1]["data"]["audio_seconds"]
    assert seconds == pytest.approx(healthy[-1]["data"]["audio_seconds"], rel=0.1)
    # Sent again when its worker was missed, or at the deadline, whichever came first.
    assert re.search(r"sending chunks? [\d, ]+ again", failing_deployment.log())
    assert failing_deployment.speak("And the next request.")[-1]["status"] == "complete"


def test_chunks_lost_with_a_killed_worker_are_sent_again_long_before_the_deadline(tmp_path):
    """A worker that stops beating is missed within three heartbeats, and the chunks it held
    go to another worker then, not when the request's deadline runs out."""
    require_service("Redis", 6379)
    redis.Redis.from_url(LONELY_REDIS_URL).flushdb()
    deadline = 60
    with deployment(
        tmp_path,
        workers=1,
        REDIS_URL=LONELY_REDIS_URL,
        TTS_CHUNK_DEADLINE=str(deadline),
        TTS_HEARTBEAT_SECONDS="0.3",
    ) as running:
        victim = running.workers[0]

        async def replace_the_worker() -> None:
            # Once it has taken the next chunks. (One it takes off Redis and dies before it can
            # say so is lost unseen, and waits for the deadline.)
            await asyncio.sleep(0.5)
            victim.send_signal(signal.SIGKILL)
            running.start_worker()

        async def exchange() -> list[dict]:
            async with websockets.connect(f"ws://127.0.0.1:{running.port}/ws/tts/") as ws:
                return await speak(ws, LONG_TEXT, after_first=replace_the_worker)

        started = time.monotonic()
        messages = asyncio.run(exchange())
        took = time.monotonic() - started
        log = running.log()
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))
    assert f"worker {socket.gethostname()}:{victim.pid} is gone; sending chunk" in log
    # A new worker starts and warms up in seconds; the deadline would have taken a minute.
    assert took < deadline / 2, took


def test_a_request_with_no_worker_left_fails_in_time_and_the_next_one_succeeds(
    failing_deployment,
):
    started = time.monotonic()
    messages = speak_through(
        failing_deployment, lambda: failing_deployment.workers[0].send_signal(signal.SIGKILL)
    )
    assert messages[-1]["status"] == "error", messages[-1]
    assert messages[-1]["code"] == "synthesis_failed"
    # Three deadlines at most (one more for chunks no worker had started, then sent again),
    # plus the audio the client still had to play.
    audio = sum(len(m["data"]["audio"]) * 3 / 4 / 2 / 24000 for m in messages[:-1])
    assert time.monotonic() - started < 3 * DEADLINE + audio + 3
    failing_deployment.start_worker()
    assert failing_deployment.speak("Back again.")[-1]["status"] == "complete"


@pytest.mark.parametrize("worker_starts_it", [False, True])
def test_a_chunk_is_sent_again_at_once_only_if_a_worker_started_it(tmp_path, worker_starts_it):
    """Unstarted chunks wait for busy workers; a started chunk that stalls was lost."""
    from channels_redis.core import RedisChannelLayer

    require_service("Redis", 6379)
    redis.Redis.from_url(LONELY_REDIS_URL).flushdb()
    deadline = 1.0
    with deployment(
        tmp_path, warm_up=False, REDIS_URL=LONELY_REDIS_URL, TTS_CHUNK_DEADLINE=str(deadline)
    ) as running:

        async def scenario() -> tuple[list[float], dict]:
            # The test is the only worker: one that takes chunks and never finishes them.
            layer = RedisChannelLayer(hosts=[LONELY_REDIS_URL])
            async with websockets.connect(f"ws://127.0.0.1:{running.port}/ws/tts/") as ws:
                sent = time.monotonic()
                await ws.send(json.dumps({"text": "Hello.", "voice_id": "joe"}))
                copies = []
                for _ in range(2):
                    job = await asyncio.wait_for(layer.receive("tts-synthesize"), 10)
                    copies.append(time.monotonic() - sent)
                    if worker_starts_it:
                        started = {"type": "tts.started", "index": job["index"]}
                        for name in ("request_id", "stream"):
                            started[name] = job[name]
                        await layer.send(job["reply_channel"], started)
                end = json.loads(await asyncio.wait_for(ws.recv(), 10))
            return copies, end

        copies, end = asyncio.run(scenario())
    assert end["code"] == "synthesis_failed"
    if worker_starts_it:  # lost with its worker: sent again after one deadline
        assert deadline * 0.8 < copies[1] < deadline * 1.8, copies
    else:  # waiting for a free worker: one deadline more before it is sent again
        assert copies[1] > deadline * 1.8, copies
        assert "the workers are busy, waiting on" in running.log()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[[bool], None]]:
    """A Redis server of the test's own, which it may stop and start: `switch(on)`."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed, and CI needs it")
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        str(tmp_path),
    ]
    server: list[subprocess.Popen] = []

    def switch(on: bool) -> None:
        if on:
            server.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
            assert wait_for(lambda: service_reachable(port), 10)
        else:
            process = server.pop()
            process.kill()
            process.wait()

    switch(True)
    switch.url = f"redis://127.0.0.1:{port}/0"  # type: ignore[attr-defined]
    yield switch
    for process in server:
        process.kill()


def test_redis_going_away_gives_errors_and_the_server_recovers(own_redis, tmp_path):
    (tmp_path / "data").mkdir()
    with deployment(tmp_path / "data", workers=1, REDIS_URL=own_redis.url) as running:

        async def session() -> tuple[list[dict], list[dict], list[dict]]:
            url = f"ws://127.0.0.1:{running.port}/ws/tts/?timeout=60"  # outlasts the outage
            async with websockets.connect(url) as ws:
                before = await speak(ws, "Everything is fine.")
                own_redis(False)
                during = await speak(ws, "Is anybody there?")
                assert running.get("/readyz")[0] == 503
                own_redis(True)
                # The worker rides out the outage and reports in again by itself.
                assert await asyncio.to_thread(
                    wait_for, lambda: running.get("/readyz")[0] == 200, 20
                )
                assert running.workers[0].poll() is None, "the worker process exited"
                after = await speak(ws, "Back in business, on the same socket.")
                return before, during, after

        before, during, after = asyncio.run(session())
        assert before[-1]["status"] == "complete"
        assert during[-1]["status"] == "error"
        assert during[-1]["code"] == "server_busy"
        assert "try again" in during[-1]["message"]
        assert after[-1]["status"] == "complete", after[-1]
        assert running.get("/healthz")[0] == 200


def test_readyz_says_which_check_failed_but_not_where_its_redis_is(own_redis, tmp_path):
    with deployment(tmp_path, warm_up=False, REDIS_URL=own_redis.url) as running:
        own_redis(False)
        status, body = running.get("/readyz")
        assert status == 503
        assert body["status"] == "not ready"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["channel_layer"] == "failed: unreachable"
        assert body["checks"]["workers"] == "failed: unreachable"
        port = own_redis.url.split(":")[-1].split("/")[0]
        shown = json.dumps(body)
        for detail in ("127.0.0.1", port, "Error", "redis", "refused"):
            assert detail not in shown
        # The operator finds the detail in the log.
        assert wait_for(lambda: f"127.0.0.1:{port}" in running.log(), 5)
        assert "WARNING synthesis.health" in running.log()


def test_a_flood_that_fills_the_worker_channel_gets_server_busy_and_nothing_breaks(tmp_path):
    require_service("Redis", 6379)
    redis.Redis.from_url(LONELY_REDIS_URL).flushdb()
    with deployment(
        tmp_path, warm_up=False, REDIS_URL=LONELY_REDIS_URL, TTS_WORKER_CAPACITY="3"
    ) as running:  # no worker yet: every first chunk waits on the channel

        async def flood() -> list[dict]:
            url = f"ws://127.0.0.1:{running.port}/ws/tts/?timeout=60"
            async with websockets.connect(url) as one, websockets.connect(url) as two:
                for number in range(8):
                    ws = one if number % 2 else two
                    text = {"text": f"Request {number}.", "voice_id": "joe"}
                    await ws.send(json.dumps({**text, "request_id": f"r{number}"}))
                await asyncio.sleep(2)  # the channel is full now; the three that fit wait
                running.start_worker()

                async def ends(ws: Any) -> list[dict]:
                    ended: list[dict] = []
                    while len(ended) < 4:
                        message = json.loads(await asyncio.wait_for(ws.recv(), 60))
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


def test_two_daphnes_and_two_workers_serve_clients_on_both_ports(tmp_path):
    require_service("Redis", 6379)
    redis.Redis.from_url(LONELY_REDIS_URL).flushdb()
    with deployment(tmp_path, workers=2, REDIS_URL=LONELY_REDIS_URL) as first:
        port = free_port()
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        with open(tmp_path / "daphne2.log", "wb") as log:
            daphne = subprocess.Popen(
                [*command, "ttsproject.asgi:application"],
                cwd=ROOT,
                env=first.env,
                stdout=log,
                stderr=log,
            )
        try:
            wait_for_port(port, daphne)
            second = Deployment(port, first.env, tmp_path, [])

            async def both() -> list[list[dict]]:
                def speak(running: Deployment, n: int) -> Any:
                    return asyncio.to_thread(running.speak, f"Client {n} of four, two per port.")

                return await asyncio.gather(*(speak((first, second)[n % 2], n) for n in range(4)))

            for messages in asyncio.run(both()):
                assert messages[-1]["status"] == "complete", messages[-1]
            assert second.get("/readyz")[0] == 200
        finally:
            daphne.terminate()
            daphne.wait(timeout=20)
