"""Smallest's current dialect over a real socket: contexts, one word_timestamp message per word,
fields the server ignores (and names), math_notation, add_wav_header and voice aliases.

Every refusal is followed by a request on the same socket: a bad message never costs the
connection.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest

from .clients import assert_speaks, pcm_of, receive, receive_until_end, send, words_of
from .servers import Deployment

pytestmark = pytest.mark.e2e

REPLY = (
    "Sure thing, I can certainly help you with that today. Your order shipped this morning "
    "and should arrive on Thursday. Is there anything else you would like to know?"
)


@pytest.fixture(scope="module")
def server(open_server: Deployment) -> Deployment:
    open_server.mark = open_server.log_mark()  # type: ignore[attr-defined]
    return open_server


def run(server: Deployment, exchange: Any) -> Any:
    async def connected() -> Any:
        async with server.websocket() as socket:
            return await exchange(socket)

    return asyncio.run(connected())


async def nothing_within(socket: Any, seconds: float) -> bool:
    try:
        message = await asyncio.wait_for(socket.recv(), seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"expected nothing, got {json.loads(message)}")


async def refused(socket: Any, message: dict[str, Any]) -> dict[str, Any]:
    """Send `message`; the error it gets; then the socket still speaks."""
    await send(socket, message)
    error = await receive(socket, 10)
    assert error["status"] == "error", error
    await assert_speaks(socket, "Still here.")
    return error


def test_a_token_stream_in_a_context_is_spoken_as_it_comes(server):
    """An LLM's tokens, 50 ms apart, one context: audio starts before the first sentence's
    last word is sent, every message of the context is one request, and its words are timed
    one message each, in order, from the start of the context's audio."""
    written = REPLY.split(" ")
    tokens = [written[0], *(" " + word for word in written[1:])]  # as LLMs write: " word"
    first_sentence_end = next(n for n, token in enumerate(tokens) if token.strip().endswith("."))

    async def exchange(socket: Any) -> tuple[list[dict], int | None]:
        received: list[dict] = []
        sent_when_first_audio: int | None = None

        async def reader() -> None:
            nonlocal sent_when_first_audio
            while not received or received[-1]["status"] not in ("complete", "error"):
                received.append(await receive(socket, 30))
                if received[-1]["status"] == "chunk" and sent_when_first_audio is None:
                    sent_when_first_audio = sent

        sent = 0
        reading = asyncio.create_task(reader())
        for sent, token in enumerate(tokens):
            fields = {"voice_id": "joe", "word_timestamps": True} if sent == 0 else {}
            await send(socket, {"text": token, "context_id": "turn-1", "continue": True, **fields})
            await asyncio.sleep(0.05)
        await send(socket, {"text": "", "context_id": "turn-1", "continue": False})
        await asyncio.wait_for(reading, 60)
        return received, sent_when_first_audio

    messages, sent_at_first_audio = run(server, exchange)
    assert messages[-1]["status"] == "complete", messages[-1]
    # Audio came while the sentence was still being written (tokens 0..sent were out).
    assert sent_at_first_audio is not None and sent_at_first_audio < first_sentence_end
    assert len({message["request_id"] for message in messages}) == 1
    chunks = [message for message in messages if message["status"] == "chunk"]
    assert [chunk["data"]["sequence"] for chunk in chunks] == list(range(len(chunks)))
    words = words_of(messages)
    assert [word["id"] for word in words] == list(range(len(words)))
    assert [word["word"] for word in words] == [
        token.strip(" ,.?") for token in tokens if token.strip(" ,.?")
    ]
    starts = [word["start"] for word in words]
    assert starts == sorted(starts) and starts[0] < 0.1
    assert words[-1]["end"] <= messages[-1]["data"]["audio_seconds"]


def test_contexts_on_one_socket_are_separate_requests(server):
    async def exchange(socket: Any) -> list[dict]:
        for context in ("a", "b"):
            await send(
                socket,
                {
                    "text": f"Context {context} begins.",
                    "voice_id": "joe",
                    "context_id": context,
                    "continue": True,
                },
            )
        for context in ("b", "a"):
            await send(socket, {"text": " And ends.", "context_id": context, "continue": False})
        messages: list[dict] = []
        while sum(message["status"] == "complete" for message in messages) < 2:
            messages.append(await receive(socket, 30))
        return messages

    messages = run(server, exchange)
    assert [m["status"] for m in messages if m["status"] not in ("chunk", "complete")] == []
    request_ids = {message["request_id"] for message in messages}
    assert len(request_ids) == 2
    for request_id in request_ids:
        chunks = [m for m in messages if m["request_id"] == request_id and m["status"] == "chunk"]
        assert [chunk["data"]["sequence"] for chunk in chunks] == list(range(len(chunks)))
        assert len(pcm_of(chunks)) / 24000 > 1.0  # both sentences of it


