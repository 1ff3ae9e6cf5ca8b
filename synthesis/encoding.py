"""A request's encoder as the event loop uses it: compressed formats are encoded off the loop.

PCM, WAV and G.711 cost microseconds and are encoded in place. An MP3, Opus, AAC or FLAC
encoder may take 10-20 ms on a long sentence, which would hold up every socket of the process,
so it runs in a thread (PyAV lets go of the GIL while the codec works), one call at a time.
The request may end while a call runs (a cancel, a deadline, a client gone): the encoder is
then closed when that call returns, never under it.
"""

from __future__ import annotations

import asyncio

from speech.engine.codecs import COMPRESSED, Encoder, open_encoder


class RequestEncoder:
    """One request's output format, one piece after another; `close()` whenever it ends."""

    def __init__(self, output_format: str, sample_rate: int) -> None:
        self.encoder: Encoder = open_encoder(output_format, sample_rate)
        self.threaded = output_format in COMPRESSED
        self.busy = False
        self.closed = False

    async def encode(self, pcm16: bytes) -> bytes:
        return await self.run(self.encoder.encode, pcm16)

    async def finish(self) -> bytes:
        """What the encoder still holds: the last frame, the container's end."""
        return await self.run(self.encoder.finish)

    async def run(self, step: object, *args: bytes) -> bytes:
        if self.closed:
            return b""
        assert callable(step)
        if not self.threaded:
            result: bytes = step(*args)
            return result
        self.busy = True
        try:
            result = await asyncio.to_thread(step, *args)
        finally:
            self.busy = False
            if self.closed:
                self.encoder.close()
        return b"" if self.closed else result

    def close(self) -> None:
        """The request has ended: free the encoder now, or when its running call returns."""
        if self.closed:
            return
        self.closed = True
        if not self.busy:
            self.encoder.close()
