"""The server's log, as an operator reads it: no API key or token reaches it, whatever the
client sends and however it is refused."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest

from ttsproject.redaction import redact

from .clients import receive, speak
from .servers import Deployment, wait_for

pytestmark = pytest.mark.e2e

# Shaped like a key, so it is looked up and refused as one.
WRONG_KEY = "tts_abcdefgh_" + "Wr0ngSecretWr0ngSecretWr0ngSecretWr0ngSec-_"


@pytest.fixture(scope="module")
def server(keyed_server: Deployment) -> tuple[Deployment, str]:
    return keyed_server, keyed_server.create_api_key("log test")


def plain_get(running: Deployment, path: str, headers: dict[str, str] | None = None) -> int:
    """GET `path` as plain HTTP, as a proxy that strips `Upgrade` sends a WebSocket; the status."""
    request = urllib.request.Request(running.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


async def speaks(running: Deployment, path: str, key: str | None = None) -> str:
    """Ask for speech on a new WebSocket; the status of the last message."""
    async with running.websocket(path, key=key) as ws:
        return str((await speak(ws, "Hello."))[-1]["status"])


async def refusal(running: Deployment, path: str, key: str | None = None) -> str:
    """Open a WebSocket that is refused; the error's code."""
    async with running.websocket(path, key=key) as ws:
        return str((await receive(ws, 10))["code"])


def test_it_logs_no_key_sent_in_a_query_string_or_a_header(server):
    running, key = server
    mark = running.log_mark()
    for token in (key, WRONG_KEY):
        assert plain_get(running, f"/ws/tts/?token={token}") == 404
        # Over HTTP, Smallest's path is its streaming endpoint, which takes POST only.
        assert plain_get(running, f"/waves/v1/tts/live?timeout=3&token={token}") == 405
        assert plain_get(running, f"/ws/tts/?%74oken={token}") == 404
        assert plain_get(running, "/ws/tts/", {"Authorization": f"Bearer {token}"}) == 404

    async def connect_every_way() -> list[str]:
        return [
            await speaks(running, f"/ws/tts/?token={key}"),
            await speaks(running, f"/waves/v1/tts/live?token={key}"),
            await speaks(running, "/ws/tts/", key=key),
            await refusal(running, f"/ws/tts/?token={WRONG_KEY}"),
            await refusal(running, "/ws/tts/", key=WRONG_KEY),
        ]

    assert asyncio.run(connect_every_way()) == ["complete"] * 3 + ["unauthorized"] * 2
    assert wait_for(lambda: running.log(since=mark).count("WSDISCONNECT") >= 5, 10), running.log()

    log = running.log()  # from the start: no key was ever logged
    for token in (key, WRONG_KEY):
        assert token not in log
        assert token.split("_", 2)[2] not in log  # the secret part, on its own
    # The requests are still in the access log, with the token's place marked.
    ours = running.log(since=mark)
    assert '"GET /ws/tts/?token=[redacted]" 404' in ours
    assert '"GET /waves/v1/tts/live?timeout=3&token=[redacted]" 405' in ours


def test_it_redacts_tokens_however_the_line_quotes_them():
    key = "tts_k3v9x0ab_" + "S" * 43
    assert redact(f"GET /ws/tts/?a=1&token={key}&b=2") == "GET /ws/tts/?a=1&token=[redacted]&b=2"
    assert redact(f"GET /ws/tts/?t%6Fken={key}") == "GET /ws/tts/?t%6Fken=[redacted]"
    assert redact(f"'query_string': b'token={key}'") == "'query_string': b'token=[redacted]'"
    assert redact(f"(b'authorization', b'Bearer {key}')") == (
        "(b'authorization', b'Bearer [redacted]')"
    )
    assert redact(f"key {key} refused") == "key tts_k3v9x0ab_[redacted] refused"
    assert redact(f"/ws/tts/?next=%3D{key}") == "/ws/tts/?next=%3Dtts_k3v9x0ab_[redacted]"
    assert redact("GET /api/voices/?language=en") == "GET /api/voices/?language=en"
