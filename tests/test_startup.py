"""A web process starts its background work when it is served, not when it is imported:
`manage.py serve` loads the voices while it already accepts connections, and drains on
SIGTERM (sockets and speech streamed over HTTP); importing the application (as tests and
management commands do) starts nothing."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import websockets

from .conftest import BUNDLED_CONFIG, BUNDLED_MODEL
from .servers import (
    ROOT,
    Deployment,
    collected_static,
    free_port,
    speak_through_sigterm,
    wait_for,
    wait_for_port,
)

IMPORT_EVERYTHING = """
import json, signal, threading
import ttsproject.asgi, ttsproject.server
import synthesis.consumers, synthesis.health, synthesis.workers
import synthesis.management.commands.serve, synthesis.management.commands.synthesis_worker
from daphne.ws_protocol import WebSocketProtocol
print(json.dumps({
    "threads": [thread.name for thread in threading.enumerate()],
    "drain signal handled": signal.getsignal(signal.SIGUSR1) is not signal.SIG_DFL,
    "close with 1001 patched": hasattr(WebSocketProtocol.serverClose, "__wrapped__"),
}))
"""


def environment(data_dir: Path) -> dict[str, str]:
    """The product's settings in a fresh DATA_DIR: no Redis, voices preloaded, no keys."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TTS_") and k != "REDIS_URL"},
        "DJANGO_SETTINGS_MODULE": "ttsproject.settings",
        "DATA_DIR": str(data_dir),
        "TTS_PRELOAD_VOICES": "true",
        "TTS_REQUIRE_API_KEY": "false",
    }


def test_importing_the_application_and_the_commands_starts_nothing(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        cwd=ROOT,
        env=environment(tmp_path),
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(run.stdout.splitlines()[-1]) == {
        "threads": ["MainThread"],
        "drain signal handled": False,
        "close with 1001 patched": False,
    }


def damaged_second_voice(folder: Path) -> Path:
    """A copy of the bundled voice as `joe2`, damaged inside: only loading it tells."""
    folder.mkdir()
    model = folder / "en_US-joe2-medium.onnx"
    shutil.copyfile(BUNDLED_MODEL, model)
    shutil.copyfile(BUNDLED_CONFIG, folder / "en_US-joe2-medium.onnx.json")
    return model


@pytest.mark.e2e
def test_serve_preloads_the_voices_and_drains_on_sigterm_closing_with_1001(tmp_path):
    env = {**environment(tmp_path / "data"), "STATIC_ROOT": str(collected_static())}
    voices = tmp_path / "voices"
    model = damaged_second_voice(voices)
    for command in (["migrate", "-v0"], ["import_voices", "--dir", str(voices)]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    with open(model, "r+b") as damaged:
        damaged.write(b"\0" * 4096)

    port = free_port()
    command = [sys.executable, "manage.py", "serve", "--port", str(port)]
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
    try:
        wait_for_port(port, serve)
        running = Deployment(port, env, tmp_path, [])
        # No request has asked for joe2: only preloading it finds that it does not load.
        degraded = "degraded: 1 of 2 enabled voices unavailable: joe2"
        assert wait_for(lambda: running.get("/readyz")[1]["checks"]["voices"] == degraded, 60), (
            running.get("/readyz")
        )
        # Once it listens, it says where the demo is and what to do first.
        printed = (tmp_path / "serve.log").read_text()
        assert f"Demo page      http://127.0.0.1:{port}/" in printed
        assert "createsuperuser" in printed  # there is no admin user yet

        text = " ".join(f"Sentence {n} of a reply still being spoken." for n in range(6))
        streaming = threading.Event()

        def speak_over_http() -> bytes:
            """Twice the text as OpenAI's client asks for it; it streams on past the socket's."""
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            body = {"model": "tts-1", "input": f"{text} {text}", "voice": "joe"}
            connection.request(
                "POST",
                "/v1/audio/speech",
                json.dumps({**body, "response_format": "pcm"}),
                {"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            assert response.status == 200, response.read()
            audio = response.read(4800)
            streaming.set()
            return audio + response.read()  # IncompleteRead if it is cut off

        async def speak_through_shutdown() -> tuple[list[dict], int | None, int, bytes]:
            over_http = asyncio.ensure_future(asyncio.to_thread(speak_over_http))
            assert await asyncio.to_thread(streaming.wait, 30)
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/tts/") as ws:
                said = await speak_through_sigterm(serve, running, ws, text)
            return (*said, await over_http)

        messages, close_code, ready, pcm = asyncio.run(speak_through_shutdown())
        assert ready == 503
        assert messages[-1]["status"] == "complete", messages[-1]
        assert close_code == 1001
        # The speech streamed over HTTP was written to its end before the process stopped.
        heard = len(pcm) / 2 / 24000
        assert heard == pytest.approx(2 * messages[-1]["data"]["audio_seconds"], rel=0.15)
        assert serve.wait(timeout=40) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):  # serve and Daphne, if still running
            os.killpg(serve.pid, signal.SIGKILL)
        serve.wait()
