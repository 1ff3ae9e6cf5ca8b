"""API keys, origins and per-key limits, over real WebSockets to the real application."""

from __future__ import annotations

import asyncio
import io
import re
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.db.models import Sum

from access.keys import create_key, revoke
from access.models import APIKey, KeyUsage, OpenConnection
from protocol.codes import fit_close_reason

from .clients import assert_speaks
from .conftest import staff_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def keys_required(settings):
    settings.TTS_REQUIRE_API_KEY = True


def bearer(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {key}".encode())]


async def new_key(name: str = "client", **limits: int) -> str:
    _, key = await sync_to_async(create_key)(name, **limits)
    return key


async def assert_refused(socket: WebsocketCommunicator, close_code: int, code: str) -> str:
    """The socket gets one error, then is closed with `close_code`; returns the message."""
    error = await socket.receive_json_from(timeout=5)
    assert error["status"] == "error"
    assert error["code"] == code
    closing = await socket.receive_output(timeout=5)
    reason = fit_close_reason(error["message"])
    assert closing == {"type": "websocket.close", "code": close_code, "reason": reason}
    return str(error["message"])


async def usage_after(requests: int, **which: str) -> KeyUsage:
    """Today's usage row once `requests` requests in all are recorded (written in the
    background after each request ends)."""
    for _ in range(50):
        if await KeyUsage.objects.aaggregate(total=Sum("requests")) == {"total": requests}:
            break
        await asyncio.sleep(0.1)
    return await KeyUsage.objects.aget(**which)


async def test_without_a_key_the_socket_is_refused_with_4401(keys_required, connect):
    socket = await connect()
    message = await assert_refused(socket, 4401, "unauthorized")
    assert "Authorization: Bearer" in message
    assert await socket.receive_nothing(timeout=0.3)


async def test_a_wrong_key_is_refused_saying_what_is_wrong_with_it(keys_required, connect):
    key = await new_key()
    prefix = key[: len("tts_12345678")]
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    told = {
        wrong: f"The rest of API key {prefix}_… is wrong: it was cut short or mistyped",
        "tts_abcdefgh_nothing": "There is no API key tts_abcdefgh_… on this server",
        key[:10]: "This is not a whole API key",
        "tts_...": "'tts_...' is the examples' placeholder, not a key",
        "not-a-key": "This is not an API key: keys start with tts_.",
        "a:b:c": "This demo page sign-in token has expired or its session has ended",
    }
    for token, message in told.items():
        socket = await connect(headers=bearer(token))
        refused = await assert_refused(socket, 4401, "unauthorized")
        assert refused.startswith(message), token
        assert len(refused.encode()) <= 123, "the close frame's reason would be cut"
    socket = await connect(headers=[(b"authorization", key.encode())])
    refused = await assert_refused(socket, 4401, "unauthorized")
    assert refused.startswith("The Authorization header must read 'Bearer <key>'")


async def test_a_revoked_key_is_refused(keys_required, connect):
    key = await new_key()
    api_key = await APIKey.objects.aget()
    await sync_to_async(revoke)(api_key)
    socket = await connect(f"/ws/tts/?token={key}")
    assert "has been revoked" in await assert_refused(socket, 4401, "unauthorized")


async def test_a_key_in_the_header_speaks_and_its_usage_is_counted(keys_required, connect):
    key = await new_key()
    socket = await connect(headers=bearer(key))
    complete = (await assert_speaks(socket, "Hello there."))[-1]
    await assert_speaks(socket, "Nice to meet you.")

    usage = await usage_after(requests=2)
    assert usage.requests == 2
    assert usage.characters == len("Hello there.") + len("Nice to meet you.")
    assert usage.audio_seconds > complete["data"]["audio_seconds"]
    api_key = await APIKey.objects.aget()
    assert api_key.last_used is not None


async def test_a_request_the_client_hangs_up_on_still_counts_what_it_used(keys_required, connect):
    key = await new_key()
    socket = await connect(headers=bearer(key))
    text = "This reply goes on for a while, sentence after sentence. " * 6
    await socket.send_json_to({"text": text, "voice_id": "joe"})
    assert (await socket.receive_json_from(timeout=30))["status"] == "chunk"
    await socket.disconnect()
    usage = await usage_after(requests=1)
    assert usage.characters == len(text)
    assert usage.audio_seconds > 0


async def test_a_key_in_the_query_string_speaks(keys_required, connect):
    key = await new_key()
    socket = await connect(f"/ws/tts/?timeout=3&token={key}")
    await assert_speaks(socket)


async def test_revoking_a_key_closes_its_open_connections(keys_required, connect):
    key = await new_key()
    socket = await connect(headers=bearer(key))
    await assert_speaks(socket)
    await sync_to_async(revoke)(await APIKey.objects.aget())
    assert "revoked" in await assert_refused(socket, 4401, "unauthorized")
    await socket.disconnect()
    assert not await OpenConnection.objects.aexists()


async def test_a_revocation_the_layer_did_not_carry_is_found_on_refresh(
    keys_required, connect, settings
):
    settings.TTS_CONNECTION_REFRESH_SECONDS = 0.2
    key = await new_key()
    socket = await connect(headers=bearer(key))
    # Revoked behind the signal's back, as another process with its own layer would.
    await APIKey.objects.aupdate(revoked=time.strftime("%Y-%m-%dT%H:%M:%SZ"))
    await assert_refused(socket, 4401, "unauthorized")


async def test_keys_are_optional_when_not_required(connect):
    await assert_speaks(await connect())
    # A key that does not hold is not an error then: the client is served as anyone is.
    await assert_speaks(await connect(headers=bearer("tts_abcdefgh_wrong")))


async def test_connections_beyond_a_keys_limit_are_refused_with_4429(keys_required, connect):
    key = await new_key(max_connections=2)
    # Each is admitted (it speaks) before the next connects: sockets that race for the last
    # place are admitted in no particular order.
    first = await connect(headers=bearer(key))
    await assert_speaks(first)
    await assert_speaks(await connect(headers=bearer(key)))
    third = await connect(headers=bearer(key))
    assert "2 connections" in await assert_refused(third, 4429, "too_many_connections")
    # Other keys have places of their own, and a closed connection frees its place.
    await assert_speaks(await connect(headers=bearer(await new_key("other"))))
    await first.disconnect()
    await assert_speaks(await connect(headers=bearer(key)))


async def test_the_default_connection_limit_applies_to_keys_without_one(
    keys_required, connect, settings
):
    settings.TTS_MAX_CONNECTIONS_PER_KEY = 1
    key = await new_key()
    await assert_speaks(await connect(headers=bearer(key)))
    second = await connect(headers=bearer(key))
    await assert_refused(second, 4429, "too_many_connections")


async def test_requests_beyond_a_keys_rate_get_too_many_requests(keys_required, connect):
    key = await new_key(requests_per_minute=2)
    socket = await connect(headers=bearer(key))
    await assert_speaks(socket, "One.")
    await assert_speaks(socket, "Two.")
    await socket.send_json_to({"text": "Three.", "voice_id": "joe", "request_id": "third"})
    error = await socket.receive_json_from(timeout=5)
    assert error["code"] == "too_many_requests"
    assert error["request_id"] == "third"
    assert "2 requests a minute; try again in" in error["message"]
    # The seconds the message says, for a program.
    said = re.search(r"try again in (\d+) s", error["message"])
    assert said is not None and error["retry_after"] == float(said[1])
    # The connection is still there, and another key is not held back.
    await socket.send_json_to({"type": "cancel", "request_id": "nothing"})
    assert (await socket.receive_json_from(timeout=5))["code"] == "invalid_request"
    await assert_speaks(await connect(headers=bearer(await new_key("other"))))
    assert (await usage_after(requests=3, key__name="other")).requests == 1
    assert (await KeyUsage.objects.aget(key__name="client")).requests == 2


async def test_a_message_over_the_size_limit_is_refused_and_the_socket_serves_on(connect, settings):
    settings.TTS_MAX_MESSAGE_BYTES = 2048
    socket = await connect()
    await socket.send_json_to({"text": "é" * 1500, "voice_id": "joe"})  # 3000 bytes of UTF-8
    error = await socket.receive_json_from(timeout=5)
    assert error["code"] == "message_too_large"
    assert "at most 2048 bytes" in error["message"]
    await socket.send_to(bytes_data=b"\x00" * 4096)
    assert (await socket.receive_json_from(timeout=5))["code"] == "message_too_large"
    await assert_speaks(socket)


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://127.0.0.1.evil.example:8000", "null"]
)
async def test_a_browser_from_another_origin_is_refused_with_4403(connect, origin):
    socket = await connect(headers=[(b"origin", origin.encode())])
    await assert_refused(socket, 4403, "origin_not_allowed")


