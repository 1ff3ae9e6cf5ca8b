"""Real servers for end-to-end tests: Daphne (and workers) as separate processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets

from ttsproject import server

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Deployment:
    port: int
    env: dict[str, str]
    data_dir: Path
    workers: list[subprocess.Popen]
    # Sent by speak() unless it is given another.
    api_key: str | None = None
    server: subprocess.Popen | None = None  # the Daphne process

    def rss_mb(self, peak: bool = False) -> float:
        """Daphne's resident memory now (or its peak so far), in MB."""
        assert self.server is not None
        field = "VmHWM" if peak else "VmRSS"
        for line in Path(f"/proc/{self.server.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no {field} for the server")

    def start_worker(self) -> subprocess.Popen:
        """Start one more `synthesis_worker` process; it is stopped with the rest."""
        with open(self.data_dir / f"worker{len(self.workers)}.log", "wb") as output:
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "synthesis_worker"],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=output,
            )
        self.workers.append(worker)
        return worker

    def log(self) -> str:
        """What Daphne has logged so far."""
        return (self.data_dir / "daphne.log").read_text(errors="replace")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, dict]:
        """GET a JSON endpoint; returns the status and the decoded body."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def manage(self, *arguments: str, **env: str) -> str:
        """Run a management command as another process of the deployment would; its output."""
        command = [sys.executable, "manage.py", *arguments]
        return subprocess.run(
            command,
            cwd=ROOT,
            env={**self.env, **env},
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def create_superuser(self, username: str, password: str) -> None:
        """A staff superuser with this password, made as an operator would."""
        self.manage(
            "createsuperuser",
            "--noinput",
            "--username",
            username,
            "--email",
            f"{username}@example.com",
            DJANGO_SUPERUSER_PASSWORD=password,
        )

    def speak(self, text: str, key: str | None = None, **fields: object) -> list[dict]:
        """Send one request over a real WebSocket (with `key` as its API key, if given);
        return its messages up to the last."""
        key = key or self.api_key
        headers = {"Authorization": f"Bearer {key}"} if key else None

        async def exchange() -> list[dict]:
            url = f"ws://127.0.0.1:{self.port}/ws/tts/"
            async with websockets.connect(url, additional_headers=headers) as ws:
                return await speak_on(ws, text, fields)

        return asyncio.run(exchange())


async def speak_on(
    ws: Any,
    text: str,
    fields: dict[str, object] | None = None,
    *,
    after_first: Callable[[], Awaitable[None]] | None = None,
    timeout: float = 60,
) -> list[dict]:
    """Send one request on an open WebSocket; return its messages up to the last.

    `after_first` is awaited once the first message has arrived, with the request under way.
    """
    await ws.send(json.dumps({"text": text, "voice_id": "joe", **(fields or {})}))
    messages = [json.loads(await asyncio.wait_for(ws.recv(), timeout))]
    if after_first is not None:
        await after_first()
    while messages[-1]["status"] == "chunk":
        messages.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    return messages


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll `condition` until it holds or `seconds` pass; its last answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


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


@contextlib.contextmanager
def deployment(
    data_dir: Path,
    workers: int = 0,
    warm_up: bool = True,
    address_space: int | None = None,
    **settings: str,
) -> Iterator[Deployment]:
    """Migrate a fresh database in `data_dir`, start Daphne and `workers` worker processes.

    With `warm_up`, one request is spoken before the deployment is handed over. With
    `address_space` (bytes), Daphne runs under that limit, so that a test that makes it grow
    fails instead of exhausting the machine.
    """
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TTS_")},
        "DJANGO_SETTINGS_MODULE": "ttsproject.settings",
        "DATA_DIR": str(data_dir),
        # Tests of access control turn keys on (TTS_REQUIRE_API_KEY="true").
        "TTS_REQUIRE_API_KEY": "false",
        **settings,
    }
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()

    def start(*command: str, log: str) -> subprocess.Popen:
        with open(data_dir / log, "wb") as output:
            return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)

    # Daphne as `manage.py serve` runs it.
    limit = ["prlimit", f"--as={address_space}", "--"] if address_space else []
    daphne = start(*limit, *server.command("127.0.0.1", port), log="daphne.log")
    running = Deployment(port, env, data_dir, [], server=daphne)
    for _ in range(workers):
        running.start_worker()
    try:
        wait_for_port(port, daphne)
        if warm_up:
            # Once the voices are loaded and warm, as on a server that has been up for a while;
            # the tests measure steady behaviour, not the start-up.
            spoken = running.speak("Warming up, both the first chunk and the ones after it.")
            assert spoken[-1]["status"] == "complete"
        yield running
    finally:
        processes = [daphne, *running.workers]
        for process in processes:
            process.terminate()
        for process in processes:
            # Daphne gives each application instance 10 s to finish; with Redis a consumer
            # sometimes hangs while channels-redis cancels its receive, and is then killed.
            process.wait(timeout=20)
