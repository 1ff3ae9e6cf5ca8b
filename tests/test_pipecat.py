"""pipecat's SmallestTTSService against this server, with nothing changed but its URL.

A pipecat pipeline gives the service a language model's reply in fragments, as pipecat's LLM
services do, and the tests check what a pipecat application receives: audio of a plausible
length, one text frame per spoken word, in order, with increasing times, and no error (nor a
warning about a message pipecat does not know), also where a sentence ends in a number or an
abbreviation; after an interruption, the next reply and nothing more of the interrupted one;
and that the service's keepalive message holds the connection open past the server's
inactivity timeout, 2 s here, which closes the connection without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from loguru import logger
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.smallest.tts import SmallestTTSService
from pipecat.workers.runner import WorkerRunner
from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from .servers import Deployment, deployment

pytestmark = pytest.mark.e2e

# The server closes a socket idle for this long (the product's shortest is 20 s).
IDLE_TIMEOUT = 2

REPLY = (
    "Hello there, thanks for calling the support line. I can help you with your order "
    "today. Let me look it up for you now."
)
LONG_REPLY = (
    "Your order left our warehouse on Monday morning. It went out with the evening truck. "
    "The courier scanned it twice on the way to your city. It should reach your door by "
    "Thursday afternoon. You will get a message an hour before it arrives. If you are not "
    "at home, the courier will leave it with a neighbour. You can also pick it up later."
)
SHORT_REPLY = "Sure, I can stop there. What else would you like to know?"
# pipecat sends each sentence on its own, without the space between them; these sentences end
# in a number or an abbreviation, after which a sentence might go on ("7 p.m. sharp", "$20.50").
OPEN_ENDED_REPLY = "Your table is booked for 7 p.m. The total is $20. See you then!"

# pipecat's Smallest service ends a turn once no audio has come for this long (3 s unless
# told otherwise). Tests that wait for a turn to end wait less than the server's idle timeout,
# so that the server does not close the socket in the silence at the end of every turn.
TURN_END = 1.0


def words_of(text: str) -> list[str]:
    """The words of `text` as a reader sees them, without the punctuation around them."""
    return [word.strip(",.?!;:") for word in text.split()]


def reply_frames(text: str, words_per_frame: int = 3) -> list[Frame]:
    """`text` as an LLM service sends it: a start, fragments of a few words, an end.

    An LLM's tokens bring the space before a word, not after it."""
    words = text.split(" ")
    pieces = [
        " ".join(words[i : i + words_per_frame]) for i in range(0, len(words), words_per_frame)
    ]
    fragments = [pieces[0], *(" " + piece for piece in pieces[1:])]
    return [
        LLMFullResponseStartFrame(),
        *(LLMTextFrame(fragment) for fragment in fragments),
        LLMFullResponseEndFrame(),
    ]


def seconds_of(frames: list[Frame]) -> float:
    """How long the audio among `frames` lasts (pipecat's audio is 16-bit)."""
    return sum(
        len(f.audio) / 2 / f.num_channels / f.sample_rate
        for f in frames
        if isinstance(f, TTSAudioRawFrame)
    )


def spoken_words(frames: list[Frame]) -> list[TTSTextFrame]:
    return [f for f in frames if isinstance(f, TTSTextFrame)]


def assert_plausible_length(seconds: float, text: str) -> None:
    assert 0.03 * len(text) < seconds < 0.15 * len(text), (seconds, len(text))


def assert_words_in_order(words: list[TTSTextFrame], text: str) -> None:
    """One frame per word of `text`, in order, each later than the one before."""
    timed = " ".join(f"{w.text}@{(w.pts or 0) / 1e9:.3f}" for w in words)
    assert [word for w in words for word in words_of(w.text)] == words_of(text), timed
    assert len(words) == len(words_of(text)), timed
    times = [w.pts for w in words if w.pts is not None]
    assert len(times) == len(words), timed
    assert all(a < b for a, b in zip(times, times[1:], strict=False)), timed


def assert_logged_no_error(server: Deployment, mark: int) -> None:
    log = server.log(since=mark)
    assert "ERROR" not in log and "Traceback" not in log, log


class Recorder(FrameProcessor):
    """Passes every frame on and keeps those that go `direction`."""

    def __init__(self, direction: FrameDirection) -> None:
        super().__init__(enable_direct_mode=True)
        self.direction = direction
        self.frames: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self.direction:
            self.frames.append(frame)
        await self.push_frame(frame, direction)

    def count(self, kind: type[Frame], since: int = 0) -> int:
        return sum(isinstance(f, kind) for f in self.frames[since:])


