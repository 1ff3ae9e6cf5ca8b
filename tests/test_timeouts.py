"""The inactivity timeout and the `timeout` parameter, on shortened operator bounds (2..4 s)."""

from __future__ import annotations

import json
import time

import pytest
from channels.testing import WebsocketCommunicator

from protocol.codes import fit_close_reason
from ttsproject.asgi import application

from .clients import speak


async def wait_for_idle_close(socket: WebsocketCommunicator, timeout: float = 10) -> dict:
    """Return the timeout error; assert the socket then closed with 4408."""
    error = await socket.receive_json_from(timeout=timeout)
    closed = await socket.receive_output(timeout=2)
    reason = fit_close_reason(error["message"])
    assert closed == {"type": "websocket.close", "code": 4408, "reason": reason}
    return error


async def test_it_closes_an_idle_socket_after_the_default_timeout(connect):
    socket = await connect()
    started = time.monotonic()
    error = await wait_for_idle_close(socket)
    elapsed = time.monotonic() - started
    assert 2 <= elapsed <= 3
    assert error == {
        "status": "error",
        "code": "timeout",
        "message": "Connection timed out after 2 seconds of inactivity",
    }


async def test_it_honours_the_timeout_parameter(connect):
    socket = await connect("/ws/tts/?timeout=3")
    started = time.monotonic()
    error = await wait_for_idle_close(socket)
    assert 3 <= time.monotonic() - started <= 4
    assert error["message"] == "Connection timed out after 3 seconds of inactivity"


async def test_it_restarts_the_clock_on_every_client_message(connect):
    socket = await connect()
    started = time.monotonic()
    for message in ({"type": "keepalive"}, {"text": "  "}, "not even json"):
        await socket.send_to(
            text_data=json.dumps(message) if isinstance(message, dict) else message
        )
        await socket.receive_nothing(timeout=1)
    # The only output so far is the invalid_json answer; the clock restarted at the last message.
    error = await socket.receive_json_from(timeout=1)
    assert error["code"] == "invalid_json"
    error = await wait_for_idle_close(socket)
    assert time.monotonic() - started >= 3 + 2 - 1
    assert error["code"] == "timeout"


async def test_it_is_not_idle_while_it_owes_audio(connect):
    # About 60 s of speech: synthesis and delivery take longer than the 2 s timeout.
    text = "Every sentence here is long enough to keep the workers busy for a while. " * 12
    socket = await connect()
    messages = await speak(socket, text, timeout=120)
    finished = time.monotonic()
    assert messages[-1]["status"] == "complete"
    assert messages[-1]["data"]["audio_seconds"] > 30
    # The idle clock starts when the last audio has been sent.
    await wait_for_idle_close(socket)
    assert 2 <= time.monotonic() - finished <= 3


@pytest.mark.parametrize("value", ["1", "5", "abc", "2.5", "", "-3", "0x2"])
async def test_it_refuses_a_bad_timeout_with_4400(transactional_db, value):
    socket = WebsocketCommunicator(application, f"/ws/tts/?timeout={value}")
    connected, _ = await socket.connect()
    assert connected
    error = await socket.receive_json_from()
    assert error["status"] == "error"
    assert error["code"] == "invalid_timeout"
    assert "from 2 to 4" in error["message"]
    closed = await socket.receive_output()
    assert (closed["code"], closed["reason"]) == (4400, error["message"])
