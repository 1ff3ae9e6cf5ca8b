"""Streaming encoders: one request's 16-bit PCM pieces in, the bytes of one audio file out.

The server sends each piece of a request's audio as soon as it is synthesized, so the output
format has to be written as a stream: every `encode()` returns the bytes that are ready (the
container's header with the first), `finish()` returns the rest, and all of them joined in order
are one valid file of the requested format. Nothing is ever rewritten afterwards, since what was
sent is gone: a FLAC stream says its length is unknown, an MP3 or AAC stream has no length field
at all, and an Ogg Opus stream gets its exact length from its last page.

- pcm, wav, ulaw, alaw: as the server has always sent them (speech/engine/audio.py); wav is the
  streaming header, then PCM.
- mp3: MPEG audio frames from LAME, nothing else (no ID3 tag, no Xing frame: both describe the
  whole file, which is not known while it streams). Constant bit rate.
- opus: Opus from libopus in Ogg (RFC 7845), paged here rather than by FFmpeg's Ogg muxer, which
  holds the newest page back until the next one is full: each `encode()` ends its page, so the
  audio the codec has made goes out with it.
- aac: AAC-LC from FFmpeg's own encoder, in ADTS (a 7-byte header on every frame).
- flac: lossless, in the native FLAC container (fLaC, STREAMINFO with an unknown total length,
  frames).

Codec frames are whole numbers of samples (MP3 576 or 1152, AAC 1024, Opus 20 ms, FLAC 21-32 ms
here); PyAV's encoder keeps the partial frame between calls, so pieces may be any length. What
an encoder holds is a frame or two of audio plus the codec's own state, whatever the request's
length. Each encoder serves one request, from one thread at a time; PyAV lets go of the GIL while
the codec works.

When `encode()` returns, all the audio fed so far can be decoded from what it returned but the
frame being filled and the codec's look-ahead: at most 27 ms for Opus, one block (21-32 ms) for
FLAC, about 140 ms for MP3 (LAME's delay and 4 frames; 420 ms at 8000 Hz) and 3 frames for AAC
(128 ms at 24000 Hz, 380 ms at 8000 Hz). MP3 and AAC streams also begin with the encoder's delay
as silence (1105 and 1024 samples), since neither raw format can tell a player to skip it, and
end with the last frame's padding. Opus signals its delay (pre-skip) and its end, so it decodes
to exactly the input's length; FLAC is lossless and exact.
"""

from __future__ import annotations

import secrets
import struct
import zlib
from collections.abc import Callable
from fractions import Fraction
from typing import Protocol

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.audio.stream import AudioStream
from av.container import OutputContainer

from .audio import SAMPLE_RATES, pcm16_to_alaw, pcm16_to_ulaw, streaming_wav_header

FORMATS = ("pcm", "wav", "ulaw", "alaw", "mp3", "opus", "aac", "flac")
COMPRESSED = ("mp3", "opus", "aac", "flac")

# What an HTTP response carrying each format says it is (the types OpenAI-compatible servers
# send). pcm: raw 16-bit little-endian mono at the requested rate; not audio/L16, which is
# big-endian (RFC 2586). opus: Ogg Opus, whose registered type is Ogg's (RFC 7845).
CONTENT_TYPES: dict[str, str] = {
    "pcm": "audio/pcm",
    "wav": "audio/wav",
    "ulaw": "audio/basic",
    "alaw": "audio/x-alaw-basic",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
}

# Bit rates for one voice, by sample rate (the highest listed rate not above it): 64 kb/s MP3
# and 48-64 kb/s AAC for wide-band speech, less where the band is narrow.
MP3_BIT_RATES = {8000: 32_000, 16000: 48_000, 22050: 64_000, 24000: 64_000, 44100: 64_000}
AAC_BIT_RATES = {8000: 24_000, 16000: 32_000, 22050: 48_000, 24000: 48_000, 44100: 64_000}
# FLAC blocks of 20-32 ms rather than the encoder's usual 100 ms: a block goes out when it is
# full, so this is how late audio starts; speech compresses as well or better in them.
FLAC_BLOCK_SIZES = {8000: 256, 16000: 512, 44100: 1024}
OPUS_BIT_RATE = 32_000
# Opus encodes at 8, 12, 16, 24 or 48 kHz; other rates go up to the next one (no band lost).
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