@dataclass
class Session:
    """A running pipeline of the service alone, and what came out of it either way."""

    worker: PipelineWorker
    up: Recorder
    down: Recorder

    async def send(self, frames: list[Frame]) -> None:
        for frame in frames:
            await self.worker.queue_frame(frame)

    async def until(self, condition: Callable[[], bool], seconds: float = 30) -> None:
        """Wait until `condition` holds; fail after `seconds`."""
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {seconds} s: {self.down.frames[-5:]}")
            await asyncio.sleep(0.02)

    async def speak(self, text: str) -> list[Frame]:
        """Send a reply; the frames that came down for it, once its end came down too."""
        since = len(self.down.frames)
        ends = self.down.count(LLMFullResponseEndFrame)
        await self.send(reply_frames(text))
        await self.until(lambda: self.down.count(LLMFullResponseEndFrame) > ends)
        return self.down.frames[since:]

    def errors(self) -> list[ErrorFrame]:
        return [f for f in self.up.frames + self.down.frames if isinstance(f, ErrorFrame)]


@contextlib.asynccontextmanager
async def pipeline(tts: SmallestTTSService) -> AsyncIterator[Session]:
    """Run `tts` in a pipeline with pipecat's default parameters (audio out at 24 kHz) until
    the block ends; then end it as an application does, with an EndFrame."""
    up, down = Recorder(FrameDirection.UPSTREAM), Recorder(FrameDirection.DOWNSTREAM)
    worker = PipelineWorker(
        Pipeline([up, tts, down]),
        params=PipelineParams(),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def on_started(worker: PipelineWorker, frame: Frame) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(started.wait(), 10)
        yield Session(worker, up, down)
        await worker.stop_when_done()
        await asyncio.wait_for(asyncio.shield(running), 20)
    finally:
        if not running.done():
            await worker.cancel()
            await asyncio.wait_for(running, 10)


def connection(tts: SmallestTTSService) -> ClientConnection:
    """The service's WebSocket now."""
    socket = tts._websocket
    assert isinstance(socket, ClientConnection), socket
    return socket


@dataclass
class Warnings:
    """What pipecat logged (through loguru) at WARNING and above, one line each."""

    lines: list[str] = field(default_factory=list)

    def matching(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]


@contextlib.contextmanager
def pipecat_warnings() -> Iterator[Warnings]:
    warnings = Warnings()
    sink = logger.add(
        lambda message: warnings.lines.append(
            f"{message.record['level'].name}: {message.record['message']}"
        ),
        level="WARNING",
    )
    try:
        yield warnings
    finally:
        logger.remove(sink)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(
        tmp_path_factory.mktemp("pipecat"),
        key_name="pipecat",
        TTS_REQUIRE_API_KEY="true",
        TTS_TIMEOUT_DEFAULT=str(IDLE_TIMEOUT),
        TTS_TIMEOUT_MIN=str(IDLE_TIMEOUT),
    ) as running:
        yield running


def smallest(server: Deployment, **options: Any) -> SmallestTTSService:
    """The service as a pipecat application makes it, with this server's URL and key."""
    assert server.api_key is not None
    return SmallestTTSService(
        api_key=server.api_key, base_url=f"ws://127.0.0.1:{server.port}", **options
    )


@dataclass
class Spoken:
    frames: list[Frame]
    errors: list[ErrorFrame]
    warnings: Warnings
    server_log: str


@pytest.fixture(scope="module")
async def spoken_reply(server: Deployment) -> Spoken:
    """REPLY, spoken in a pipeline of its own, with what pipecat logged meanwhile."""
    mark = server.log_mark()
    with pipecat_warnings() as warnings:
        async with pipeline(smallest(server, stop_frame_timeout_s=TURN_END)) as session:
            frames = await session.speak(REPLY)
    return Spoken(frames, session.errors(), warnings, server.log(since=mark))


async def test_a_reply_is_spoken_with_one_text_frame_per_word(spoken_reply):
    assert spoken_reply.errors == []
    assert_plausible_length(seconds_of(spoken_reply.frames), REPLY)
    words = spoken_words(spoken_reply.frames)
    assert_words_in_order(words, REPLY)
    # The words' times are seconds of the reply's audio, from when its first chunk came: the
    # last word starts in the second half of the audio, and before its end.
    seconds = seconds_of(spoken_reply.frames)
    span = ((words[-1].pts or 0) - (words[0].pts or 0)) / 1e9
    assert seconds / 2 < span < seconds, (span, seconds)
    assert "ERROR" not in spoken_reply.server_log, spoken_reply.server_log
    assert "Traceback" not in spoken_reply.server_log, spoken_reply.server_log


async def test_sentences_ending_in_a_number_or_an_abbreviation_keep_their_words(server):
    mark = server.log_mark()
    async with pipeline(smallest(server, stop_frame_timeout_s=TURN_END)) as session:
        frames = await session.speak(OPEN_ENDED_REPLY)
    assert session.errors() == []
    assert_plausible_length(seconds_of(frames), OPEN_ENDED_REPLY)
    assert_words_in_order(spoken_words(frames), OPEN_ENDED_REPLY)
    assert_logged_no_error(server, mark)


async def test_pipecat_logs_no_error_and_no_unknown_message(spoken_reply):
    lines = spoken_reply.warnings.lines
    assert spoken_reply.warnings.matching("unknown message status") == [], lines
    assert [line for line in lines if line.startswith(("ERROR", "CRITICAL"))] == [], lines


async def test_after_an_interruption_only_the_next_reply_is_heard(server):
    mark = server.log_mark()
    async with pipeline(smallest(server, stop_frame_timeout_s=TURN_END)) as session:
        await session.send(reply_frames(LONG_REPLY))
        # Once the first word has been heard (after the first audio), the user speaks.
        await session.until(lambda: session.down.count(TTSTextFrame) > 0)
        await session.send([InterruptionFrame()])
        await session.until(lambda: session.down.count(InterruptionFrame) > 0)
        await session.speak(SHORT_REPLY)
    frames = session.down.frames
    interrupted_at = next(i for i, f in enumerate(frames) if isinstance(f, InterruptionFrame))
    before, after = frames[:interrupted_at], frames[interrupted_at:]

    assert session.errors() == []
    # The long reply was cut short: fewer of its words came than it has.
    assert 0 < len(spoken_words(before)) < len(words_of(LONG_REPLY))
    first_turn = {f.context_id for f in before if isinstance(f, TTSStartedFrame)}
    second_turn = {f.context_id for f in after if isinstance(f, TTSStartedFrame)}
    assert len(first_turn) == 1 and len(second_turn) == 1 and first_turn != second_turn
    assert {f.context_id for f in after if isinstance(f, TTSAudioRawFrame)} == second_turn
    assert_plausible_length(seconds_of(after), SHORT_REPLY)
    assert_words_in_order(spoken_words(after), SHORT_REPLY)
    assert_logged_no_error(server, mark)


async def test_the_keepalive_holds_the_connection_past_the_idle_timeout(server):
    mark = server.log_mark()
    tts = smallest(server)
    with pipecat_warnings() as warnings:
        async with pipeline(tts) as session:
            socket = connection(tts)
            assert socket.state is State.OPEN
            # pipecat's own keepalive (its real message), every half second instead of 30 s.
            await tts._cancel_keepalive_task()
            tts._create_keepalive_task(interval=0.5)
            await asyncio.sleep(2.5 * IDLE_TIMEOUT)
            assert tts._websocket is socket and socket.state is State.OPEN
            frames = await session.speak(SHORT_REPLY)
            assert tts._websocket is socket and socket.state is State.OPEN

    assert session.errors() == []
    assert warnings.matching("reconnecting") == [], warnings.lines
    assert warnings.matching("ERROR") == [], warnings.lines
    assert_plausible_length(seconds_of(frames), SHORT_REPLY)
    assert_words_in_order(spoken_words(frames), SHORT_REPLY)
    assert_logged_no_error(server, mark)


async def test_without_the_keepalive_the_server_closes_the_idle_connection(server):
    """The control for the test above: pipecat's keepalive (every 30 s) comes too late for a
    2 s timeout, and the server closes the socket."""
    tts = smallest(server)
    with pipecat_warnings() as warnings:
        async with pipeline(tts) as session:
            socket = connection(tts)
            opened = time.monotonic()
            await session.until(lambda: socket.state is State.CLOSED, 2 * IDLE_TIMEOUT + 1)
            closed_after = time.monotonic() - opened
            # Then pipecat reconnects.
            await session.until(lambda: tts._websocket not in (None, socket), 5)

    assert socket.close_code == 4408
    assert IDLE_TIMEOUT - 0.5 < closed_after < IDLE_TIMEOUT + 1.5, closed_after
    timeouts = [e for e in session.errors() if "timed out" in str(e.error)]
    assert timeouts, session.errors()
    assert warnings.matching("reconnecting"), warnings.lines
