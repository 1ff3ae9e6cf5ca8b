"""A database that is locked for writing slows only what needs it: streams already speaking go
on, connections without a key are served, and /readyz says the database is not usable.
Against a real Daphne with its SQLite database locked by another process's transaction."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from .clients import receive, send, speak
from .servers import Deployment

pytestmark = pytest.mark.e2e

LOCKED_SECONDS = 5.0
LONG_TEXT = "A stream that keeps speaking while the database is locked by someone else. " * 8


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


def test_a_locked_database_stalls_no_unrelated_stream(open_server: Deployment) -> None:
    server = open_server
    key = server.create_api_key("locked-out")
    taken = threading.Event()
    locker = threading.Thread(
        target=hold_write_lock, args=(server.data_dir / "db.sqlite3", LOCKED_SECONDS, taken)
    )

    async def scenario() -> tuple[float, float, tuple[int, dict]]:
        async with server.websocket(key=key, max_size=None) as ws:
            await send(ws, {"text": LONG_TEXT, "voice_id": "joe"})
            first = await receive(ws)
            assert first["status"] == "chunk"
            locker.start()
            await asyncio.to_thread(taken.wait, 10)
            locked_at = time.monotonic()

            async def keep_listening() -> float:
                # The longest wait between two messages of the stream while the lock is held.
                longest, last = 0.0, time.monotonic()
                while time.monotonic() - locked_at < LOCKED_SECONDS - 0.5:
                    message = await receive(ws, 30)
                    longest = max(longest, time.monotonic() - last)
                    last = time.monotonic()
                    if message["status"] != "chunk":
                        break
                return longest

            async def newcomer_without_key() -> float:
                started = time.monotonic()
                async with server.websocket() as other:
                    messages = await speak(other, "Hello there.")
                assert messages[-1]["status"] == "complete"
                return time.monotonic() - started

            async def keyed_request_ends() -> None:
                # Its usage is written when it ends: that write waits for the lock.
                async with server.websocket(key=key) as other:
                    await speak(other, "Counted.")

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
