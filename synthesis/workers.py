"""Synthesis of chunks taken off the worker channel, replied to with audio.

The same `handle_job` serves the embedded workers that `make run` hosts inside the web process
and `manage.py synthesis_worker` processes (both through synthesis/embedded.py).
Synthesis itself runs on threads of its own, never on the thread shared by sync consumers and
database_sync_to_async, so a long chunk cannot stall the rest of the process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
from django.conf import settings

from speech.engine import (
    Engine,
    Interrupt,
    SynthesisOptions,
    float_to_pcm16,
    keep_memory,
    load_engine,
    release_memory,
    resample,
    wav_bytes,
)
from speech.lexicon import Lexicon
from speech.text import script
from speech.text.script import Script
from voices.lexicon import aget_lexicon

from . import cancellation, metrics
from .cancellation import is_cancelled
from .heartbeat import worker_name
from .messages import (
    MAX_PART_BYTES,
    AudioPart,
    SynthesisFailed,
    SynthesisStarted,
    SynthesisTaken,
    SynthesizeJob,
    WordStamp,
    send_retrying,
)
from .scheduling import DeadlineExecutor

logger = logging.getLogger(__name__)

# Copies of the voice models that also report phoneme timings (engine/piper.py).
ALIGNED_MODELS_DIR = settings.DATA_DIR / "aligned-models"

# What the voices' runs may keep for the next ones before long runs give back what they grew.
keep_memory(settings.TTS_KEEP_MEMORY_MB)

# Each sentence runs when its turn comes: the one whose audio is needed soonest goes first.
# Its threads start with the first sentence submitted, not when this module is imported.
# Once idle for TTS_RELEASE_MEMORY_AFTER seconds, it gives back what the voices kept.
synthesis_threads = DeadlineExecutor(
    settings.TTS_SYNTHESIS_THREADS,
    "tts-synthesis",
    express=settings.TTS_EXPRESS_THREADS,
    on_idle=release_memory if settings.TTS_RELEASE_MEMORY_AFTER else None,
    idle_after=settings.TTS_RELEASE_MEMORY_AFTER,
)
metrics.count_waiting_steps(synthesis_threads.waiting)


def synthesize_sentences(
    job: SynthesizeJob, lexicon: Lexicon | None = None, interrupt: Interrupt | None = None
) -> Iterator[tuple[bytes, list[WordStamp]]]:
    """Yield the chunk's audio one sentence at a time, as 16-bit PCM at the requested rate,
    with the words that end in it when the job asks for word timings.

    The chunk's text is read through the voice's lexicon and its language's normalizer first
    (speech/text). Blocking: each step runs on a synthesis thread.
    """
    said = script(
        job["text"],
        job.get("language", ""),
        lexicon.apply if lexicon else None,
        job.get("math_notation", False),
    )
    engine = voice_engine(
        job["engine"], job["model_path"], job["config_path"], engine_threads(job["index"])
    )
    options = SynthesisOptions(**job["options"])
    sentences = engine.synthesize_sentences(said, options, job["word_timestamps"], interrupt)
    for sentence in sentences:
        pcm = float_to_pcm16(resample(sentence.audio, engine.sample_rate, job["sample_rate"]))
        words: list[WordStamp] = [
            {"word": word.word, "start": word.start, "end": word.end} for word in sentence.words
        ]
        yield pcm, words


async def lexicon_for(job: SynthesizeJob) -> Lexicon | None:
    """The voice's pronunciation lexicon; None if it cannot be read (the text is still spoken)."""
    voice_id = job.get("voice_id")  # absent in jobs from a consumer older than the lexicon
    if not voice_id:
        return None
    try:
        return await aget_lexicon(voice_id)
    except Exception:
        logger.exception("Could not read the lexicon of voice %s; speaking without it", voice_id)
        return None


def voice_engine(kind: str, model_path: str, config_path: str, threads: int) -> Engine:
    """The process's engine for a voice model, bounded by this process's settings."""
    return load_engine(
        kind,
        model_path,
        config_path,
        threads,
        ALIGNED_MODELS_DIR,
        settings.TTS_MAX_UNIT_PHONEMES,
    )


def engine_threads(index: int) -> int:
    """onnxruntime threads for a request's chunk number `index` (the first one gets more)."""
    return settings.TTS_FIRST_CHUNK_ENGINE_THREADS if index == 0 else settings.TTS_ENGINE_THREADS


# Replies sent on their own (tts.taken, tts.started), kept so that they are not collected half-way.
_replies: set[asyncio.Future[bool]] = set()

# Returned by next_sentence for a stopped request (compared by identity).
CANCELLED: tuple[bytes, list[WordStamp]] = (b"", [])


def next_sentence(
    job: SynthesizeJob, sentences: Iterator[tuple[bytes, list[WordStamp]]]
) -> tuple[bytes, list[WordStamp]] | None:
    """The chunk's next sentence; None after the last, CANCELLED if the request was stopped.

    Checked before each sentence, so a cancelled chunk that is queued is never synthesized,
    and one being synthesized stops after its current sentence.
    """
    if is_cancelled(job["stream"]):
        return CANCELLED
    started = time.perf_counter()
    sentence = next(sentences, None)
    if sentence is not None:
        voice = job.get("voice_id") or "-"
        metrics.SYNTHESIS_SECONDS.labels(voice).inc(time.perf_counter() - started)
        audio_seconds = len(sentence[0]) / 2 / job["sample_rate"]  # 16-bit samples
        metrics.SYNTHESIZED_AUDIO_SECONDS.labels(voice).inc(audio_seconds)
    return sentence


