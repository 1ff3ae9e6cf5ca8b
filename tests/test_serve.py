"""`manage.py serve`: Daphne and supervised worker processes, as `make run` starts them."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import websockets

from .clients import receive, speak
from .conftest import require_service
from .servers import Deployment, deployment, speak_through_sigterm, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

REDIS_URL = "redis://127.0.0.1:6379/13"


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen, Deployment]]:
    """`manage.py serve --workers 2` on Redis, as in production: DEBUG off, keys required.
    The tests share it in order; the last one stops it."""
    require_service("Redis", 6379)
    redis.Redis.from_url(REDIS_URL).flushdb()
    with deployment(
        tmp_path_factory.mktemp("serve"),
        workers=2,
        warm_up=False,
        supervised=True,
        # Nothing of the test's environment but a PATH: serve finds its own Python.
        environ={"PATH": "/usr/bin:/bin"},
        key_name="serve test",
        REDIS_URL=REDIS_URL,
    ) as running:
        assert running.server is not None
        yield running.server, running


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
    assert "exited with -9; starting it again" in running.log()
    assert running.speak("And after a worker died.")[-1]["status"] == "complete"

    # Revoking the key from another process closes its open socket through Redis.
    # (A key of its own: the next test still needs the deployment's.)
    key = running.create_api_key("revoked while open")

    async def revoke_while_open() -> tuple[dict, int | None]:
        async with running.websocket(key=key) as ws:
            assert (await speak(ws, "Still allowed."))[-1]["status"] == "complete"
            await asyncio.to_thread(running.manage, "revoke_api_key", key[4:12])
            error = await receive(ws, 5)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            return error, closed.value.rcvd.code if closed.value.rcvd else None

    error, close_code = asyncio.run(revoke_while_open())
    assert (error["code"], close_code) == ("unauthorized", 4401)
    assert "revoked" in error["message"]


def test_sigterm_lets_a_request_finish_then_closes_its_socket_with_1001(served):
    serve, running = served
    assert wait_for(lambda: running.get("/readyz")[0] == 200, 60), running.get("/readyz")
    children = children_of(serve.pid)
    text = " ".join(f"Sentence {n} of a reply that is still being spoken." for n in range(8))

    async def speak_through_shutdown() -> tuple[list[dict], int | None, int]:
        async with running.websocket(key=running.api_key) as ws:
            return await speak_through_sigterm(serve, running, ws, text)

    messages, close_code, ready = asyncio.run(speak_through_shutdown())
    assert ready == 503  # load balancers stop sending new clients at once
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))
    assert close_code == 1001
    # Daphne and the workers stop, and serve with them.
    assert serve.wait(timeout=40) == 0
    time.sleep(0.5)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)
