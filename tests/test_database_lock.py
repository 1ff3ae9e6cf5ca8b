"""A database that is locked for writing slows only what needs it: streams already speaking go
on, connections without a key are served, and /readyz says the database is not usable.
Against a real Daphne with its SQLite database locked by another process's transaction."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from .servers import Deployment, deployment, speak_on

pytestmark = pytest.mark.e2e

LOCKED_SECONDS = 5.0
LONG_TEXT = "A stream that keeps speaking while the database is locked by someone else. " * 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    data_dir: Path = tmp_path_factory.mktemp("database-lock")
    with deployment(data_dir) as running:
        running.api_key = running.manage("create_api_key", "locked-out").strip()
        yield running


def hold_write_lock(database: Path, seconds: float, taken: threading.Event) -> None:
    """Hold SQLite's write lock, as a long admin save or a migration would."""
    connection = sqlite3.connect(database, timeout=30)
    try:
        connection.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        connection.rollback()
    finally:
        connection.close()


def test_a_locked_database_stalls_no_unrelated_stream(server: Deployment) -> None:
    taken = threading.Event()
    locker = threading.Thread(
        target=hold_write_lock, args=(server.data_dir / "db.sqlite3", LOCKED_SECONDS, taken)
    )
    headers = {"Authorization": f"Bearer {server.api_key}"}
    url = f"ws://127.0.0.1:{server.port}/ws/tts/"

    async def scenario() -> tuple[float, float, tuple[int, dict]]:
        async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
            await ws.send(json.dumps({"text": LONG_TEXT, "voice_id": "joe"}))
            first = json.loads(await ws.recv())
            assert first["status"] == "chunk"
            locker.start()
            await asyncio.to_thread(taken.wait, 10)
            locked_at = time.monotonic()

            async def keep_listening() -> float:
                # The longest wait between two messages of the stream while the lock is held.
                longest, last = 0.0, time.monotonic()
                while time.monotonic() - locked_at < LOCKED_SECONDS - 0.5:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    longest = max(longest, time.monotonic() - last)
                    last = time.monotonic()
                    if message["status"] != "chunk":
                        break
                return longest

            async def newcomer_without_key() -> float:
                started = time.monotonic()
                async with websockets.connect(url) as other:
                    messages = await speak_on(other, "Hello there.")
                assert messages[-1]["status"] == "complete"
                return time.monotonic() - started

            async def keyed_request_ends() -> None:
                # Its usage is written when it ends: that write waits for the lock.
                async with websockets.connect(url, additional_headers=headers) as other:
                    await speak_on(other, "Counted.")

            async def readiness() -> tuple[int, dict]:
                await asyncio.sleep(0.5)
                return await asyncio.to_thread(server.get, "/readyz")

            longest_gap, newcomer, _, ready = await asyncio.gather(
                keep_listening(), newcomer_without_key(), keyed_request_ends(), readiness()
            )
        return longest_gap, newcomer, ready

    longest_gap, newcomer, (status, body) = asyncio.run(scenario())
    locker.join()
    assert longest_gap < 1.5, longest_gap
    assert newcomer < 2.0, newcomer
    assert status == 503
    assert body["checks"]["database"].startswith("failed")
    # Once the lock is gone, all is well again.
    assert server.get("/readyz")[0] == 200
    assert server.speak("After the lock.")[-1]["status"] == "complete"
