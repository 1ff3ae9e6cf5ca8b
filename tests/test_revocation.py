"""A revoked key's open sockets stop at once, however the key was revoked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from access.keys import create_key
from access.models import APIKey

from .clients import receive, send, speak
from .conftest import staff_client
from .servers import Deployment, deployment

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server_checking_keys_rarely(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Keys required, and open sockets' keys looked at again only every minute: a revocation
    can then only be noticed by the next request's own check (under load, `manage.py
    revoke_api_key` takes longer than the usual 2 s between checks, which then closed the
    socket first)."""
    with deployment(
        tmp_path_factory.mktemp("revocation-rare"),
        key_name="warm-up",
        TTS_REQUIRE_API_KEY="true",
        TTS_KEY_CHECK_SECONDS="60",
    ) as running:
        yield running


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
    key = server.create_api_key("kiosk")

    async def exchange() -> Ending:
        async with server.websocket(key=key) as ws:
            assert (await speak(ws, "Before."))[-1]["status"] == "complete"
            await asyncio.to_thread(server.manage, "revoke_api_key", key.split("_")[1])
            revoked_at = time.monotonic()
            if then_send is not None:
                await send(ws, then_send)
            messages = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    messages.append(await receive(ws, 10))
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


def test_it_closes_an_idle_socket_within_seconds_of_another_process_revoking_its_key(
    keyed_server,
):
    # Its sockets' keys are looked at again every 2 s (TTS_KEY_CHECK_SECONDS, the default).
    ending = revoke_from_another_process(keyed_server)
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
    assert (await speak(socket, "Hello."))[-1]["status"] == "complete"
    return socket


async def assert_closed_as_revoked(socket: WebsocketCommunicator) -> None:
    error = await socket.receive_json_from(timeout=1)
    assert error["code"] == "unauthorized" and "revoked" in error["message"]
    closed = await socket.receive_output(timeout=1)
    assert (closed["code"], closed["reason"]) == (4401, error["message"])


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
