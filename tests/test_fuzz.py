"""Whatever a client sends, it gets an answer it can read, and the server keeps serving."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.messages import (
    MAX_SPEED,
    MIN_SPEED,
    OUTPUT_FORMATS,
    Cancel,
    ClientError,
    KeepAlive,
    SynthesisRequest,
    parse_message,
)
from speech.engine.audio import SAMPLE_RATES

from .clients import speak

FIELDS = [
    "text", "voice_id", "request_id", "speed", "sample_rate", "output_format", "language",
    "flush", "continue", "max_buffer_flush_ms", "word_timestamps", "type", "model", "x",
]  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
MESSAGES = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), JSON_VALUES, max_size=6)


@settings(max_examples=500, deadline=None)
@given(MESSAGES)
def test_any_json_object_parses_or_gets_a_client_error(message):
    try:
        parsed = parse_message(json.dumps(message), max_text_chars=5000)
    except ClientError as error:
        assert error.code in {"invalid_json", "invalid_request", "text_too_long"}
        assert error.message and len(error.message) < 400
        return
    # What was accepted is what the contract allows, so nothing past the parser sees otherwise.
    if isinstance(parsed, SynthesisRequest):
        assert isinstance(parsed.text, str) and len(parsed.text) <= 5000
        assert parsed.speed is None or MIN_SPEED <= parsed.speed <= MAX_SPEED
        assert parsed.sample_rate in SAMPLE_RATES
        assert parsed.output_format in OUTPUT_FORMATS
        assert isinstance(parsed.request_id, str) and parsed.request_id
        assert parsed.voice_id is None or isinstance(parsed.voice_id, str)
        if "text" in message and isinstance(message["text"], str):
            assert parsed.text == message["text"]
    elif isinstance(parsed, Cancel):
        assert message.get("type") == "cancel"
        assert isinstance(parsed.request_id, str) and parsed.request_id
    else:
        assert isinstance(parsed, KeepAlive)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_frame_parses_or_gets_a_client_error(frame):
    try:
        parse_message(frame, max_text_chars=5000)
    except ClientError as error:
        assert error.code in {"invalid_json", "invalid_request", "text_too_long"}
        assert error.message
    else:
        assert isinstance(json.loads(frame), dict)  # only a JSON object is ever accepted


async def test_hundreds_of_bad_frames_get_errors_and_the_socket_still_serves(connect):
    socket = await connect()
    generator = random.Random(20261126)
    frames: list[str | bytes] = []
    for number in range(300):
        kind = number % 5
        if kind == 0:
            frames.append(
                bytes(generator.randrange(256) for _ in range(generator.randrange(1, 64)))
            )
        elif kind == 1:
            frames.append("".join(chr(generator.randrange(32, 0x2FFF)) for _ in range(20)))
        elif kind == 2:
            frames.append(json.dumps([generator.random()] * generator.randrange(5)))
        elif kind == 3:
            field = generator.choice(FIELDS)
            value: object = generator.choice([None, -1, 1e308, "", [], {}])
            if field == "text" and value == "":
                value = "x"  # empty text alone is a keep-alive, answered by silence
            frames.append(json.dumps({field: value}))
        else:
            frames.append('{"text": "' + "\\" * generator.randrange(1, 9) + '", "voice_id": 5}')
    for frame in frames:
        if isinstance(frame, bytes):
            await socket.send_to(bytes_data=frame)
        else:
            await socket.send_to(text_data=frame)
        answer = await socket.receive_json_from(timeout=5)
        assert answer["status"] in ("error", "complete"), (frame, answer)
        assert "Traceback" not in json.dumps(answer)
        assert len(answer.get("message", "")) < 400  # client values are quoted cut short
        if answer["status"] == "error":
            assert answer["code"] in {"invalid_json", "invalid_request", "voice_not_found"}, frame
    assert (await speak(socket, "Still fine after all that."))[-1]["status"] == "complete"
