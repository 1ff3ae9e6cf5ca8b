"""The HTTP API against a real server: OpenAI's official client, Smallest's HTTP endpoints, and
every kind of bad request getting its status and a clear message.

The server requires keys, as in production. Audio is decoded with PyAV and heard with a speech
recognizer: the files must be what a user would play.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import av
import httpx
import numpy as np
import openai
import pytest
import soxr

from .clients import recognized
from .servers import Deployment

pytestmark = pytest.mark.e2e

TEXT = "The quick brown fox jumps over the lazy dog."
HEARD = {"quick", "brown", "fox", "lazy", "dog"}


@pytest.fixture(scope="module")
def server(keyed_server: Deployment) -> Deployment:
    """The suite's server with keys required; its log from here on is this module's."""
    keyed_server.mark = keyed_server.log_mark()  # type: ignore[attr-defined]
    return keyed_server


def client(server: Deployment, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=key or server.api_key, base_url=f"{server.url}/v1", max_retries=0, timeout=60
    )


def decoded(data: bytes) -> tuple[str, np.ndarray, int]:
    """The codec, mono 16 kHz float samples, and the file's own sample rate, of a file."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        pieces = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
        pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        return stream.codec_context.name, np.concatenate(pieces), rate


def heard(samples: np.ndarray) -> set[str]:
    return set(recognized((np.clip(samples, -1, 1) * 32767).astype(np.int16)))


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON payloads of a response's server-sent events."""
    lines = response.text.splitlines()
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


@pytest.fixture(scope="module")
def pcm_seconds(server: Deployment) -> float:
    """How long TEXT takes to say, from its raw samples."""
    response = client(server).audio.speech.create(
        model="tts-1", voice="joe", input=TEXT, response_format="pcm"
    )
    return len(response.content) / 2 / 24000


@pytest.mark.parametrize(
    ("response_format", "codec"),
    [("mp3", "mp3float"), ("wav", "pcm_s16le"), ("opus", "opus"), ("flac", "flac"),
     ("aac", "aac")],
)  # fmt: skip
def test_the_openai_client_streams_speech_that_decodes_and_is_heard(
    server, tmp_path, pcm_seconds, response_format, codec
):
    path = tmp_path / f"speech.{response_format}"
    with client(server).audio.speech.with_streaming_response.create(
        model="tts-1", voice="joe", input=TEXT, response_format=response_format
    ) as response:
        assert response.headers["content-type"].startswith("audio/")
        response.stream_to_file(path)
    name, samples, _rate = decoded(path.read_bytes())
    assert name == codec  # the decoder FFmpeg picks for what it found
    # As long as the raw samples, give or take the voice's own variation from one reading to
    # the next (and mp3's and aac's encoder delay and padding, a few frames).
    assert samples.size / 16000 == pytest.approx(pcm_seconds, rel=0.1, abs=0.1)
    assert len(heard(samples) & HEARD) >= 3, heard(samples)


def test_openai_pcm_is_24_khz_16_bit_and_an_openai_voice_name_is_answered(server):
    response = client(server).audio.speech.create(
        model="gpt-4o-mini-tts", voice="alloy", input=TEXT, response_format="pcm", speed=1.0
    )
    samples = np.frombuffer(response.content, dtype="<i2").astype(np.float32) / 32768
    seconds = samples.size / 24000
    assert 1.5 < seconds < 5.0
    at_16k = soxr.resample(samples, 24000, 16000)
    assert len(heard(at_16k) & HEARD) >= 3


def test_speed_outside_the_servers_range_is_clamped_and_said_so(server):
    response = server.post(
        "/v1/audio/speech",
        {"model": "tts-1", "voice": "joe", "input": TEXT, "response_format": "pcm", "speed": 4.0},
    )
    assert response.status_code == 200
    assert response.headers["x-speed-clamped"] == "4 -> 2"
    normal = server.post(
        "/v1/audio/speech",
        {"model": "tts-1", "voice": "joe", "input": TEXT, "response_format": "pcm"},
    )
    assert len(response.content) < 0.7 * len(normal.content)


