"""Streaming encoders (speech/engine/codecs.py), judged by what a listener's decoder makes of
the bytes: FFmpeg's demuxers and decoders through PyAV, with their error checks made fatal.

Real speech from the bundled voice goes in as the server sends it, in pieces of uneven sizes
(tens of milliseconds, then seconds, then a single sample, even nothing); every returned byte
and finish()'s are joined into one stream and decoded.
"""

from __future__ import annotations

import gc
import io
import sys
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import pytest

from speech.engine import SAMPLE_RATES, Engine, SynthesisOptions, float_to_pcm16, resample
from speech.engine.audio import encode as encode_samples
from speech.engine.audio import streaming_wav_header
from speech.engine.codecs import (
    COMPRESSED,
    CONTENT_TYPES,
    FORMATS,
    _ogg_crc,
    open_encoder,
)

TEXT = "Streaming audio should start promptly. And sound right, to the end."
# The pieces' lengths in milliseconds, over and over; 0.01 ms is a single sample.
PIECES_MS = (37.0, 1300.0, 5.0, 0.0, 240.0, 0.01, 700.0, 3.0)

# FFmpeg's names for the container and the codec a player should find.
DECODED_AS = {
    "mp3": ("mp3", "mp3"),
    "opus": ("ogg", "opus"),
    "aac": ("aac", "aac"),  # ADTS, which FFmpeg's demuxer calls aac
    "flac": ("flac", "flac"),
}
# MP3 and AAC streams cannot tell a player to skip the encoder's delay, so it is heard as
# silence before the speech: LAME's 576 + 529 samples, FFmpeg's AAC's one frame. Opus carries
# its delay in the header (pre-skip) and FLAC has none.
LEAD_IN = {"mp3": 1105, "aac": 1024, "opus": 0, "flac": 0}
# Strict decoding: a damaged frame or a checksum mismatch raises instead of being concealed.
STRICT = {"err_detect": "crccheck+bitstream+buffer+explode"}


@pytest.fixture(scope="module")
def speech(engine: Engine) -> dict[int, bytes]:
    """The text said once, as 16-bit PCM at every output rate."""
    samples = engine.synthesize(TEXT, SynthesisOptions())
    return {
        rate: float_to_pcm16(resample(samples, engine.sample_rate, rate)) for rate in SAMPLE_RATES
    }


def pieces(pcm: bytes, rate: int) -> Iterator[bytes]:
    """`pcm` cut as PIECES_MS says, the last piece whatever is left."""
    start = 0
    while start < len(pcm):
        for ms in PIECES_MS:
            count = max(1, round(rate * ms / 1000)) if ms else 0
            yield pcm[start : start + 2 * count]
            start += 2 * count


@dataclass
class Decoded:
    container: str
    codec: str
    sample_rate: int
    samples: np.ndarray  # mono, float in [-1, 1] (int16 for FLAC)


def decode(data: bytes, container: str | None = None) -> Decoded:
    """All of `data`'s audio, decoded strictly (`container` given: no probing, as a player that
    knows the content type)."""
    with av.open(io.BytesIO(data), mode="r", format=container, options=STRICT) as file:
        stream = file.streams.audio[0]
        stream.codec_context.options = dict(STRICT)
        frames = [frame.to_ndarray().reshape(-1) for frame in file.decode(stream)]
        context = stream.codec_context
        return Decoded(
            file.format.name,
            context.codec.canonical_name,
            context.sample_rate,
            np.concatenate(frames) if frames else np.zeros(0, dtype=np.float32),
        )


def envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    """The RMS of each 20 ms."""
    window = rate // 50
    frames = samples[: samples.size // window * window].astype(np.float64).reshape(-1, window)
    return np.sqrt(np.mean(np.square(frames), axis=1))


def test_every_format_has_its_content_type():
    assert set(CONTENT_TYPES) == set(FORMATS) and set(COMPRESSED) < set(FORMATS)
    assert CONTENT_TYPES["mp3"] == "audio/mpeg" and CONTENT_TYPES["opus"] == "audio/ogg"


@pytest.mark.parametrize("rate", [8000, 22050, 24000, 48000])
@pytest.mark.parametrize("output_format", ["pcm", "wav", "ulaw", "alaw"])
def test_sample_formats_go_out_as_the_server_has_always_sent_them(speech, output_format, rate):
    # The server sent each piece as audio.encode() made it, the first WAV one after the header.
    encoder = open_encoder(output_format, rate)
    sent = []
    for number, piece in enumerate(pieces(speech[rate], rate)):
        header = streaming_wav_header(rate) if output_format == "wav" and number == 0 else b""
        sent.append(encoder.encode(piece))
        assert sent[-1] == header + encode_samples(piece, output_format)
    assert encoder.finish() == b""
    if output_format == "wav":
        with wave.open(io.BytesIO(b"".join(sent))) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, rate)
            assert wav.readframes(10**9) == speech[rate]


@pytest.mark.parametrize("rate", SAMPLE_RATES)
@pytest.mark.parametrize("output_format", COMPRESSED)
def test_the_pieces_join_into_one_stream_of_the_same_speech(speech, output_format, rate):
    pcm = speech[rate]
    encoder = open_encoder(output_format, rate)
    stream = b"".join(encoder.encode(piece) for piece in pieces(pcm, rate)) + encoder.finish()

    decoded = decode(stream)
    assert (decoded.container, decoded.codec) == DECODED_AS[output_format]
    sent = np.frombuffer(pcm, dtype="<i2")
    if output_format == "flac":
        # Lossless, and as long as the input although its header could not say how long.
        assert decoded.sample_rate == rate
        assert np.array_equal(decoded.samples, sent)
        return

    heard = decoded.samples.astype(np.float32)
    if output_format == "opus":
        # Opus decodes at 48 kHz, trimmed by the pre-skip and the last page's position to
        # exactly the input's length.
        assert decoded.sample_rate == 48000
        assert heard.size == sent.size * 48000 // rate
        heard = resample(heard, 48000, rate)
    else:
        # As long as the input, plus the encoder's delay in front and the padding of the last
        # frame (two at most for LAME, one for AAC: 1024 samples) behind, which nothing in these
        # formats can mark: up to 282 ms more at 8000 Hz (MP3), 71 ms at 48000 Hz.
        assert decoded.sample_rate == rate
        frame = 1024 if output_format == "aac" else (1152 if rate >= 32000 else 576)
        padding = heard.size - sent.size - LEAD_IN[output_format]
        assert 0 <= padding < (1 if output_format == "aac" else 2) * frame
    heard = heard[LEAD_IN[output_format] :][: sent.size]
    reference = sent[: heard.size] / 32768.0
    assert heard.size >= sent.size - 1  # the resampled Opus may come out a sample short

    # The same speech, in time: the loudness contours match, and the waveform's signal-to-noise
    # ratio is above 10 dB (these codecs keep 16-33 dB on this voice; the same speech half a
    # millisecond off has -3 dB, and garbled audio about 0).
    assert np.corrcoef(envelope(reference, rate), envelope(heard, rate))[0, 1] > 0.99
    noise = np.sum(np.square(heard - reference))
    assert 10 * np.log10(np.sum(np.square(reference)) / noise) > 10


# How much of the input, at most, a listener cannot hear yet when encode() returns: a codec
# frame being filled plus the codec's look-ahead (LAME needs its 1105-sample delay and about 4
# frames, AAC 3 frames of 1024, Opus 20 ms and its 6.5 ms pre-skip, FLAC one block). In ms.
MOST_HELD_BACK_MS = {
    24000: {"mp3": 160, "aac": 140, "opus": 30, "flac": 25},
    8000: {"mp3": 450, "aac": 400, "opus": 30, "flac": 35},
}


@pytest.mark.parametrize("rate", [24000, 8000])
@pytest.mark.parametrize("output_format", COMPRESSED)
def test_audio_goes_out_as_it_comes_in(speech, output_format, rate):
    encoder = open_encoder(output_format, rate)
    container = DECODED_AS[output_format][0]
    sent = b""
    fed = 0
    for piece in pieces(speech[rate], rate):
        sent += encoder.encode(piece)
        fed += len(piece) // 2
        audible = -LEAD_IN[output_format]
        if sent:
            decoded = decode(sent, container)
            audible += decoded.samples.size * rate // decoded.sample_rate
        held_back_ms = (fed - audible) * 1000 / rate
        assert held_back_ms <= MOST_HELD_BACK_MS[rate][output_format], (fed, audible)
    encoder.close()