def test_context_close_stops_a_context_at_once(server):
    async def exchange(socket: Any) -> list[dict]:
        await send(
            socket, {"text": REPLY * 3, "voice_id": "joe", "context_id": "long", "continue": True}
        )
        first = await receive(socket, 30)
        assert first["status"] == "chunk"
        await send(socket, {"text": "", "context_id": "long", "context_close": True})
        messages = [first, *await receive_until_end(socket, 30)]
        assert await nothing_within(socket, 1.0)  # no audio after `cancelled`
        await assert_speaks(socket, "The next one is heard.")
        return messages

    messages = run(server, exchange)
    assert messages[-1] == {"status": "cancelled", "request_id": messages[0]["request_id"]}
    assert len(pcm_of(messages)) / 24000 < 15  # far less than the whole text


def test_unfinished_text_in_a_context_waits_at_most_max_buffer_delay_ms(server):
    async def exchange(socket: Any) -> tuple[list[dict], list[dict]]:
        start = {"voice_id": "joe", "continue": True}
        # The default wait is three seconds: nothing is spoken within one.
        await send(socket, {**start, "text": "Well then, I think that", "context_id": "slow"})
        first = await receive(socket, 10)  # "Well then," goes as a first clause...
        assert first["status"] == "chunk"
        assert await nothing_within(socket, 1.0)  # ...the rest waits for more text
        late = await receive(socket, 10)  # then is spoken all the same
        # With 200 ms, unfinished text is spoken almost at once.
        await send(
            socket,
            {**start, "text": "Perhaps", "context_id": "quick", "max_buffer_delay_ms": 200},
        )
        quick = await receive(socket, 5)
        for context in ("slow", "quick"):
            await send(socket, {"text": "", "context_id": context, "continue": False})
        return [first, late], [quick]

    slow, quick = run(server, exchange)
    assert [message["status"] for message in slow + quick] == ["chunk"] * 3
    assert slow[0]["request_id"] == slow[1]["request_id"] != quick[0]["request_id"]


def test_whitespace_in_an_open_context_keeps_it_open_and_parts_its_words(server):
    async def exchange(socket: Any) -> list[dict]:
        opening = {"voice_id": "joe", "context_id": "p", "continue": True, "word_timestamps": True}
        await send(socket, {**opening, "text": "First paragraph"})
        await send(socket, {"text": "\n\n", "context_id": "p", "continue": True})
        # A keepalive as pipecat sends it: no context, no `continue`, only whitespace.
        await send(socket, {"text": " ", "voice_id": "joe", "model": "m", "language": "en"})
        await send(socket, {"text": "Second one.", "context_id": "p", "continue": False})
        return await receive_until_end(socket, 30)

    messages = run(server, exchange)
    assert messages[-1]["status"] == "complete", messages[-1]
    assert [word["word"] for word in words_of(messages)] == ["First", "paragraph", "Second", "one"]


def test_sentences_sent_whole_without_spaces_keep_their_words_apart(server):
    """Agent frameworks send a reply sentence by sentence, with no space between them; a
    sentence that could still go on ("7 p.m.", "$20.") waits, and the next is not glued on."""
    sentences = ["Your table is booked for 7 p.m.", "The total is $20.", "See you then!"]

    async def exchange(socket: Any) -> list[dict]:
        opening = {"voice_id": "joe", "context_id": "s", "word_timestamps": True}
        for number, sentence in enumerate(sentences):
            fields = opening if number == 0 else {"context_id": "s"}
            await send(socket, {"text": sentence, "continue": True, **fields})
        await send(socket, {"text": "", "context_id": "s", "continue": False})
        return await receive_until_end(socket, 30)

    messages = run(server, exchange)
    assert messages[-1]["status"] == "complete", messages[-1]
    assert [word["word"] for word in words_of(messages)] == [
        "Your", "table", "is", "booked", "for", "7", "p.m", "The", "total", "is", "$20",
        "See", "you", "then",
    ]  # fmt: skip


def test_ending_a_context_that_was_never_opened_completes_with_no_audio(server):
    async def exchange(socket: Any) -> list[dict]:
        await send(
            socket, {"text": "", "voice_id": "joe", "context_id": "never", "continue": False}
        )
        return await receive_until_end(socket, 10)

    messages = run(server, exchange)
    assert messages[-1]["status"] == "complete"
    assert messages[-1]["data"]["chunks"] == 0


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"text": "Hi.", "voice_id": "joe", "context_id": "c", "flush": True}, "flush"),
        (
            {"text": "Hi.", "voice_id": "joe", "context_id": "c", "max_buffer_flush_ms": 500},
            "max_buffer_flush_ms",
        ),
        (
            {"text": "Hi.", "voice_id": "joe", "context_id": "c", "max_buffer_delay_ms": 5001},
            "max_buffer_delay_ms",
        ),
        (
            {"text": "Hi.", "voice_id": "joe", "context_id": "c", "max_buffer_delay_ms": "1"},
            "max_buffer_delay_ms",
        ),
        (
            {
                "text": "Hi.",
                "voice_id": "joe",
                "max_buffer_delay_ms": 100,
                "max_buffer_flush_ms": 100,
            },
            "max_buffer_delay_ms",
        ),
        ({"text": "Hi.", "voice_id": "joe", "context_id": "no spaces"}, "context_id"),
        ({"text": "Hi.", "voice_id": "joe", "context_id": 7}, "context_id"),
        ({"text": "", "context_id": "nothing-open", "context_close": True}, "context_id"),
        ({"text": "", "context_close": True}, "context_id"),
        (
            {"text": "Hi.", "voice_id": "joe", "context_close": "yes", "context_id": "c"},
            "context_close",
        ),
        ({"text": "2 + 2", "voice_id": "joe", "math_notation": 1}, "math_notation"),
        ({"text": "Hi.", "voice_id": "joe", "add_wav_header": "true"}, "add_wav_header"),
        (
            {"text": "Hi.", "voice_id": "joe", "output_format": "ulaw", "add_wav_header": True},
            "add_wav_header",
        ),
    ],
)
def test_a_bad_context_or_field_is_refused_by_name(server, message, field):
    error = run(server, lambda socket: refused(socket, message))
    assert error["code"] == "invalid_request"
    assert error["field"] == field
    assert field in error["message"]


