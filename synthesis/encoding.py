"""A request's encoder as the event loop uses it: compressed formats are encoded off the loop.

PCM, WAV and G.711 cost microseconds and are encoded in place. An MP3, Opus, AAC or FLAC
encoder takes a few milliseconds to open and may take 10-20 ms on a long sentence, which would
hold up every socket of the process, so it is opened and run in a thread (PyAV lets go of the
GIL while the codec works), one call at a time. It is opened as the request starts, while its
first sentence is being synthesized, so that the first audio does not wait for it. The request
may end while a call runs (a cancel, a deadline, a client gone): the encoder is then closed when
that call returns, never under it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from speech.engine.codecs import COMPRESSED, Encoder, open_encoder


class RequestEncoder:
    """One request's output format, one piece after another; `close()` whenever it ends."""

    def __init__(self, output_format: str, sample_rate: int) -> None:
        self.threaded = output_format in COMPRESSED
        self.encoder: Encoder | None = None
        self.opening: asyncio.Future[Encoder] | None = None
        if self.threaded:
            self.opening = asyncio.ensure_future(
                asyncio.to_thread(open_encoder, output_format, sample_rate)
            )
        else:
            self.encoder = open_encoder(output_format, sample_rate)
        self.busy = False
        self.closed = False

    async def encode(self, pcm16: bytes) -> bytes:
        return await self.run(lambda encoder: encoder.encode(pcm16))

    async def finish(self) -> bytes:
        """What the encoder still holds: the last frame, the container's end."""
        return await self.run(lambda encoder: encoder.finish())

    async def run(self, step: Callable[[Encoder], bytes]) -> bytes:
        if self.closed:
            return b""
        if not self.threaded:
            assert self.encoder is not None
            return step(self.encoder)
        self.busy = True
        try:
            if self.encoder is None:
                assert self.opening is not None
                self.encoder = await asyncio.shield(self.opening)
            encoder = self.encoder
        except BaseException:
            self.call_done()
            raise
        call = asyncio.ensure_future(asyncio.to_thread(step, encoder))
        try:
            # Shielded: if the awaiting task is cancelled, the thread runs on, and the encoder
            # must not be closed under it; it is closed when the call is over.
            result = await asyncio.shield(call)
        except asyncio.CancelledError:
            call.add_done_callback(lambda _call: self.call_done())
            raise
        self.call_done()
        return b"" if self.closed else result

    def call_done(self) -> None:
        self.busy = False
        if self.closed:
            self.free()

    def close(self) -> None:
        """The request has ended: free the encoder now, or when its running call returns."""
        if self.closed:
            return
        self.closed = True
        if not self.busy:  # else the call that runs frees it when it is over
            self.free()

    def free(self) -> None:
        if self.encoder is not None:
            self.encoder.close()
        elif self.opening is not None:
            self.opening.add_done_callback(_close_opened)


def _close_opened(opening: asyncio.Future[Encoder]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()