@pytest.mark.parametrize("output_format", FORMATS)
def test_a_request_without_audio_ends_in_a_valid_stream(output_format):
    stream = open_encoder(output_format, 22050).finish()
    if output_format in ("mp3", "aac"):
        assert stream == b""  # a stream of no frames
    elif output_format in ("opus", "flac"):
        decoded = decode(stream)
        assert decoded.container == DECODED_AS[output_format][0] and decoded.samples.size == 0
    else:
        assert stream == (streaming_wav_header(22050) if output_format == "wav" else b"")


@pytest.mark.parametrize("output_format", COMPRESSED)
def test_a_dropped_or_closed_encoder_cleans_up_quietly(speech, output_format, monkeypatch):
    # What goes wrong while an object is freed is only reported, through this hook.
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    dropped = open_encoder(output_format, 24000)
    dropped.encode(speech[24000][:9600])
    del dropped
    closed = open_encoder(output_format, 24000)
    closed.encode(speech[24000][:9600])
    closed.close()
    closed.close()
    gc.collect()
    assert unraisable == []
    with pytest.raises(RuntimeError):
        closed.encode(speech[24000][:9600])
    with pytest.raises(RuntimeError):
        closed.finish()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown output format"):
        open_encoder("ogg", 24000)
    with pytest.raises(ValueError, match="11025"):
        open_encoder("opus", 11025)
    with pytest.raises(ValueError, match="whole samples"):
        open_encoder("mp3", 24000).encode(b"\x00\x01\x02")


def ogg_pages(stream: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """Each page's (header type, granule position, sequence number, whole page)."""
    start = 0
    while start < len(stream):
        assert stream[start : start + 5] == b"OggS\x00"
        lacing = stream[start + 27 : start + 27 + stream[start + 26]]
        end = start + 27 + len(lacing) + sum(lacing)
        page = stream[start:end]
        granule = int.from_bytes(page[6:14], "little", signed=True)
        yield page[5], granule, int.from_bytes(page[18:22], "little"), page
        start = end


def test_ogg_pages_carry_ffmpegs_checksums():
    # Pages written by FFmpeg's own Ogg muxer check out with the encoder's CRC.
    class Sink:
        data = b""

        def write(self, data: bytes) -> int:
            self.data += bytes(data)
            return len(data)

    sink = Sink()
    with av.open(sink, mode="w", format="ogg") as muxer:
        stream = muxer.add_stream("libopus", rate=48000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), dtype=np.int16), layout="mono")
        frame.sample_rate = 48000
        muxer.mux(stream.encode(frame))
        muxer.mux(stream.encode(None))
    pages = [page for _, _, _, page in ogg_pages(sink.data)]
    assert len(pages) >= 3
    for page in pages:
        assert _ogg_crc(page[:22] + bytes(4) + page[26:]) == int.from_bytes(page[22:26], "little")


def test_an_ogg_opus_stream_is_paged_by_the_rules(speech):
    encoder = open_encoder("opus", 24000)
    stream = b"".join(encoder.encode(piece) for piece in pieces(speech[24000], 24000))
    stream += encoder.finish()
    pages = list(ogg_pages(stream))
    # First page: the OpusHead alone, beginning the stream; then the OpusTags; the last page
    # ends it; pages numbered in order, positions never going back.
    assert pages[0][0] == 2 and pages[0][3][28:36] == b"OpusHead"
    assert pages[1][3][28:36] == b"OpusTags" and pages[1][1] == 0
    assert [flags for flags, _, _, _ in pages[1:-1]] == [0] * (len(pages) - 2)
    assert pages[-1][0] == 4
    assert [number for _, _, number, _ in pages] == list(range(len(pages)))
    granules = [granule for _, granule, _, _ in pages]
    assert granules == sorted(granules)
    pre_skip = int.from_bytes(pages[0][3][38:40], "little")
    assert granules[-1] == pre_skip + len(speech[24000]) // 2 * 2  # 48 kHz counts
