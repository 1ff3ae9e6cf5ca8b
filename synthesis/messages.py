"""Channel-layer messages between a Session and the synthesis workers.

Values are only str, int, float, bool, bytes and None, and lists and dicts of them, so that
they survive channels-redis's msgpack.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.conf import settings

if TYPE_CHECKING:
    from protocol.messages import SynthesisRequest
    from voices.lookup import VoiceSettings

logger = logging.getLogger(__name__)

# The one channel the synthesis workers listen on (embedded, or `manage.py synthesis_worker`).
WORKER_CHANNEL: str = settings.TTS_WORKER_CHANNEL

# Audio is sent back in parts so that no layer message comes near the 1 MB limit
# (15 s of 48 kHz audio is 1.4 MB). The same size bounds each `chunk` sent to the client.
MAX_PART_BYTES = 256 * 1024


class SynthesizeJob(TypedDict):
    """Consumer -> worker: synthesize one chunk of a request's text."""

    type: Literal["tts.synthesize"]
    reply_channel: str
    request_id: str
    stream: str  # identifies one run of a request, so replies for an older run are ignored
    index: int
    text: str  # encoded as speech/text/script.py writes it
    voice_id: str  # whose pronunciation lexicon applies
    language: str  # which normalizer reads the text
    math_notation: bool  # whether it reads "10 - 3" as "ten minus three"
    engine: str  # the kind of engine that speaks the model
    model_path: str
    config_path: str
    options: dict[str, Any]  # a SynthesisOptions, as dataclasses.asdict gives it
    sample_rate: int
    word_timestamps: bool
    # Wall-clock time (time.time()) by which the client needs this chunk's audio; workers
    # synthesize what is due soonest first (synthesis/scheduling.py).
    due: float


class WordStamp(TypedDict):
    """A word and when it is heard, in seconds from the start of its chunk's audio."""

    word: str
    start: float
    end: float


class AudioPart(TypedDict):
    """Worker -> consumer: one part of a chunk's audio, 16-bit PCM at the requested rate.

    `words` (when the request asked for them) are the words whose sound ends in this part.
    """

    type: Literal["tts.audio"]
    request_id: str
    stream: str
    index: int
    part: int
    last: bool
    audio: bytes
    words: list[WordStamp]


class SynthesisStarted(TypedDict):
    """Worker -> consumer: a synthesis thread began the chunk, so it is not waiting in a queue.

    A chunk that started and then makes no progress was lost with its worker; one that never
    started is waiting for a free worker, and sending it again would only add to the wait.
    """

    type: Literal["tts.started"]
    request_id: str
    stream: str
    index: int


class SynthesisTaken(TypedDict):
    """Worker -> consumer: the worker process `worker` holds the chunk (scale-out mode only).

    If that worker stops beating (synthesis/heartbeat.py) before the chunk's audio is in, the
    chunk was lost with it and is sent again at once.
    """

    type: Literal["tts.taken"]
    request_id: str
    stream: str
    index: int
    worker: str


class SynthesisFailed(TypedDict):
    """Worker -> consumer: the chunk could not be synthesized."""

    type: Literal["tts.failed"]
    request_id: str
    stream: str
    index: int
    message: str


def synthesize_job(
    stream: str, request: SynthesisRequest, voice: VoiceSettings, reply_channel: str
) -> SynthesizeJob:
    """The job for a request's chunks; each chunk's copy gets its own `index` and `text`."""
    options = dataclasses.replace(voice.options, speed=request.speed or voice.options.speed)
    return {
        "type": "tts.synthesize",
        "reply_channel": reply_channel,
        "request_id": request.request_id,
        "stream": stream,
        "index": 0,
        "text": "",
        "voice_id": voice.voice_id,
        "language": voice.language,
        "math_notation": request.math_notation,
        "engine": voice.engine,
        "model_path": voice.model_path,
        "config_path": voice.config_path,
        "options": dataclasses.asdict(options),
        "sample_rate": request.sample_rate,
        "word_timestamps": request.word_timestamps,
        "due": 0.0,
    }


