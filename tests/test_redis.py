"""Scale-out mode for real: Daphne and `runworker tts-synthesize` as processes sharing Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import websockets

from .conftest import require_service

ROOT = Path(__file__).resolve().parent.parent
# A database of its own, so the test never meets a developer's server on the same Redis.
REDIS_URL = "redis://127.0.0.1:6379/15"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited early"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


@dataclass
class Deployment:
    port: int
    env: dict[str, str]

    def manage(self, *arguments: str) -> None:
        """Run a management command as another process of the deployment would."""
        command = [sys.executable, "manage.py", *arguments]
        subprocess.run(command, cwd=ROOT, env=self.env, check=True, capture_output=True)

    def speak(self, text: str, **fields: object) -> list[dict]:
        async def exchange() -> list[dict]:
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws/tts/") as ws:
                messages: list[dict] = []
                await ws.send(json.dumps({"text": text, "voice_id": "joe", **fields}))
                while not messages or messages[-1]["status"] == "chunk":
                    messages.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
                return messages

        return asyncio.run(exchange())


@pytest.fixture(scope="module")
def redis_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One Daphne without workers and one `runworker` process, on Redis."""
    require_service("Redis", 6379)
    redis.Redis.from_url(REDIS_URL).flushdb()
    tmp_path = tmp_path_factory.mktemp("deployment")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TTS_")},
        "DJANGO_SETTINGS_MODULE": "ttsproject.settings",
        "DATA_DIR": str(tmp_path),
        "REDIS_URL": REDIS_URL,
    }
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    daphne = [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]

    def start(*command: str, log: str) -> subprocess.Popen:
        with open(tmp_path / log, "wb") as output:
            return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)

    processes = [
        start(python, "manage.py", "runworker", "tts-synthesize", log="worker.log"),
        start(*daphne, "ttsproject.asgi:application", log="daphne.log"),
    ]
    try:
        wait_for_port(port, processes[1])
        yield Deployment(port, env)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def test_a_runworker_process_serves_requests_through_redis(redis_deployment):
    # 48 kHz makes the audio of this sentence larger than one layer message may be.
    text = "Scaling out works when the workers listen on Redis, far from the sockets. " * 2
    messages = redis_deployment.speak(text, sample_rate=48000)
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))
    audio = b"".join(base64.b64decode(m["data"]["audio"]) for m in chunks)
    seconds = len(audio) / 2 / 48000
    assert 6 < seconds < 14
    assert messages[-1]["data"]["audio_seconds"] == pytest.approx(seconds, abs=0.001)


def test_a_voice_edited_in_another_process_reaches_the_next_request(redis_deployment):
    text = "An operator changes the voice while the server keeps running."
    before = redis_deployment.speak(text)[-1]["data"]["audio_seconds"]  # now cached in Redis
    edit = "from voices.models import Voice; v = Voice.objects.get(voice_id='joe'); "
    redis_deployment.manage("shell", "-c", edit + "v.default_speed = 1.6; v.save()")
    try:
        after = redis_deployment.speak(text)[-1]["data"]["audio_seconds"]
    finally:
        redis_deployment.manage("shell", "-c", edit + "v.default_speed = 1.0; v.save()")
    assert after < before * 0.8
