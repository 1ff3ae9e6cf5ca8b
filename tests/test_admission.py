"""Admission under load: a burst gets prompt audio or a prompt server_busy, never a queue that
makes everyone wait (synthesis/admission.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from synthesis.admission import Load

from .clients import receive, send
from .servers import Deployment

pytestmark = pytest.mark.e2e

BURST = 30
TEXT = "A long answer that one of many listeners asked for at the very same moment. " * 60


def test_a_burst_is_admitted_or_refused_at_once_and_nothing_fails(open_server: Deployment) -> None:
    server = open_server  # whose clients send no key, so no per-key limit applies

    async def listener(number: int) -> tuple[dict, float, list[dict]]:
        async with server.websocket(max_size=None) as ws:
            started = time.monotonic()
            await send(ws, {"text": TEXT, "voice_id": "joe", "request_id": f"r{number}"})
            first = await receive(ws, 30)
            answered = time.monotonic() - started
            later = []
            if first["status"] == "chunk":
                # Listen a while as a real client would, then hang up.
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    later.append(await receive(ws, 30))
                    if later[-1]["status"] != "chunk":
                        break
            return first, answered, later

    async def burst() -> list[tuple[dict, float, list[dict]]]:
        return await asyncio.gather(*(listener(number) for number in range(BURST)))

    results = asyncio.run(burst())
    admitted = [first for first, _, _ in results if first["status"] == "chunk"]
    refused = [first for first, _, _ in results if first["status"] == "error"]
    assert admitted and refused
    assert len(admitted) + len(refused) == BURST
    for error in refused:
        assert error["code"] == "server_busy"
        assert error["retry_after"] > 0
        assert "busy" in error["message"]
    # Refusals are immediate: nobody waits in a queue to be told no.
    assert max(answered for first, answered, _ in results if first["status"] == "error") < 2.0
    # The admitted ones are served without failing.
    later = [message for _, _, messages in results for message in messages]
    assert not [m for m in later if m["status"] == "error"], later[-1]
    # And once the burst is over, a newcomer is served.
    assert server.speak("Me next.")[-1]["status"] == "complete"


def test_it_refuses_while_too_many_requests_wait_for_first_audio() -> None:
    load = Load()
    for number in range(3):
        load.dispatched(f"r{number}", 0, due=time.time())
    refusal = load.refusal(max_waiting=3, max_late=5.0)
    assert refusal is not None and "3 requests are waiting" in refusal.message
    load.arrived("r0", 0)
    assert load.refusal(max_waiting=3, max_late=5.0) is None


def test_it_refuses_while_listeners_are_behind() -> None:
    load = Load()
    load.dispatched("r0", 0, due=time.time())
    load.arrived("r0", 0)
    load.dispatched("r0", 1, due=time.time() - 2.5)  # its listener ran dry 2.5 s ago
    refusal = load.refusal(max_waiting=8, max_late=1.0)
    assert refusal is not None and "behind" in refusal.message
    assert refusal.retry_after >= 2.5
    load.forget("r0")
    assert load.refusal(max_waiting=8, max_late=1.0) is None