# Pauses before sending a message again after the channel layer failed: after Redis comes back,
# the first send on each connection kept from before the outage fails once.
SEND_RETRY_PAUSES = (0.05, 0.5)


async def send_retrying(
    layer: BaseChannelLayer,
    channel: str,
    message: Any,
    still_wanted: Callable[[], bool] = lambda: True,
) -> bool:
    """Send `message`, trying again after SEND_RETRY_PAUSES if the channel layer fails.

    False if `still_wanted()` turned false before a try. A full channel raises ChannelFull at
    once (trying again would not empty it); the last failure of the layer is raised.
    """
    for pause in (*SEND_RETRY_PAUSES, None):
        if not still_wanted():
            return False
        try:
            await layer.send(channel, message)
        except ChannelFull:
            raise
        except Exception:
            if pause is None:
                raise
            await asyncio.sleep(pause)
        else:
            return True
    raise AssertionError("not reached: the last try returns or raises")


# Retrying a channel layer that is down (the consumers, the workers): first after this long,
# doubling up to the maximum, so each is back within LAYER_RETRY_MAX of Redis's return.
LAYER_RETRY_FIRST = 0.5
LAYER_RETRY_MAX = 5.0


async def receive_riding_out(
    layer: BaseChannelLayer, channel: str, lost: Callable[[], Awaitable[None]]
) -> dict[str, Any]:
    """The next message on `channel`. While the layer fails (Redis is down), `lost` is awaited
    after each failure and reading is tried again, after a pause that doubles from
    LAYER_RETRY_FIRST up to LAYER_RETRY_MAX."""
    pause = LAYER_RETRY_FIRST
    while True:
        try:
            message: dict[str, Any] = await layer.receive(channel)
        except Exception as error:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Being stopped (the socket closed): channels-redis may turn the cancellation
                # into a connection error, which is not an outage.
                raise asyncio.CancelledError from error
            if pause == LAYER_RETRY_FIRST:
                logger.warning("Channel layer unavailable (%s); retrying", error)
            await lost()
            await asyncio.sleep(pause)
            pause = min(pause * 2, LAYER_RETRY_MAX)
            continue
        if pause != LAYER_RETRY_FIRST:
            logger.info("Channel layer available again")
        return message


async def jobs_waiting(channel: str) -> int:
    """How many messages wait on `channel` of the channel layer (in memory or Redis)."""
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS must be configured"
    if isinstance(layer, InMemoryChannelLayer):
        queue = layer.channels.get(channel)
        return 0 if queue is None else queue.qsize()
    # channels_redis keeps a channel's messages in a sorted set on each Redis server, scored
    # by when they were sent (the worker channel's by when they are due, redis_layer.py);
    # those older than the layer's expiry are as good as gone.
    redis_layer: Any = layer
    fresh_since = time.time() - redis_layer.expiry
    waiting = 0
    for index in range(redis_layer.ring_size):
        connection = redis_layer.connection(index)
        waiting += await connection.zcount(redis_layer.prefix + channel, fresh_since, "+inf")
    return waiting


async def oldest_waiting(layer: BaseChannelLayer, channel: str) -> float:
    """The lowest score of the messages still on `channel` of the Redis layer: the first in
    line (its `due` on the worker channel, redis_layer.py; when it was sent on others); +inf
    when none is there.

    A message a receiver has taken but not finished taking counts as still there: channels_redis
    keeps it in a second sorted set ("$inflight") until the receiver has it, and puts it back on
    the channel if the receiver died meanwhile. So a message scored below this and not on the
    channel was handed to some receiver.
    """
    redis_layer: Any = layer
    key = redis_layer.prefix + channel
    oldest = math.inf
    for index in range(redis_layer.ring_size):
        connection = redis_layer.connection(index)
        for queue in (key, key + "$inflight"):
            first = await connection.zrange(queue, 0, 0, withscores=True)
            if first:
                oldest = min(oldest, float(first[0][1]))
    return oldest