def test_a_context_keeps_its_request_id_and_its_end(server):
    async def exchange(socket: Any) -> list[dict]:
        opening = {
            "text": "One moment,",
            "voice_id": "joe",
            "context_id": "k",
            "request_id": "mine",
            "continue": True,
        }
        await send(socket, opening)
        wrong_id = {"text": " please.", "context_id": "k", "request_id": "other", "continue": True}
        errors = [await refused_while_speaking(socket, wrong_id)]
        await send(socket, {"text": " I am looking.", "context_id": "k", "continue": False})
        errors.append(await refused_while_speaking(socket, {"text": "More.", "context_id": "k"}))
        rest: list[dict] = []
        while not rest or rest[-1]["status"] != "complete":
            rest.append(await receive(socket, 30))
        return errors + rest

    messages = run(server, exchange)
    errors = [message for message in messages if message["status"] == "error"]
    assert [error["field"] for error in errors] == ["request_id", "context_id"]
    assert all(m["request_id"] == "mine" for m in messages if m["status"] != "error")


async def refused_while_speaking(socket: Any, message: dict[str, Any]) -> dict[str, Any]:
    """Send `message`; return the error it gets, among the other requests' audio."""
    await send(socket, message)
    while True:
        received = await receive(socket, 10)
        if received["status"] == "error":
            return received
        assert received["status"] == "chunk", received


def test_fields_the_server_does_not_use_are_ignored_and_named(server):
    async def exchange(socket: Any) -> list[dict]:
        await send(
            socket,
            {
                "text": "Hello there,",
                "voice_id": "joe",
                "context_id": "f",
                "continue": True,
                "model": "lightning_v3.1",
                "colour": "red",
            },
        )
        await send(
            socket,
            {
                "text": " friend.",
                "context_id": "f",
                "continue": False,
                "number_pronunciation_language": "en",
                "content_filter": {"enabled": True, "action": "flag"},
            },
        )
        return await receive_until_end(socket, 30)

    messages = run(server, exchange)
    assert messages[-1]["status"] == "complete", messages[-1]
    assert messages[-1]["data"]["ignored_fields"] == [
        "colour",
        "content_filter",
        "model",
        "number_pronunciation_language",
    ]
    plain = run(server, lambda socket: assert_speaks(socket, "Nothing extra."))
    assert "ignored_fields" not in plain[-1]["data"]


def test_math_notation_reads_operators_as_words(server):
    def spoken(math_notation: bool) -> list[dict]:
        return run(
            server,
            lambda socket: assert_speaks(
                socket, "10 - 3 = 7.", math_notation=math_notation, word_timestamps=True
            ),
        )

    plain, math = spoken(False), spoken(True)
    seconds = {name: len(pcm_of(m)) / 24000 for name, m in (("plain", plain), ("math", math))}
    assert seconds["math"] > seconds["plain"] + 0.15  # "minus" is said
    minus = next(word for word in words_of(math) if word["word"] == "-")
    assert minus["end"] - minus["start"] > 0.15


def test_add_wav_header_makes_pcm_a_wav_stream(server):
    messages = run(server, lambda socket: assert_speaks(socket, "Hello.", add_wav_header=True))
    chunks = [message for message in messages if message["status"] == "chunk"]
    assert {chunk["data"]["format"] for chunk in chunks} == {"wav"}
    assert base64.b64decode(chunks[0]["data"]["audio"])[:4] == b"RIFF"


def test_a_voice_answers_to_its_aliases(server):
    messages = run(server, lambda socket: assert_speaks(socket, "Hello.", voice_id="meher"))
    assert len(pcm_of(messages)) / 24000 > 0.3
    error = run(server, lambda socket: refused(socket, {"text": "Hi.", "voice_id": "nobody"}))
    assert (error["code"], error["field"]) == ("voice_not_found", "voice_id")


def test_the_server_log_has_no_error(server):
    time.sleep(0.2)
    log = server.log(since=server.mark)
    assert "Traceback" not in log
    assert " ERROR " not in log
