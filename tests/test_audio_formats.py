"""Output formats, checked against decoders this project did not write.

The reference G.711 codec is the standard library's `audioop` (C, from the ITU-T reference
code; deprecated, but present in Python 3.11), and `wave` reads the WAV stream.
"""

from __future__ import annotations

import base64
import io
import warnings
import wave

import av
import numpy as np
import pytest

from speech.engine.audio import pcm16_to_alaw, pcm16_to_ulaw
from voices.models import Voice

from .clients import speak

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

EVERY_SAMPLE = np.arange(-32768, 32768, dtype="<i2").tobytes()
TEXT = "Formats for phone lines and files."


def test_mu_law_matches_the_reference_encoder_for_every_sample():
    assert pcm16_to_ulaw(EVERY_SAMPLE) == audioop.lin2ulaw(EVERY_SAMPLE, 2)


def test_a_law_matches_the_reference_encoder_for_every_sample():
    assert pcm16_to_alaw(EVERY_SAMPLE) == audioop.lin2alaw(EVERY_SAMPLE, 2)


async def request_audio(socket, **fields) -> tuple[bytes, dict]:
    messages = await speak(socket, TEXT, **fields)
    assert messages[-1]["status"] == "complete", messages[-1]
    audio = b"".join(base64.b64decode(m["data"]["audio"]) for m in messages[:-1])
    assert {m["data"]["format"] for m in messages[:-1]} == {fields["output_format"]}
    return audio, messages[-1]


@pytest.mark.parametrize("rate", [8000, 48000])
@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
async def test_g711_streams_decode_to_the_same_speech_as_pcm(connect, rate, codec):
    # Without Piper's noise the voice says the text the same way every time, so the two
    # requests can be compared sample by sample.
    await Voice.objects.filter(voice_id="joe").aupdate(noise_scale=0, noise_width=0)
    socket = await connect()
    pcm, _ = await request_audio(socket, output_format="pcm", sample_rate=rate)
    encoded, complete = await request_audio(socket, output_format=codec, sample_rate=rate)

    decode = audioop.ulaw2lin if codec == "ulaw" else audioop.alaw2lin
    decoded = np.frombuffer(decode(encoded, 2), dtype="<i2").astype(np.float64)
    reference = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert len(encoded) / rate == pytest.approx(complete["data"]["audio_seconds"], abs=0.001)
    assert len(decoded) == len(reference)
    # G.711 keeps about 38 dB of signal over its quantization noise on speech.
    noise = np.sqrt(np.mean((decoded - reference) ** 2))
    assert 20 * np.log10(np.sqrt(np.mean(reference**2)) / noise) > 30


@pytest.mark.parametrize("rate", [8000, 48000])
async def test_wav_chunks_join_into_one_wav_stream(connect, rate):
    socket = await connect()
    audio, complete = await request_audio(socket, output_format="wav", sample_rate=rate)
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, rate)
        # The length was not known when the header was sent, so the stream is read to its end.
        frames = wav.readframes(10**9)
    assert len(frames) == len(audio) - 44
    assert len(frames) / 2 / rate == pytest.approx(complete["data"]["audio_seconds"], abs=0.001)
    assert 1.5 < len(frames) / 2 / rate < 4.0


@pytest.mark.parametrize(
    ("output_format", "codec", "padding"),
    # MP3 and AAC cannot say where their encoder's delay and last frame's padding are, so
    # their decoded audio is longer by up to that; Opus and FLAC decode to the exact length.
    [("mp3", "mp3float", 0.2), ("opus", "opus", 0.0), ("aac", "aac", 0.2), ("flac", "flac", 0.0)],
)
async def test_compressed_chunks_join_into_one_file_of_the_whole_speech(
    connect, output_format, codec, padding
):
    socket = await connect()
    messages = await speak(
        socket,
        "Compressed audio streams too. Each piece is sent as soon as it is made.",
        output_format=output_format,
        sample_rate=24000,
    )
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert len(chunks) >= 2  # streamed, not held back until the end
    assert {chunk["data"]["format"] for chunk in chunks} == {output_format}
    assert [chunk["data"]["sequence"] for chunk in chunks] == list(range(len(chunks)))
    audio = b"".join(base64.b64decode(chunk["data"]["audio"]) for chunk in chunks)
    with av.open(io.BytesIO(audio), mode="r") as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == codec
        samples = sum(frame.samples for frame in container.decode(stream))
        seconds = samples / stream.codec_context.sample_rate
    spoken = messages[-1]["data"]["audio_seconds"]
    assert spoken - 0.001 <= seconds <= spoken + padding + 0.001


async def test_a_cancelled_compressed_request_frees_its_encoder_and_the_socket_goes_on(connect):
    socket = await connect()
    long_text = "This answer is long, and it is cancelled before it ends. " * 8
    await socket.send_json_to(
        {"text": long_text, "voice_id": "joe", "request_id": "long", "output_format": "mp3"}
    )
    assert (await socket.receive_json_from(timeout=10))["status"] == "chunk"
    await socket.send_json_to({"type": "cancel", "request_id": "long"})
    while (message := await socket.receive_json_from(timeout=10))["status"] == "chunk":
        pass
    assert message == {"status": "cancelled", "request_id": "long"}
    audio, _complete = await request_audio(socket, output_format="mp3")
    with av.open(io.BytesIO(audio), mode="r") as container:
        assert sum(frame.samples for frame in container.decode(audio=0)) > 24000
