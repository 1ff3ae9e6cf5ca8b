"""A client's side of the protocol: send a request, collect its messages, hear its audio.

The same helpers talk to the application in the test process (channels' WebsocketCommunicator)
and to a real server (a `websockets` connection).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

# A request's last message has one of these statuses.
ENDINGS = ("complete", "cancelled", "error")


async def send(socket: Any, message: dict[str, Any]) -> None:
    """Send one JSON message."""
    if hasattr(socket, "send_json_to"):  # a WebsocketCommunicator
        await socket.send_json_to(message)
    else:
        await socket.send(json.dumps(message))


async def receive(socket: Any, timeout: float = 60) -> dict[str, Any]:
    """The next JSON message; fails after `timeout` seconds without one."""
    if hasattr(socket, "receive_json_from"):
        message: dict[str, Any] = await socket.receive_json_from(timeout=timeout)
        return message
    return dict(json.loads(await asyncio.wait_for(socket.recv(), timeout)))


async def receive_until_end(
    socket: Any,
    timeout: float = 60,
    *,
    after_first: Callable[[], Awaitable[None]] | None = None,
) -> list[dict[str, Any]]:
    """Receive messages until one ends a request (complete, cancelled or error).

    `after_first` is awaited once the first message has arrived, with the request under way.
    """
    messages = [await receive(socket, timeout)]
    if after_first is not None:
        await after_first()
    while messages[-1]["status"] not in ENDINGS:
        messages.append(await receive(socket, timeout))
    return messages


async def speak(
    socket: Any,
    text: str,
    *,
    after_first: Callable[[], Awaitable[None]] | None = None,
    timeout: float = 60,
    **fields: Any,
) -> list[dict[str, Any]]:
    """Ask joe (unless `voice_id` says otherwise) to say `text`, with these request `fields`;
    return the request's messages up to its last."""
    await send(socket, {"text": text, "voice_id": "joe", **fields})
    return await receive_until_end(socket, timeout, after_first=after_first)


async def assert_speaks(socket: Any, text: str = "Hello there.", **fields: Any) -> list[dict]:
    """Speak `text`; assert that the request completed with audio; its messages."""
    messages = await speak(socket, text, **fields)
    assert messages[-1]["status"] == "complete", messages[-1]
    assert len(pcm_of(messages)) > 0
    return messages


def words_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The words timed in `messages`, one word_timestamp message each, in order."""
    return [message["data"] for message in messages if message["status"] == "word_timestamp"]


def pcm_of(messages: list[dict[str, Any]]) -> np.ndarray:
    """The request's audio: its chunks' bytes, in order, as 16-bit samples."""
    audio = b"".join(
        base64.b64decode(m["data"]["audio"]) for m in messages if m["status"] == "chunk"
    )
    return np.frombuffer(audio, dtype="<i2")


@functools.cache
def speech_decoder() -> Any:
    """pocketsphinx's US English model, loaded once (about half a second); each utterance is
    decoded on its own (full_utt), so what one hears does not depend on the one before."""
    from pocketsphinx import Decoder

    return Decoder(samprate=16000)


def recognized(samples: np.ndarray) -> list[str]:
    """The words pocketsphinx's US English model hears in 16 kHz speech, lower case."""
    decoder = speech_decoder()
    decoder.start_utt()
    decoder.process_raw(samples.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr.split() if hypothesis is not None else []
