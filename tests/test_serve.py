"""`manage.py serve`: Daphne and supervised worker processes, as `make run` starts them."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import websockets

from .clients import speak
from .conftest import require_service
from .servers import ROOT, Deployment, free_port, wait_for, wait_for_port

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

REDIS_URL = "redis://127.0.0.1:6379/13"


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Deployment]]:
    require_service("Redis", 6379)
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "ttsproject.settings",
        "DATA_DIR": str(tmp_path),
        "REDIS_URL": REDIS_URL,
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    command = [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "2"]
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        wait_for_port(port, serve)
        running = Deployment(port, env, tmp_path, [])
        # As in production, DEBUG is off and keys are required.
        running.api_key = running.manage("create_api_key", "serve test").strip()
        yield serve, running
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_serve_runs_daphne_and_workers_and_restarts_a_dead_worker(served):
    serve, running = served
    assert wait_for(lambda: running.get("/readyz")[0] == 200, 60), running.get("/readyz")
    assert len(children_of(serve.pid)) == 3  # Daphne and two workers
    assert running.speak("Served by a supervised worker.")[-1]["status"] == "complete"

    before = children_of(serve.pid)
    workers = [
        pid for pid in before if b"synthesis_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(workers) == 2
    victim = workers[0]
    subprocess.run(["kill", "-KILL", str(victim)], check=True)
    assert wait_for(lambda: len(children_of(serve.pid) - before) == 1, 15)
    assert victim not in children_of(serve.pid)
    assert "exited with -9; starting it again" in (running.data_dir / "serve.log").read_text()
    assert running.speak("And after a worker died.")[-1]["status"] == "complete"

    # Revoking the key from another process closes its open socket through Redis.
    async def revoke_while_open() -> tuple[dict, int | None]:
        headers = {"Authorization": f"Bearer {running.api_key}"}
        url = f"ws://127.0.0.1:{running.port}/ws/tts/"
        async with websockets.connect(url, additional_headers=headers) as ws:
            assert (await speak(ws, "Still allowed."))[-1]["status"] == "complete"
            assert running.api_key is not None
            await asyncio.to_thread(running.manage, "revoke_api_key", running.api_key[4:12])
            error = json.loads(await asyncio.wait_for(ws.recv(), 5))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            return error, closed.value.rcvd.code if closed.value.rcvd else None

    error, close_code = asyncio.run(revoke_while_open())
    assert (error["code"], close_code) == ("unauthorized", 4401)
    assert "revoked" in error["message"]

    # SIGTERM stops everything, in good order.
    children = children_of(serve.pid)
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=40) == 0
    time.sleep(0.5)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_sigterm_lets_a_request_finish_then_closes_its_socket_with_1001(served):
    serve, running = served
    assert wait_for(lambda: running.get("/readyz")[0] == 200, 60), running.get("/readyz")
    text = " ".join(f"Sentence {n} of a reply that is still being spoken." for n in range(8))

    async def speak_through_shutdown() -> tuple[list[dict], int | None, int]:
        url = f"ws://127.0.0.1:{running.port}/ws/tts/"
        headers = {"Authorization": f"Bearer {running.api_key}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            ready = []

            async def stop_serve() -> None:
                serve.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.2)
                ready.append((await asyncio.to_thread(running.get, "/readyz"))[0])

            messages = await speak(ws, text, after_first=stop_serve, timeout=30)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
            code = closed.value.rcvd.code if closed.value.rcvd else None
            return messages, code, ready[0]

    messages, close_code, ready = asyncio.run(speak_through_shutdown())
    assert ready == 503  # load balancers stop sending new clients at once
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))
    assert close_code == 1001
    assert serve.wait(timeout=40) == 0
