"""Every bad input gets its own error over the real socket, and the socket keeps serving."""

from __future__ import annotations

import re
import shutil

import pytest
from channels.testing import WebsocketCommunicator

from voices.models import Voice, VoiceModel

from .clients import receive_until_end, speak
from .conftest import BUNDLED_CONFIG


async def assert_still_serves(socket: WebsocketCommunicator) -> None:
    messages = await speak(socket, "Still working.", request_id="ok")
    assert messages[-1]["status"] == "complete", messages[-1]
    assert {m["request_id"] for m in messages} == {"ok"}


async def test_it_refuses_text_that_is_not_json(connect):
    socket = await connect()
    await socket.send_to(text_data='{"text": "Hello", ')
    error = await socket.receive_json_from()
    assert error["status"] == "error"
    assert error["code"] == "invalid_json"
    assert "not valid JSON" in error["message"]
    await assert_still_serves(socket)


async def test_it_refuses_json_nested_too_deeply(connect):
    socket = await connect()
    await socket.send_to(text_data="[" * 20_000 + "]" * 20_000)
    error = await socket.receive_json_from()
    assert error["code"] == "invalid_json"
    assert "too deeply" in error["message"]
    await assert_still_serves(socket)


async def test_it_refuses_a_lone_surrogate_by_field_and_position(connect):
    socket = await connect()
    # JSON escapes half of a UTF-16 pair alone; it is no character, and nothing can encode it.
    await socket.send_to(text_data='{"text": "Hello \\ud800 there", "voice_id": "joe"}')
    error = await socket.receive_json_from()
    assert error["code"] == "invalid_request"
    assert "text holds a lone UTF-16 surrogate (\\ud800) at character 6" in error["message"]
    # A whole pair is one character, spoken as any other.
    await socket.send_to(text_data='{"text": "Smile \\ud83d\\ude00 please.", "voice_id": "joe"}')
    assert (await receive_until_end(socket))[-1]["status"] == "complete"
    await assert_still_serves(socket)


async def test_it_refuses_binary_frames(connect):
    socket = await connect()
    await socket.send_to(bytes_data=b"\x00\x01")
    error = await socket.receive_json_from()
    assert error["code"] == "invalid_json"
    assert "Binary frames" in error["message"]
    await assert_still_serves(socket)


@pytest.mark.parametrize(
    "message, words",
    [
        ([1, 2, 3], "JSON object"),
        ({"voice_id": "joe"}, "text is required"),
        ({"text": 42, "voice_id": "joe"}, "text must be a string"),
        ({"text": "Hi"}, "voice_id is required"),
        ({"text": "Hi", "voice_id": 7}, "voice_id must be a string"),
        ({"text": "Hi", "voice_id": "joe", "speed": 3}, "speed must be from 0.5 to 2.0"),
        ({"text": "Hi", "voice_id": "joe", "speed": "fast"}, "speed must be a number"),
        ({"text": "Hi", "voice_id": "joe", "sample_rate": 12345}, "sample_rate must be one of"),
        ({"text": "Hi", "voice_id": "joe", "sample_rate": "24000"}, "sample_rate must be one of"),
        ({"text": "Hi", "voice_id": "joe", "output_format": "ogg"}, "output_format must be one"),
        ({"text": "Hi", "voice_id": "joe", "request_id": "no spaces"}, "request_id must be"),
        ({"text": "Hi", "voice_id": "joe", "request_id": "x" * 129}, "request_id must be"),
        ({"text": "Hi", "voice_id": "joe", "flush": "yes"}, "flush must be true or false"),
        (
            {"text": "Hi", "voice_id": "joe", "word_timestamps": 1},
            "word_timestamps must be true or false",
        ),
        ({"text": "Hi", "voice_id": "joe", "language": "fr"}, "does not match voice 'joe'"),
        ({"type": "dance"}, "Unknown message type 'dance'"),
        ({"type": "cancel"}, "cancel needs the request_id"),
        ({"type": "cancel", "request_id": "nothing"}, "no request 'nothing' in progress"),
    ],
)
async def test_it_names_the_problem_with_a_bad_request(connect, message, words):
    socket = await connect()
    await socket.send_json_to(message)
    error = await socket.receive_json_from()
    assert error["status"] == "error"
    assert error["code"] == "invalid_request"
    assert words in error["message"]
    await assert_still_serves(socket)


async def test_it_echoes_the_request_id_in_errors_about_a_request(connect):
    socket = await connect()
    await socket.send_json_to({"text": "Hi", "voice_id": "joe", "speed": 9, "request_id": "r-1"})
    error = await socket.receive_json_from()
    assert error["request_id"] == "r-1"
    assert error["code"] == "invalid_request"


async def test_it_answers_voice_not_found_for_an_unknown_voice(connect):
    socket = await connect()
    await socket.send_json_to({"text": "Hi", "voice_id": "nobody", "request_id": "v"})
    error = await socket.receive_json_from()
    assert error == {
        "status": "error",
        "request_id": "v",
        "code": "voice_not_found",
        "message": "There is no voice 'nobody'. The voice ids here: joe "
        "(GET /api/voices/ lists them all).",
        "field": "voice_id",
    }
    await assert_still_serves(socket)


