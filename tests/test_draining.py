"""Draining a web process, in the test process: requests under way finish, each socket then
closes with 1001, new ones are turned away, and the last socket to close stops the process.

Each test drains a `Drain` of its own, whose stopping the process is only recorded. On a real
server, through `manage.py serve`: tests/test_startup.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from protocol.codes import GOING_AWAY_REASON
from synthesis import consumers, health, session
from synthesis.draining import DRAIN_SIGNAL, Drain

GOING_AWAY = {"type": "websocket.close", "code": 1001, "reason": GOING_AWAY_REASON}
LONG_TEXT = " ".join(f"Sentence {n} of a reply that is still being spoken." for n in range(4))


class Stops:
    """Counts the times a drain would have stopped the process."""

    def __init__(self) -> None:
        self.times = 0

    def __call__(self) -> None:
        self.times += 1


@pytest.fixture
def stops() -> Stops:
    return Stops()


@pytest.fixture
def drain(monkeypatch: pytest.MonkeyPatch, stops: Stops) -> Drain:
    """The process's drain, as the consumers, sessions and /readyz see it, replaced by a fresh
    one."""
    fresh = Drain(stop=stops)
    monkeypatch.setattr(consumers, "drain", fresh)
    monkeypatch.setattr(session, "drain", fresh)
    monkeypatch.setattr(health, "drain", fresh)
    return fresh


async def until_closed(socket: WebsocketCommunicator) -> tuple[list[dict[str, Any]], dict]:
    """The messages a socket receives, up to its close, and the close."""
    messages: list[dict[str, Any]] = []
    while True:
        output = await socket.receive_output(timeout=60)
        if output["type"] == "websocket.close":
            return messages, output
        messages.append(json.loads(output["text"]))


async def test_an_idle_socket_is_closed_with_1001_and_the_last_close_stops_the_process(
    drain, stops, connect
):
    socket = await connect()
    await drain.begin()
    assert drain.active
    assert await until_closed(socket) == ([], GOING_AWAY)
    assert stops.times == 0  # the client has not answered the close yet
    await socket.disconnect()
    assert stops.times == 1


async def test_a_new_socket_is_closed_with_1001_and_readyz_answers_503(drain, connect):
    await drain.begin()
    socket = await connect()
    assert await until_closed(socket) == ([], GOING_AWAY)
    await socket.disconnect()
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "draining", "checks": {}}


async def test_a_request_under_way_finishes_before_its_socket_is_closed_with_1001(
    drain, stops, connect
):
    socket = await connect()
    await socket.send_json_to({"text": LONG_TEXT, "voice_id": "joe", "request_id": "first"})
    first = await socket.receive_json_from(timeout=60)
    assert first["status"] == "chunk"
    await drain.begin()
    await socket.send_json_to({"text": "One more.", "voice_id": "joe", "request_id": "second"})

    messages, closed = await until_closed(socket)
    assert closed == GOING_AWAY
    refused = [m for m in messages if m["status"] == "error"]
    assert [(m["request_id"], m["code"]) for m in refused] == [("second", "server_busy")]
    spoken = [first, *(m for m in messages if m["status"] != "error")]
    assert spoken[-1]["status"] == "complete"
    assert [m["data"]["sequence"] for m in spoken[:-1]] == list(range(len(spoken) - 1))
    await socket.disconnect()
    assert stops.times == 1


class Socket:
    """A socket that only records being asked to close."""

    def __init__(self) -> None:
        self.asked_to_close = asyncio.Event()

    async def close_when_idle(self) -> None:
        self.asked_to_close.set()


@pytest.fixture
def signal_restored() -> Iterator[None]:
    before = signal.getsignal(DRAIN_SIGNAL)
    yield
    signal.signal(DRAIN_SIGNAL, before)


async def test_the_drain_signal_begins_draining_on_the_sockets_loop(stops, signal_restored):
    drain = Drain(stop=stops)
    drain.install_signal_handler()
    socket = Socket()
    drain.connected(socket)
    os.kill(os.getpid(), DRAIN_SIGNAL)
    await asyncio.wait_for(socket.asked_to_close.wait(), 5)
    assert drain.active
    assert stops.times == 0
    drain.disconnected(socket)
    assert stops.times == 1


async def test_the_drain_signal_stops_a_process_that_never_had_a_socket_at_once(
    stops, signal_restored
):
    drain = Drain(stop=stops)
    drain.install_signal_handler()
    os.kill(os.getpid(), DRAIN_SIGNAL)
    await asyncio.sleep(0)  # the handler runs between two steps of the main thread
    assert stops.times == 1