async def test_pages_from_allowed_hosts_and_listed_origins_may_connect(connect, settings):
    settings.TTS_ALLOWED_ORIGINS = ["https://app.example.com"]
    for origin in (b"http://127.0.0.1:8000", b"http://localhost:3000", b"https://app.example.com"):
        await assert_speaks(await connect(headers=[(b"origin", origin)]))


def test_the_page_token_endpoint_serves_only_staff(client):
    assert client.get("/api/page-token/").status_code == 403
    response = staff_client().get("/api/page-token/")
    assert response.status_code == 200
    assert response.json()["expires_in"] == 300
    assert response["Cache-Control"].startswith("max-age=0")


async def test_create_api_key_prints_a_key_that_works(keys_required, connect):
    output = io.StringIO()
    await sync_to_async(call_command)(
        "create_api_key", "kiosk", "--max-connections", "3", stdout=output, stderr=io.StringIO()
    )
    key = output.getvalue().strip()
    api_key = await APIKey.objects.aget(name="kiosk")
    assert key.startswith(f"tts_{api_key.prefix}_")
    assert api_key.max_connections == 3
    assert key not in (api_key.secret_hash, api_key.prefix)  # only a hash is stored
    await assert_speaks(await connect(headers=bearer(key)))

    await sync_to_async(call_command)("revoke_api_key", api_key.prefix, stdout=io.StringIO())
    socket = await connect(headers=bearer(key))
    await assert_refused(socket, 4401, "unauthorized")