class Encoder(Protocol):
    """One request's audio in one output format, a piece at a time.

    Once finished or closed, a compressed format's encoder refuses more (RuntimeError); the
    sample formats hold no state and keep converting.
    """

    def encode(self, pcm16: bytes) -> bytes:
        """The output bytes ready after this piece of 16-bit little-endian mono PCM; b"" while
        the codec is still filling a frame."""
        ...

    def finish(self) -> bytes:
        """The rest of the stream: the codec's last frames and the container's end. Called once,
        after the last piece; the encoder is closed afterwards."""
        ...

    def close(self) -> None:
        """Free the codec and container without finishing (a cancelled request). Idempotent."""
        ...


def open_encoder(output_format: str, sample_rate: int) -> Encoder:
    """A fresh encoder of `output_format` for audio at `sample_rate`."""
    if output_format not in FORMATS:
        raise ValueError(f"unknown output format {output_format!r}")
    if output_format == "pcm":
        return SampleEncoder(_same)
    if output_format == "wav":
        return SampleEncoder(_same, header=streaming_wav_header(sample_rate))
    if output_format == "ulaw":
        return SampleEncoder(pcm16_to_ulaw)
    if output_format == "alaw":
        return SampleEncoder(pcm16_to_alaw)
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(f"{output_format} is encoded at {SAMPLE_RATES} Hz, not {sample_rate}")
    if output_format == "opus":
        return OggOpusEncoder(sample_rate)
    if output_format == "mp3":
        # The mp3 muxer would start with an ID3 tag; the Xing frame needs a seekable file.
        return MuxedEncoder(
            "mp3",
            "libmp3lame",
            sample_rate,
            _rate_for(MP3_BIT_RATES, sample_rate),
            # LAME's fast mode (-q 7, without its psychoacoustic noise shaping): 3.5 ms per
            # audio second at 24 kHz instead of 6.4, the waveform as close (25 dB SNR).
            codec_options={"compression_level": "7"},
            container_options={"id3v2_version": "0", "write_xing": "0"},
        )
    if output_format == "aac":
        # The "fast" coder: 2.5 ms per audio second at 24 kHz instead of "twoloop"'s 5.7, and
        # closer to this voice's waveform (29 dB SNR instead of 20); its bit rate is looser.
        return MuxedEncoder(
            "adts",
            "aac",
            sample_rate,
            _rate_for(AAC_BIT_RATES, sample_rate),
            codec_options={"aac_coder": "fast"},
        )
    # flac: no padding block (it is there to be filled in later, and nothing is). At the end the
    # muxer would write the final STREAMINFO (length, MD5) over the first; it cannot in a stream,
    # says so in FFmpeg's log (silent unless av.logging is turned on), and those stay unknown.
    return MuxedEncoder(
        "flac",
        "flac",
        sample_rate,
        None,
        codec_options={"frame_size": str(_rate_for(FLAC_BLOCK_SIZES, sample_rate))},
        container_options={"metadata_header_padding": "0"},
    )


def _same(pcm16: bytes) -> bytes:
    return pcm16


def _rate_for(rates: dict[int, int], sample_rate: int) -> int:
    """The bit rate of the highest listed sample rate not above `sample_rate`."""
    return rates[max(rate for rate in rates if rate <= sample_rate)]


class SampleEncoder:
    """Formats that are samples as they come (pcm, ulaw, alaw), optionally after a header (wav):
    the header goes before the first piece, or alone if the request had no audio."""

    def __init__(self, convert: Callable[[bytes], bytes], header: bytes = b"") -> None:
        self._convert = convert
        self._header = header

    def encode(self, pcm16: bytes) -> bytes:
        header, self._header = self._header, b""
        return header + self._convert(pcm16) if header else self._convert(pcm16)

    def finish(self) -> bytes:
        header, self._header = self._header, b""
        return header

    def close(self) -> None:
        self._header = b""