def test_openai_server_sent_events(server):
    body = {"model": "tts-1", "voice": "joe", "input": TEXT, "response_format": "wav"}
    response = server.post("/v1/audio/speech", {**body, "stream_format": "sse"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    assert {event["type"] for event in events[:-1]} == {"speech.audio.delta"}
    assert events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["input_tokens"] == len(TEXT)
    audio = b"".join(base64.b64decode(event["audio"]) for event in events[:-1])
    _name, samples, _rate = decoded(audio)
    assert len(heard(samples) & HEARD) >= 3


def test_the_lists_of_models_and_voices(server):
    headers = {"Authorization": f"Bearer {server.api_key}"}
    models = httpx.get(f"{server.url}/v1/models", headers=headers).json()
    assert {"tts-1", "gpt-4o-mini-tts"} <= {model["id"] for model in models["data"]}
    voices = httpx.get(f"{server.url}/v1/audio/voices", headers=headers).json()
    joe = next(voice for voice in voices["data"] if voice["id"] == "joe")
    assert "alloy" in joe["aliases"]


@pytest.mark.parametrize(
    ("body", "key", "status", "code", "param"),
    [
        ({"model": "tts-1", "voice": "joe", "input": "Hi."}, None, 401, "unauthorized", None),
        ({"model": "tts-1", "voice": "joe", "input": "Hi."}, "tts_not-a-real-key", 401,
         "unauthorized", None),
        ({"model": "tts-1", "voice": "nobody", "input": "Hi."}, "", 404, "voice_not_found",
         "voice"),
        ({"model": "tts-1", "voice": "joe", "input": "   "}, "", 400, "invalid_request", "input"),
        ({"model": "tts-1", "voice": "joe"}, "", 400, "invalid_request", "input"),
        ({"model": "tts-1", "input": "Hi."}, "", 400, "invalid_request", "voice"),
        ({"model": "tts-1", "voice": "joe", "input": "a" * 5001}, "", 413, "text_too_long",
         "input"),
        ({"model": "tts-1", "voice": "joe", "input": "Hi.", "response_format": "ogg"}, "", 400,
         "invalid_request", "response_format"),
        ({"model": "tts-1", "voice": "joe", "input": "Hi.", "speed": 5}, "", 400,
         "invalid_request", "speed"),
        ({"model": "tts-1", "voice": "joe", "input": "Hi.", "stream_format": "chunks"}, "", 400,
         "invalid_request", "stream_format"),
        ({"model": "tts-1", "voice": "joe", "input": 12}, "", 400, "invalid_request", "input"),
        (b"{not json", "", 400, "invalid_json", None),
        (b"[1, 2]", "", 400, "invalid_request", None),
    ],
)  # fmt: skip
def test_bad_openai_requests_get_their_status_and_a_clear_error(
    server, body, key, status, code, param
):
    response = server.post("/v1/audio/speech", body, key=key)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert error["message"] and error["type"]


def test_a_body_that_is_not_json_or_too_large_is_refused_unread(server):
    form = server.post(
        "/v1/audio/speech",
        b"input=Hi",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415, form.text
    assert "application/json" in form.json()["error"]["message"]
    huge = server.post("/v1/audio/speech", b"x" * (10 * 1024 * 1024))
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "message_too_large"
    assert server.post("/waves/v1/tts", b"x" * (1024 * 1024)).status_code == 413


def test_smallest_http_returns_the_audio_in_the_body(server):
    body = {"text": TEXT, "voice_id": "joe", "sample_rate": 16000, "output_format": "wav"}
    response = server.post("/waves/v1/tts", {**body, "model": "lightning_v3.1"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    name, samples, rate = decoded(response.content)
    assert (name, rate) == ("pcm_s16le", 16000)
    assert len(heard(samples) & HEARD) >= 3


def test_smallest_http_live_streams_chunks_as_events(server):
    response = server.post(
        "/waves/v1/tts/live", {"text": TEXT, "voice_id": "joe", "word_timestamps": True}
    )
    assert response.status_code == 200, response.text
    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    chunks = [event for event in events if event["status"] == "chunk"]
    assert [chunk["data"]["sequence"] for chunk in chunks] == list(range(len(chunks)))
    assert any(event["status"] == "word_timestamp" for event in events)
    assert events[-1]["status"] == "complete"
    pcm = b"".join(base64.b64decode(chunk["data"]["audio"]) for chunk in chunks)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    assert len(heard(soxr.resample(samples, 24000, 16000)) & HEARD) >= 3


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"text": "Hi.", "voice_id": "joe", "continue": True}, 400, "continue"),
        ({"text": "Hi.", "voice_id": "joe", "context_id": "c"}, 400, "context_id"),
        ({"text": "Hi.", "voice_id": "joe", "speed": 9}, 400, "speed"),
        ({"text": "Hi.", "voice_id": "nobody"}, 404, "voice_id"),
        ({"text": "", "voice_id": "joe"}, 400, "text"),
    ],
)
def test_bad_smallest_http_requests_get_their_status(server, body, status, field):
    response = server.post("/waves/v1/tts", body)
    assert response.status_code == status, response.text
    error = response.json()
    assert (error["status"], error["field"]) == ("error", field)


def test_http_requests_count_against_the_keys_rate_and_usage(server):
    key = server.create_api_key("one-a-minute", "--requests-per-minute", "1")
    body = {"model": "tts-1", "voice": "joe", "input": "Counted.", "response_format": "wav"}
    assert server.post("/v1/audio/speech", body, key=key).status_code == 200
    limited = server.post("/v1/audio/speech", body, key=key)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "too_many_requests"
    assert int(limited.headers["retry-after"]) >= 1
    usage = server.manage(
        "shell",
        "-c",
        "from access.models import KeyUsage; "
        "print(list(KeyUsage.objects.filter(key__name='one-a-minute')"
        ".values_list('requests', 'characters')))",
    )
    assert "(1, 8)" in usage, usage


def test_the_server_log_has_no_error(server):
    log = server.log(since=server.mark)
    assert "Traceback" not in log
    assert " ERROR " not in log


def test_a_client_that_hangs_up_stops_its_request_and_its_usage_is_recorded(server):
    """Nothing is spent on a response nobody reads: the request ends when its client goes, and
    what it used (its text, the little audio made) is recorded against its key."""
    key = server.create_api_key("hangs-up")
    text = "This answer goes on for a long time, sentence after sentence. " * 40
    body = {"model": "tts-1", "voice": "joe", "input": text, "response_format": "mp3"}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream(
        "POST", f"{server.url}/v1/audio/speech", json=body, headers=headers, timeout=60
    ) as response:
        assert response.status_code == 200
        next(response.iter_raw())  # the first bytes, then the client is gone
    script = (
        "import time; from access.models import KeyUsage\n"
        "for _ in range(100):\n"
        "    rows = list(KeyUsage.objects.filter(key__name='hangs-up')"
        ".values_list('requests', 'characters', 'audio_seconds'))\n"
        "    if rows: break\n"
        "    time.sleep(0.1)\n"
        "print(rows)"
    )
    rows = eval(server.manage("shell", "-v", "0", "-c", script))  # noqa: S307 - our own output
    assert len(rows) == 1
    requests, characters, audio_seconds = rows[0]
    assert (requests, characters) == (1, len(text))
    assert audio_seconds < 30  # the whole text is about 150 s of speech