async def test_a_voice_id_in_the_wrong_case_is_answered_with_the_right_one(connect):
    socket = await connect()
    await socket.send_json_to({"text": "Hi", "voice_id": "Joe"})
    error = await socket.receive_json_from()
    assert error["code"] == "voice_not_found"
    assert error["message"].startswith(
        "There is no voice 'Joe'; did you mean 'joe'? Voice ids are case-sensitive."
    )


async def test_it_answers_voice_not_found_for_a_disabled_voice(connect):
    await Voice.objects.filter(voice_id="joe").aupdate(enabled=False)
    socket = await connect()
    await socket.send_json_to({"text": "Hi", "voice_id": "joe"})
    assert (await socket.receive_json_from())["code"] == "voice_not_found"


async def test_it_refuses_text_over_the_limit(connect, settings):
    socket = await connect()
    text = "a" * (settings.TTS_MAX_TEXT_CHARS + 1)
    await socket.send_json_to({"text": text, "voice_id": "joe", "request_id": "big"})
    error = await socket.receive_json_from()
    assert error["code"] == "text_too_long"
    assert error["request_id"] == "big"
    assert "5001 characters; the limit is 5000" in error["message"]
    await assert_still_serves(socket)


async def test_it_refuses_more_requests_at_once_than_the_limit(connect, settings):
    socket = await connect()
    # Sent together: each one is still in progress when the next one is read.
    long_text = "This takes a while to say, one word after another. " * 3
    limit = settings.TTS_MAX_REQUESTS_PER_CONNECTION
    for number in range(limit + 1):
        await socket.send_json_to(
            {"text": long_text, "voice_id": "joe", "request_id": f"r{number}"}
        )
    ends: dict[str, dict] = {}
    while len(ends) < limit + 1:
        message = await socket.receive_json_from(timeout=120)
        if message["status"] != "chunk":
            ends[message["request_id"]] = message
    assert ends[f"r{limit}"]["code"] == "too_many_concurrent_requests"
    assert all(ends[f"r{n}"]["status"] == "complete" for n in range(limit))
    await assert_still_serves(socket)


async def test_it_refuses_a_request_id_already_in_progress(connect):
    socket = await connect()
    long_text = "This takes a while to say, one word after another. " * 5
    await socket.send_json_to({"text": long_text, "voice_id": "joe", "request_id": "same"})
    await socket.send_json_to({"text": "Again.", "voice_id": "joe", "request_id": "same"})
    messages: list[dict] = []
    while len([m for m in messages if m["status"] != "chunk"]) < 2:
        messages.append(await socket.receive_json_from(timeout=60))
    errors = [m for m in messages if m["status"] == "error"]
    assert errors[0]["code"] == "invalid_request"
    assert "'same' is still in progress" in errors[0]["message"]
    assert messages[-1]["status"] == "complete"


async def test_it_reports_synthesis_failed_when_the_voice_cannot_speak(connect, tmp_path):
    # Files that pass the checks on lookup (voices/availability.py) but are no model: only
    # loading it finds out, and nothing has tried before this request.
    model, config = tmp_path / "voice.onnx", tmp_path / "voice.onnx.json"
    model.write_bytes(b"not a model")
    shutil.copyfile(BUNDLED_CONFIG, config)
    broken = await VoiceModel.objects.acreate(
        name="broken",
        model_path=str(model),
        config_path=str(config),
        sample_rate=22050,
        language="en-US",
        file_size=len(b"not a model"),
    )
    await Voice.objects.acreate(voice_id="broken", name="Broken", language="en-US", model=broken)
    socket = await connect()
    await socket.send_json_to({"text": "Hello.", "voice_id": "broken", "request_id": "b"})
    error = await socket.receive_json_from(timeout=10)
    assert error["status"] == "error"
    assert error["code"] == "synthesis_failed"
    assert error["request_id"] == "b"
    await assert_still_serves(socket)


async def test_it_keeps_other_sockets_serving_while_one_sends_garbage(connect):
    bad, good = await connect(), await connect()
    await bad.send_to(text_data="not json at all")
    await good.send_json_to({"text": "Unaffected.", "voice_id": "joe", "request_id": "g"})
    assert (await bad.receive_json_from())["code"] == "invalid_json"
    assert (await receive_until_end(good))[-1]["status"] == "complete"


async def test_it_answers_server_busy_when_the_worker_channel_is_full(connect, settings):
    # A worker channel that holds one message, and two workers: of four requests sent at once,
    # two are being synthesized, one waits on the channel, and the rest find it full.
    # (The in-memory layer reads `channel_capacity` only as compiled patterns.)
    only_one_job = [(re.compile(r"^tts-synthesize$"), 1)]
    settings.TTS_WORKER_CAPACITY = 1  # and the embedded workers hold one more
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"channel_capacity": only_one_job},
        }
    }
    socket = await connect()
    text = "A first clause long enough to take a while, then the rest."
    for number in range(4):
        await socket.send_json_to({"text": text, "voice_id": "joe", "request_id": f"r{number}"})
    ends: dict[str, dict] = {}
    while len(ends) < 4:
        message = await socket.receive_json_from(timeout=30)
        if message["status"] != "chunk":
            ends[message["request_id"]] = message
    busy = [m for m in ends.values() if m["status"] == "error"]
    assert busy, ends
    assert all(m["code"] == "server_busy" for m in busy)
    assert "try again" in busy[0]["message"]
    assert all(m["status"] == "complete" for m in ends.values() if m not in busy)
    await assert_still_serves(socket)
