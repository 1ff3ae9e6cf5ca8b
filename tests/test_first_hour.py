"""A new user's first hour: the README's client example, `manage.py say`, and refusals that say
what to fix, in the message and in the close frame."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import soxr
import websockets
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command

from .clients import assert_speaks, recognized
from .servers import ROOT, Deployment

README = ROOT / "README.md"


def readme_websocket_example() -> str:
    """The Python the README's WebSocket example runs, as the README has it."""
    [example] = re.findall(r"\.venv/bin/python - <<'EOF'\n(.*?)\nEOF\n", README.read_text(), re.S)
    return example


def run_example(server: Deployment, key: str, folder: Path, code: str | None = None) -> tuple:
    """Run the example (or `code`) as a user would: in `folder`, with the URL and key in the
    environment. Returns its exit status, its error output and the file it wrote, if any."""
    env = {**os.environ, "TTS_URL": f"ws://127.0.0.1:{server.port}", "TTS_API_KEY": key}
    done = subprocess.run(
        [sys.executable, "-c", code or readme_websocket_example()],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    written = folder / "hello.wav"
    return done.returncode, done.stderr, written if written.exists() else None


def words_in_wav(path: Path | io.BytesIO) -> list[str]:
    with wave.open(path if isinstance(path, io.BytesIO) else str(path)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (24000, 2, 1)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert samples.size > 24000, "less than a second of audio"
    return recognized(soxr.resample(samples, 24000, 16000))


@pytest.mark.e2e
def test_the_readme_example_speaks_on_any_port_with_the_key_from_the_environment(
    keyed_server, tmp_path
):
    status, errors, written = run_example(keyed_server, keyed_server.api_key, tmp_path)
    assert status == 0, errors
    assert written is not None
    heard = words_in_wav(written)
    assert {"this", "your", "own"} <= set(heard), heard


@pytest.mark.e2e
def test_the_readme_example_fails_loudly_with_a_wrong_voice_or_the_placeholder_key(
    keyed_server, tmp_path
):
    wrong_voice = readme_websocket_example().replace('"voice_id": "joe"', '"voice_id": "Joe"')
    status, errors, written = run_example(keyed_server, keyed_server.api_key, tmp_path, wrong_voice)
    assert status != 0 and written is None
    assert "voice_not_found" in errors and "did you mean 'joe'?" in errors

    status, errors, written = run_example(keyed_server, "tts_...", tmp_path)
    assert status != 0 and written is None
    assert "4401" in errors and "placeholder" in errors


@pytest.mark.e2e
def test_a_refused_socket_closes_with_a_reason_a_plain_client_can_print(keyed_server):
    async def refused_without_a_key() -> websockets.frames.Close:
        async with keyed_server.websocket() as socket:
            await socket.recv()  # the error message
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await socket.recv()
            assert closed.value.rcvd is not None
            return closed.value.rcvd

    close = asyncio.run(refused_without_a_key())
    assert close.code == 4401
    assert close.reason.startswith("An API key is required: send the header Authorization")
    assert len(close.reason.encode()) <= 123


@pytest.mark.django_db(transaction=True)
def test_say_writes_the_text_spoken_to_a_wav_file(tmp_path):
    output = tmp_path / "hello.wav"
    printed = io.StringIO()
    call_command("say", "Hello there,", "this is your own speech server.", "-o", output,
                 stdout=printed)  # fmt: skip
    assert printed.getvalue().startswith(f"Wrote {output}: ")
    heard = words_in_wav(output)
    assert {"this", "your", "own"} <= set(heard), heard


@pytest.mark.django_db(transaction=True)
def test_say_with_a_voice_that_does_not_exist_says_which_would(tmp_path):
    output = tmp_path / "nothing.wav"
    with pytest.raises(CommandError, match="did you mean 'joe'"):
        call_command("say", "Hello.", "--voice", "Joe", "-o", output)
    assert not output.exists()


@pytest.mark.django_db(transaction=True)
async def test_say_leaves_this_processs_own_channel_layer_and_workers_alone(connect):
    """`say` runs on an event loop of its own. Had it started workers on this process's layer,
    a second listener on the worker channel, the in-memory layer would have lost track of the
    first one's, and this process's sockets would get no audio."""
    socket = await connect()
    await assert_speaks(socket)
    await sync_to_async(call_command)("say", "Hello.", "-o", "/dev/null", stdout=io.StringIO())
    await assert_speaks(socket)