async def handle_job(layer: BaseChannelLayer, job: SynthesizeJob) -> None:
    """Synthesize `job`, sending each sentence's audio to the reply channel as soon as it is ready.

    A chunk of several sentences thus starts playing after its first sentence, not its last.
    The chunk's last part is an empty one marked `last`.
    """
    if settings.REDIS_URL:  # workers in other processes: say at once which holds the chunk
        taken: SynthesisTaken = {
            "type": "tts.taken",
            "request_id": job["request_id"],
            "stream": job["stream"],
            "index": job["index"],
            "worker": worker_name(),
        }
        reply_soon(layer, job, taken)
    interrupt = Interrupt()
    sentences = synthesize_sentences(job, await lexicon_for(job), interrupt)
    part = 0
    started = time.monotonic()
    due = job["due"]  # when the chunk's first sentence is needed; later ones are needed later
    # A cancel in this process interrupts the sentence being synthesized (cancellation.py).
    cancellation.started(job["stream"], interrupt)
    loop = asyncio.get_running_loop()

    started_message: SynthesisStarted = {
        "type": "tts.started",
        "request_id": job["request_id"],
        "stream": job["stream"],
        "index": job["index"],
    }

    def send_started() -> None:
        reply_soon(layer, job, started_message)

    def say_started() -> None:  # on the synthesis thread, as it takes the chunk's first step
        loop.call_soon_threadsafe(send_started)

    try:
        while True:
            step = synthesis_threads.submit(
                due,
                next_sentence,
                job,
                sentences,
                on_start=say_started if part == 0 else None,
                small=job["index"] == 0,  # a first chunk is short (TTS_FIRST_CHUNK_MAX_CHARS)
            )
            interrupt.on_interrupt = step.cancel  # if it is still waiting for a thread, drop it
            try:
                sentence = await asyncio.wrap_future(step)
            except asyncio.CancelledError:
                if not step.cancelled():
                    raise  # this task itself is being cancelled
                sentence = CANCELLED
            if sentence is CANCELLED:
                logger.debug(
                    "Chunk %s of request %s: cancelled, %s",
                    job["index"],
                    job["request_id"],
                    "stopped" if part else "skipped",
                )
                return
            if sentence is None:
                if interrupt.interrupted:
                    logger.debug(
                        "Chunk %s of request %s: cancelled, interrupted mid-sentence",
                        job["index"],
                        job["request_id"],
                    )
                    return
                break
            pcm, words = sentence
            due += len(pcm) / 2 / job["sample_rate"]
            # The words go with the sentence's last part, so they never precede their audio.
            pieces = [pcm[i : i + MAX_PART_BYTES] for i in range(0, len(pcm), MAX_PART_BYTES)]
            pieces = pieces or [b""]
            for number, audio in enumerate(pieces):
                last_piece = number == len(pieces) - 1
                message = audio_part(job, part, audio, words=words if last_piece else [])
                if not await _reply(layer, job, message):
                    return
                part += 1
    except Exception:
        logger.exception(
            "Synthesis failed for request %s chunk %s", job["request_id"], job["index"]
        )
        failed: SynthesisFailed = {
            "type": "tts.failed",
            "request_id": job["request_id"],
            "stream": job["stream"],
            "index": job["index"],
            "message": "The voice could not synthesize this text.",
        }
        await _reply(layer, job, failed)
        return
    finally:
        cancellation.finished(job["stream"], interrupt)
    await _reply(layer, job, audio_part(job, part, b"", last=True))
    logger.debug(
        "Chunk %s of request %s: synthesized in %.0f ms",
        job["index"],
        job["request_id"],
        (time.monotonic() - started) * 1000,
    )


def audio_part(
    job: SynthesizeJob,
    part: int,
    audio: bytes,
    last: bool = False,
    words: list[WordStamp] | None = None,
) -> AudioPart:
    return {
        "type": "tts.audio",
        "request_id": job["request_id"],
        "stream": job["stream"],
        "index": job["index"],
        "part": part,
        "last": last,
        "audio": audio,
        "words": words or [],
    }


def reply_soon(layer: BaseChannelLayer, job: SynthesizeJob, message: Any) -> None:
    """Send a reply without waiting for it (kept in _replies until sent)."""
    task = asyncio.ensure_future(_reply(layer, job, message))
    _replies.add(task)
    task.add_done_callback(_replies.discard)


async def _reply(layer: BaseChannelLayer, job: SynthesizeJob, message: Any) -> bool:
    try:
        return await send_retrying(layer, job["reply_channel"], message)
    except ChannelFull:
        # The socket is not reading its replies; its request will end at its deadline.
        logger.warning("Reply channel full; dropping audio for request %s", job["request_id"])
        return False


async def synthesize_wav(
    kind: str, model_path: str, config_path: str, text: str | Script, options: SynthesisOptions
) -> bytes:
    """A whole WAV file of `text` at the model's own rate, synthesized on a synthesis thread."""

    def render() -> bytes:
        engine = voice_engine(kind, model_path, config_path, settings.TTS_ENGINE_THREADS)
        return wav_bytes(float_to_pcm16(engine.synthesize(text, options)), engine.sample_rate)

    return await synthesis_threads.run(time.time(), render)  # a person is waiting: due now
