"""The server's logs as an operator reads them: one line per request, JSON on demand, and no
API key, token or text in any line at any level."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from .clients import speak
from .servers import Deployment, deployment

pytestmark = pytest.mark.e2e

# Words that appear nowhere else, so that finding them in the log means the text was logged.
TEXT = "Periwinkle zeppelins hum quietly over Quimper."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(
        tmp_path_factory.mktemp("logs"),
        key_name="logs",
        environ=None,
        TTS_REQUIRE_API_KEY="true",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
    ) as running:
        yield running


def speak_with_token(server: Deployment, key: str) -> list[dict]:
    """The request a browser makes: the key as ?token=, no header."""

    async def exchange() -> list[dict]:
        async with server.websocket(f"/ws/tts/?token={key}") as socket:
            return await speak(socket, TEXT, request_id="by-token")

    return asyncio.run(exchange())


def post_speech(server: Deployment, key: str) -> int:
    body = {"model": "tts-1", "input": TEXT, "voice": "joe"}
    return server.post("/v1/audio/speech", body, key=key).status_code


def test_every_line_is_json_with_one_line_per_request_and_no_secret_or_text(server):
    key = server.api_key
    assert key is not None
    mark = server.log_mark()
    # Over the socket with the key in the header, and with it in the query string.
    assert server.speak(TEXT, request_id="by-header")[-1]["status"] == "complete"
    assert speak_with_token(server, key)[-1]["status"] == "complete"
    assert post_speech(server, key) == 200
    assert post_speech(server, key[:-4] + "abcd") == 401  # a wrong secret: refused, logged
    lines = [line for line in server.log(since=mark).splitlines() if line.strip()]

    records = [json.loads(line) for line in lines]  # every line is a JSON object
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    requests = [record for record in records if record.get("event") == "request"]
    by_id = {record["request_id"]: record for record in requests}
    prefix = key.split("_")[1]
    for request_id in ("by-header", "by-token"):
        line = by_id[request_id]
        assert line["key"] == prefix and line["voice"] == "joe"
        assert line["characters"] == len(TEXT) and line["outcome"] == "complete"
        assert line["audio_seconds"] > 1 and 0 < line["ttfa_ms"] < line["duration_ms"]
    assert len(requests) == 3  # the HTTP request too; the refused one never started
    assert any(record.get("action") == "complete" for record in records)  # the access log

    log = "\n".join(lines)
    secret = key.split("_", 2)[2]
    assert secret not in log and key not in log
    assert "Periwinkle" not in log and "zeppelins" not in log