class _Collector:
    """A write-only, unseekable file for PyAV's muxers: it keeps what they write until taken.

    Having no seek() tells FFmpeg the output is a stream: muxers then flush after every packet
    and do not try to go back and patch their headers at the end.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


class _PcmFrames:
    """Turns 16-bit PCM pieces into PyAV frames stamped with their position in the request."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.samples = 0
        self._time_base = Fraction(1, sample_rate)

    def frame(self, pcm16: bytes) -> av.AudioFrame:
        if len(pcm16) % 2:
            raise ValueError("16-bit PCM comes in whole samples (an even number of bytes)")
        samples = np.frombuffer(pcm16, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.time_base = self._time_base
        frame.pts = self.samples
        self.samples += samples.shape[1]
        return frame


class MuxedEncoder:
    """A PyAV encoder and FFmpeg muxer writing to memory (mp3, aac in ADTS, flac).

    PyAV converts each frame to the codec's sample format and cuts it into codec frames, keeping
    the remainder for the next call; the muxer writes every packet as it comes.
    """

    def __init__(
        self,
        container_format: str,
        codec: str,
        sample_rate: int,
        bit_rate: int | None,
        codec_options: dict[str, str] | None = None,
        container_options: dict[str, str] | None = None,
    ) -> None:
        self._output = _Collector()
        self._frames = _PcmFrames(sample_rate)
        self._container: OutputContainer | None = av.open(
            self._output, mode="w", format=container_format, options=container_options or {}
        )
        try:
            stream = self._container.add_stream(codec, rate=sample_rate, options=codec_options)
            assert isinstance(stream, AudioStream)
            stream.layout = "mono"
            if bit_rate is not None:
                stream.bit_rate = bit_rate
            self._stream = stream
            # Opens the codec and writes the container's header (to the collector).
            self._container.start_encoding()
        except BaseException:
            self.close()
            raise

    def encode(self, pcm16: bytes) -> bytes:
        container = self._open()
        if pcm16:
            container.mux(self._stream.encode(self._frames.frame(pcm16)))
        return self._output.take()

    def finish(self) -> bytes:
        container = self._open()
        try:
            container.mux(self._stream.encode(None))
        finally:
            self.close()
        return self._output.take()

    def close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            container.close()

    def _open(self) -> OutputContainer:
        if self._container is None:
            raise RuntimeError("the encoder is finished or closed")
        return self._container


class OggOpusEncoder:
    """Opus from libopus in an Ogg stream paged here (RFC 7845).

    Pages: OpusHead (the codec's header, with its pre-skip), OpusTags, then one page (or more,
    past 255 lacing values or 1 s) per `encode()` call with the packets made by that call, and
    a last page marked end-of-stream. Its granule position is the pre-skip plus the input's
    length, so players drop the padding of the last frame and the stream lasts exactly as long
    as its input. Rates Opus does not take (22050, 44100) are resampled to the next one up.
    """

    PAGE_PACKETS = 50  # 1 s of 20 ms packets: a page per second within a long piece

    def __init__(self, sample_rate: int) -> None:
        self._frames = _PcmFrames(sample_rate)
        self._codec_rate = min(rate for rate in OPUS_RATES if rate >= sample_rate)
        codec = av.CodecContext.create("libopus", "w")
        assert isinstance(codec, AudioCodecContext)
        codec.sample_rate = self._codec_rate
        codec.layout = "mono"
        codec.format = "s16"
        codec.bit_rate = OPUS_BIT_RATE
        codec.options = {
            # "audio" codes the signal as it is; "voip" tunes for a talker at a microphone
            # (high-pass, speech emphasis) and keeps to SILK and hybrid modes, three times the
            # CPU here. The input is clean synthesized speech, and 32 kb/s is plenty for CELT.
            "application": "audio",
            # Complexity 5 instead of 10: a quarter of the CPU (2 ms per audio second). Below 7
            # libopus skips its signal analysis and codes CELT throughout; the band energies
            # stay as close to the input's (about 1 dB) as at 10.
            "compression_level": "5",
            # Bounded VBR: unconstrained, CELT overshoots 32 kb/s by a fifth on speech.
            "vbr": "constrained",
        }
        codec.open()
        self._codec: AudioCodecContext | None = codec
        head = bytes(codec.extradata or b"")
        if head[:8] != b"OpusHead":
            raise RuntimeError("libopus gave no OpusHead")
        self._pre_skip = int.from_bytes(head[10:12], "little")
        self._samples_per_packet = codec.frame_size * 48000 // self._codec_rate
        self._serial = secrets.randbits(32)
        self._sequence = 0
        self._granule = 0  # 48 kHz samples in the packets paged so far
        self._pending = self._page(2, 0, [head]) + self._page(0, 0, [_opus_tags()])

    def encode(self, pcm16: bytes) -> bytes:
        codec = self._open()
        if pcm16:
            packets = [bytes(packet) for packet in codec.encode(self._frames.frame(pcm16))]
            self._pending += self._pages(packets)
        pending, self._pending = self._pending, b""
        return pending

    def finish(self) -> bytes:
        codec = self._open()
        samples = self._frames.samples
        try:
            packets = []
            if not samples:
                # No audio: Ogg Opus needs a packet all the same (players reject a stream of
                # headers alone), so one of silence, which the end position below trims away.
                silence = bytes(2 * max(1, self._frames.sample_rate // 50))
                packets += [bytes(packet) for packet in codec.encode(self._frames.frame(silence))]
            packets += [bytes(packet) for packet in codec.encode(None)]
        finally:
            self.close()
        # The last page: the codec's last packets (the partial frame padded, and the delay),
        # its granule position the pre-skip plus the input's length, at 48 kHz: players drop
        # what the packets hold beyond it.
        end = self._pre_skip + samples * 48000 // self._frames.sample_rate
        paged = self._granule + len(packets) * self._samples_per_packet
        self._pending += self._page(4, max(self._granule, min(end, paged)), packets)
        pending, self._pending = self._pending, b""
        return pending

    def close(self) -> None:
        self._codec = None  # PyAV frees the codec with its last reference

    def _open(self) -> AudioCodecContext:
        if self._codec is None:
            raise RuntimeError("the encoder is finished or closed")
        return self._codec

    def _pages(self, packets: list[bytes]) -> bytes:
        """`packets` as whole-packet pages of at most PAGE_PACKETS packets and 255 lacings."""
        out = []
        page: list[bytes] = []
        lacings = 0
        for packet in packets:
            needed = len(packet) // 255 + 1
            if page and (lacings + needed > 255 or len(page) == self.PAGE_PACKETS):
                out.append(self._page(0, self._granule, page))
                page, lacings = [], 0
            page.append(packet)
            lacings += needed
            self._granule += self._samples_per_packet
        if page:
            out.append(self._page(0, self._granule, page))
        return b"".join(out)

    def _page(self, flags: int, granule: int, packets: list[bytes]) -> bytes:
        page = _ogg_page(flags, granule, self._serial, self._sequence, packets)
        self._sequence += 1
        return page


def _opus_tags() -> bytes:
    vendor = b"libopus (PyAV " + av.__version__.encode() + b")"
    return b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)


def _ogg_page(flags: int, granule: int, serial: int, sequence: int, packets: list[bytes]) -> bytes:
    """One Ogg page holding whole `packets` (flags: 2 first page, 4 last page)."""
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes((len(packet) % 255,))
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = header + bytes(lacing) + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


# Ogg's CRC-32 (polynomial 0x04C11DB7, no reflection, no initial or final inversion) with
# zlib's reflected CRC-32: reversing the bits of each input byte and of the result turns one
# into the other, and both run in C.
_BIT_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def _ogg_crc(data: bytes) -> int:
    reflected = zlib.crc32(data.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)
