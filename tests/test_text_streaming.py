"""Text streamed in as an LLM writes it (`continue: true`), over real sockets."""

from __future__ import annotations

import time

from .clients import pcm_of, receive_until_end, speak, words_of

REPLY = "Hello there, thanks for calling. I can help you with your order today. Anything else?"


async def test_a_token_stream_is_heard_before_it_ends(connect):
    socket = await connect()
    words = REPLY.split(" ")
    first_audio = None
    for number, word in enumerate(words):
        message = {"text": word + " ", "continue": True, "request_id": "llm"}
        if number == 0:
            message["voice_id"] = "joe"
        await socket.send_json_to(message)
        if first_audio is None and not await socket.receive_nothing(timeout=0.2):
            first_audio = number
    await socket.send_json_to({"text": "", "flush": True, "continue": False, "request_id": "llm"})
    messages = await receive_until_end(socket)
    assert first_audio is not None and first_audio < len(words) - 3, first_audio
    assert messages[-1]["status"] == "complete"
    assert messages[-1]["data"]["chunks"] >= 3
    assert 4 < messages[-1]["data"]["audio_seconds"] < 10


async def test_messages_without_a_request_id_continue_the_open_stream(connect):
    socket = await connect()
    await socket.send_json_to({"text": "One sentence here. ", "voice_id": "joe", "continue": True})
    await socket.send_json_to({"text": "And another one. ", "continue": True})
    await socket.send_json_to({"text": "The end.", "continue": False})
    messages = await receive_until_end(socket)
    assert messages[-1]["status"] == "complete"
    assert len({m["request_id"] for m in messages}) == 1
    assert 2.5 < len(pcm_of(messages)) / 24000 < 7


async def test_flush_speaks_an_unfinished_sentence_now(connect):
    socket = await connect()
    text = {"text": "An unfinished thought", "voice_id": "joe", "continue": True, "request_id": "f"}
    await socket.send_json_to(text)
    assert await socket.receive_nothing(timeout=1.0)  # waiting for the sentence to end
    await socket.send_json_to({"text": "", "flush": True, "continue": True, "request_id": "f"})
    chunk = await socket.receive_json_from(timeout=10)
    assert chunk["status"] == "chunk"
    await socket.send_json_to({"text": "", "continue": False, "request_id": "f"})
    assert (await receive_until_end(socket))[-1]["status"] == "complete"


async def test_max_buffer_flush_ms_speaks_the_buffer_after_a_pause(connect):
    socket = await connect()
    await socket.send_json_to(
        {
            "text": "A pause in the middle",
            "voice_id": "joe",
            "continue": True,
            "max_buffer_flush_ms": 300,
        }
    )
    started = time.monotonic()
    chunk = await socket.receive_json_from(timeout=10)
    assert chunk["status"] == "chunk"
    assert time.monotonic() - started >= 0.3


async def test_an_open_stream_with_everything_spoken_counts_as_idle(connect):
    socket = await connect()  # the test timeout is 2 s
    await socket.send_json_to({"text": "Spoken. ", "voice_id": "joe", "continue": True})
    while (message := await socket.receive_json_from(timeout=10))["status"] == "chunk":
        pass  # the stream is still open: no complete comes
    assert message == {
        "status": "error",
        "code": "timeout",
        "message": "Connection timed out after 2 seconds of inactivity",
    }


async def test_too_much_text_without_a_sentence_end_is_refused(connect, settings):
    settings.TTS_MAX_BUFFER_CHARS = 50
    socket = await connect()
    start = {"text": "word " * 8, "voice_id": "joe", "continue": True, "request_id": "b"}
    await socket.send_json_to(start)
    await socket.send_json_to({"text": "word " * 4, "continue": True, "request_id": "b"})
    error = await socket.receive_json_from(timeout=5)
    assert error["code"] == "buffer_full"
    assert error["request_id"] == "b"
    assert "flush: true" in error["message"]


async def test_an_unnamed_message_with_several_open_streams_is_refused(connect):
    socket = await connect()
    for request_id in ("a", "b"):
        await socket.send_json_to(
            {"text": "Open", "voice_id": "joe", "continue": True, "request_id": request_id}
        )
    await socket.send_json_to({"text": "Which one?", "continue": True})
    error = await socket.receive_json_from(timeout=5)
    assert error["code"] == "invalid_request"
    assert "name one with request_id" in error["message"]


async def test_the_buffer_limit_does_not_bound_a_whole_text(connect, settings):
    settings.TTS_MAX_BUFFER_CHARS = 50
    socket = await connect()
    text = "A whole text is bounded per message, not by the stream buffer, so this is spoken."
    assert (await speak(socket, text))[-1]["status"] == "complete"


async def test_a_streams_first_clause_is_heard_before_its_sentence_ends(connect):
    socket = await connect()
    start = {"voice_id": "joe", "request_id": "c", "continue": True}
    await socket.send_json_to({**start, "text": "Hello there,"})
    await socket.send_json_to({"request_id": "c", "continue": True, "text": " thanks"})
    first = await socket.receive_json_from(timeout=10)  # the sentence is still unfinished
    assert first["status"] == "chunk"
    await socket.send_json_to({"request_id": "c", "text": " for calling."})
    messages = [first, *await receive_until_end(socket)]
    assert messages[-1]["status"] == "complete"
    assert messages[-1]["data"]["chunks"] >= 2


async def test_a_finished_sentence_is_spoken_without_waiting_for_more_text(connect):
    socket = await connect()
    start = {"voice_id": "joe", "request_id": "s", "continue": True, "word_timestamps": True}
    await socket.send_json_to({**start, "text": "Thanks for calling."})
    assert (await socket.receive_json_from(timeout=10))["status"] == "chunk"
    for word in ("Thanks", "for", "calling"):  # one message per word, after its audio
        timed = await socket.receive_json_from(timeout=10)
        assert (timed["status"], timed["data"]["word"]) == ("word_timestamp", word)
    await socket.send_json_to({"request_id": "s", "continue": True, "text": " It costs 3."})
    assert await socket.receive_nothing(timeout=1.0)  # "3." may still become "3.5"
    await socket.send_json_to({"request_id": "s", "text": "5 dollars."})
    rest = await receive_until_end(socket)
    assert rest[-1]["status"] == "complete"
    words = [word["word"] for word in words_of(rest)]
    assert words == ["It", "costs", "3.5", "dollars"]


async def test_whitespace_alone_in_a_stream_parts_its_words_and_ends_nothing(connect):
    """Whitespace messages (no `continue: false` written out) keep a stream open, however much
    of it comes, and still part the words on either side."""
    socket = await connect()
    opening = {"text": "Hello", "voice_id": "joe", "continue": True, "word_timestamps": True}
    await socket.send_json_to(opening)
    for _ in range(3):
        await socket.send_json_to({"text": " " * 4000 + "\n", "continue": True})
    await socket.send_json_to({"text": "world and", "continue": True})  # a sentence unfinished
    await socket.send_json_to({"text": " goodbye.", "continue": False})
    messages = await receive_until_end(socket)
    assert messages[-1]["status"] == "complete", messages[-1]
    assert [word["word"] for word in words_of(messages)] == ["Hello", "world", "and", "goodbye"]
