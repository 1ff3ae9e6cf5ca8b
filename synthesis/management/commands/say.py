"""`manage.py say`: speak text into a WAV file, with no server and no client to write.

    python manage.py say "Hello there." [-o say.wav] [--voice joe] [--speed 1.0]

The text goes the way a request's goes (the voice lookup, text normalization, chunking, the
synthesis workers), so the file sounds as a client would hear it. It is all done here, in this
process, with REDIS_URL too: no server or worker needs to be running.
"""

from __future__ import annotations

import asyncio
import logging
import time
import wave
from pathlib import Path
from typing import Any

from channels.layers import InMemoryChannelLayer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from access import guard
from protocol import ClientError
from synthesis.embedded import serve_worker_channel
from synthesis.events import Audio, Complete, Failed
from synthesis.http_session import HttpSpeech
from voices.models import Voice

SAMPLE_RATE = 24000


class Command(BaseCommand):
    help = "Speak TEXT into a WAV file with one of this server's voices."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("text", nargs="+", help="what to say (several words are joined)")
        parser.add_argument("-o", "--output", default="say.wav", help="the WAV file to write")
        parser.add_argument(
            "--voice", help="a voice id (default: the first voice imported that is enabled)"
        )
        parser.add_argument("--speed", type=float, default=1.0, help="0.5 to 2.0")

    def handle(self, *args: Any, **options: Any) -> None:
        quiet = options["verbosity"] < 2
        if quiet:
            # The server's own lines (workers started, the request's line) are not news here.
            logging.disable(logging.INFO)
        try:
            self.say(" ".join(options["text"]), options)
        finally:
            if quiet:
                logging.disable(logging.NOTSET)

    def say(self, text: str, options: dict[str, Any]) -> None:
        voice = options["voice"] or first_voice()
        started = time.monotonic()
        pcm = asyncio.run(speak(text, voice, options["speed"]))
        output = Path(options["output"])
        with wave.open(str(output), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(pcm)
        seconds = len(pcm) / 2 / SAMPLE_RATE
        self.stdout.write(
            f"Wrote {output}: {seconds:.2f} s of speech by {voice}, made in "
            f"{time.monotonic() - started:.1f} s (loading the voice included)."
        )


def first_voice() -> str:
    voice = Voice.objects.filter(enabled=True).order_by("pk").first()
    if voice is None:
        raise CommandError(
            "There is no enabled voice: run `python manage.py import_voices` (make run does)."
        )
    return voice.voice_id


async def speak(text: str, voice: str, speed: float) -> bytes:
    """The 16-bit PCM of `text` at SAMPLE_RATE, or CommandError saying why there is none."""
    # A channel layer and workers of its own, here, whatever CHANNEL_LAYERS says: the command
    # needs no running server or worker, and leaves the process's own layer alone.
    layer = InMemoryChannelLayer()
    workers = asyncio.create_task(serve_worker_channel(layer, settings.TTS_WORKER_CAPACITY))
    try:
        return await speak_through(layer, text, voice, speed)
    finally:
        workers.cancel()
        await asyncio.gather(workers, return_exceptions=True)


async def speak_through(layer: InMemoryChannelLayer, text: str, voice: str, speed: float) -> bytes:
    reply = await layer.new_channel()
    # The operator's own request, from this machine's shell: no key to check.
    speech = HttpSpeech.of(guard.request_client(reply), layer, reply)
    fields = {
        "text": text,
        "voice_id": voice,
        "speed": speed,
        "sample_rate": SAMPLE_RATE,
        "output_format": "pcm",
    }
    pcm = bytearray()
    try:
        await speech.start(fields)
        async for event in speech.events():
            if isinstance(event, Audio):
                pcm += event.audio
            elif isinstance(event, Failed):
                raise CommandError(f"{event.error.code}: {event.error.message}")
            elif event.final and not isinstance(event, Complete):
                raise CommandError(f"The request ended before its audio did: {event}")
    except ClientError as error:
        raise CommandError(f"{error.code}: {error.message}") from None
    finally:
        await speech.close()
    return bytes(pcm)
