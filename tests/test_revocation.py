"""A revoked key's open sockets stop at once, however the key was revoked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from access.keys import create_key
from access.models import APIKey

from .clients import receive_until_end
from .conftest import staff_client
from .servers import Deployment, deployment, speak_on

pytestmark = pytest.mark.e2e


def keyed_deployment(data_dir: Path, key_check_seconds: str = "2") -> Iterator[Deployment]:
    """`make run` as it serves: one process, the in-memory layer, keys required."""
    with deployment(
        data_dir,
        warm_up=False,
        TTS_REQUIRE_API_KEY="true",
        TTS_KEY_CHECK_SECONDS=key_check_seconds,
    ) as running:
        running.api_key = running.manage("create_api_key", "warm-up").strip()
        assert running.speak("Warming up.")[-1]["status"] == "complete"
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from keyed_deployment(tmp_path_factory.mktemp("revocation"))


@pytest.fixture(scope="module")
def server_checking_keys_rarely(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Open sockets' keys looked at again only every minute: a revocation can then only be
    noticed by the next request's own check (under load, `manage.py revoke_api_key` takes
    longer than the usual 2 s between checks, which then closed the socket first)."""
    yield from keyed_deployment(tmp_path_factory.mktemp("revocation-rare"), "60")


@dataclass
class Ending:
    """What a socket received after its key was revoked, up to its close."""

    messages: list[dict]
    close_code: int | None
    seconds: float  # from the end of the revocation to the close


def revoke_from_another_process(server: Deployment, then_send: dict | None = None) -> Ending:
    """Open a socket with a new key and speak once; revoke the key with `manage.py
    revoke_api_key`, a process with a channel layer of its own, whose message reaches no
    socket; send `then_send`, if given; return what the socket received until it closed."""
    key = server.manage("create_api_key", "kiosk").strip()

    async def exchange() -> Ending:
        url = f"ws://127.0.0.1:{server.port}/ws/tts/"
        headers = {"Authorization": f"Bearer {key}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            assert (await speak_on(ws, "Before."))[-1]["status"] == "complete"
            await asyncio.to_thread(server.manage, "revoke_api_key", key.split("_")[1])
            revoked_at = time.monotonic()
            if then_send is not None:
                await ws.send(json.dumps(then_send))
            messages = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            received = closed.value.rcvd
            return Ending(
                messages, received.code if received else None, time.monotonic() - revoked_at
            )

    return asyncio.run(exchange())


def test_it_refuses_a_new_request_once_another_process_revoked_the_key(
    server_checking_keys_rarely,
):
    ending = revoke_from_another_process(
        server_checking_keys_rarely,
        then_send={"text": "After.", "voice_id": "joe", "request_id": "late"},
    )
    # The request is refused, by its id; then the socket is told why it closes.
    assert [(m["status"], m["code"]) for m in ending.messages] == [("error", "unauthorized")] * 2
    assert ending.messages[0]["request_id"] == "late"
    assert "revoked" in ending.messages[1]["message"]
    assert ending.close_code == 4401
    assert ending.seconds < 1


def test_it_closes_an_idle_socket_within_seconds_of_another_process_revoking_its_key(server):
    ending = revoke_from_another_process(server)
    assert [(m["code"], m["message"]) for m in ending.messages] == [
        ("unauthorized", "This connection's API key has been revoked.")
    ]
    assert ending.close_code == 4401
    assert ending.seconds < 2 + 1  # TTS_KEY_CHECK_SECONDS, and a lookup up to a second old


def bearer(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {key}".encode())]


@pytest.fixture
def keys_required(settings):
    settings.TTS_REQUIRE_API_KEY = True


async def socket_that_spoke(connect, key: str) -> WebsocketCommunicator:
    socket = await connect(headers=bearer(key))
    await socket.send_json_to({"text": "Hello.", "voice_id": "joe"})
    assert (await receive_until_end(socket))[-1]["status"] == "complete"
    return socket


async def assert_closed_as_revoked(socket: WebsocketCommunicator) -> None:
    error = await socket.receive_json_from(timeout=1)
    assert error["code"] == "unauthorized" and "revoked" in error["message"]
    assert await socket.receive_output(timeout=1) == {"type": "websocket.close", "code": 4401}


ADMIN_REVOCATIONS = {
    "revoke action": lambda pk: (
        "/admin/access/apikey/",
        {"action": "revoke_keys", "_selected_action": [pk]},
    ),
    "delete": lambda pk: (f"/admin/access/apikey/{pk}/delete/", {"post": "yes"}),
}


@pytest.mark.parametrize("how", ADMIN_REVOCATIONS)
async def test_it_closes_the_socket_at_once_when_the_admin_revokes_the_key(
    keys_required, connect, how
):
    api_key, key = await sync_to_async(create_key)("kiosk")
    socket = await socket_that_spoke(connect, key)
    path, form = ADMIN_REVOCATIONS[how](api_key.pk)
    response = await sync_to_async(lambda: staff_client().post(path, form))()
    assert response.status_code == 302
    await assert_closed_as_revoked(socket)


async def test_it_refuses_a_new_request_once_the_key_is_revoked_behind_the_signals_back(
    keys_required, connect, settings
):
    # The request finds out, not the socket's own check, which comes every minute here.
    settings.TTS_KEY_CHECK_SECONDS = 60
    _, key = await sync_to_async(create_key)("kiosk")
    socket = await socket_that_spoke(connect, key)
    # QuerySet.update sends no signal, as a revocation in another process reaches no socket here.
    await APIKey.objects.aupdate(revoked=time.strftime("%Y-%m-%dT%H:%M:%SZ"))
    await socket.send_json_to({"text": "After.", "voice_id": "joe", "request_id": "late"})
    refused = await socket.receive_json_from(timeout=1)
    assert refused["code"] == "unauthorized" and refused["request_id"] == "late"
    await assert_closed_as_revoked(socket)
