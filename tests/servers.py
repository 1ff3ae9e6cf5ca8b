"""Real servers for end-to-end tests and benchmarks: Daphne (and workers) as separate processes.

bench/ starts its throwaway servers with `deployment()` too, so that tests and benchmarks
measure the server as `manage.py serve` runs it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from ttsproject import server

from .clients import speak

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Deployment:
    port: int
    env: dict[str, str]
    data_dir: Path
    workers: list[subprocess.Popen]
    # Sent by speak() unless it is given another.
    api_key: str | None = None
    server: subprocess.Popen | None = None  # Daphne, or `manage.py serve`
    log_name: str = "daphne.log"

    def rss_mb(self, peak: bool = False) -> float:
        """The server's resident memory now (or its peak so far), in MB."""
        assert self.server is not None
        field = "VmHWM" if peak else "VmRSS"
        for line in Path(f"/proc/{self.server.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no {field} for the server")

    def start_worker(self, *arguments: str) -> subprocess.Popen:
        """Start one more `synthesis_worker` process (with these command-line `arguments`);
        it is stopped with the rest."""
        with open(self.data_dir / f"worker{len(self.workers)}.log", "wb") as output:
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "synthesis_worker", *arguments],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=output,
            )
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[subprocess.Popen]:
        return [worker for worker in self.workers if worker.poll() is None]

    def log_mark(self) -> int:
        """Where the server's log ends now: `log(since=mark)` is what it logged after."""
        return (self.data_dir / self.log_name).stat().st_size

    def log(self, since: int = 0) -> str:
        """What the server has logged so far (after `since`, from log_mark())."""
        with open(self.data_dir / self.log_name, "rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def websocket(self, path: str = "/ws/tts/", key: str | None = None, **options: Any) -> Any:
        """A WebSocket to `path` (`async with`), with `key`, if given, in an
        `Authorization: Bearer` header; `options` go to websockets.connect."""
        headers = {"Authorization": f"Bearer {key}"} if key else None
        url = f"ws://127.0.0.1:{self.port}{path}"
        return websockets.connect(url, additional_headers=headers, **options)

    def get(self, path: str) -> tuple[int, dict]:
        """GET a JSON endpoint; returns the status and the decoded body."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def post(
        self,
        path: str,
        body: Any,
        key: str | None = "",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST `body` (JSON, or bytes as they are) with the deployment's key ("") or `key`
        (None: no key at all)."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        token = self.api_key if key == "" else key
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(self.url + path, content=content, headers=sent, timeout=60)

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

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

    def create_api_key(self, name: str, *options: str) -> str:
        """A new API key, made as an operator would (`manage.py create_api_key`)."""
        return self.manage("create_api_key", name, *options).strip()

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

    def speak(self, text: str, key: str | None = None, **fields: Any) -> list[dict]:
        """Send one request on a new WebSocket (with `key` as its API key, if given);
        return its messages up to the last."""

        async def exchange() -> list[dict]:
            async with self.websocket(key=key or self.api_key) as ws:
                return await speak(ws, text, **fields)

        return asyncio.run(exchange())


async def speak_through_sigterm(
    serve: subprocess.Popen, running: Deployment, ws: Any, text: str
) -> tuple[list[dict], int | None, int]:
    """Speak `text` on `ws` and send `serve` SIGTERM once its first message is in.

    Returns the request's messages, the code the socket is then closed with, and the status
    /readyz answered just after the signal.
    """
    ready = []

    async def stop_serve() -> None:
        serve.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        ready.append((await asyncio.to_thread(running.get, "/readyz"))[0])

    messages = await speak(ws, text, after_first=stop_serve, timeout=30)
    try:
        await asyncio.wait_for(ws.recv(), 30)
    except websockets.ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None, ready[0]
    raise AssertionError("the socket stayed open after its request, while serve stopped")


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


def tail(log: Path | None, lines: int = 30) -> str:
    """The last lines of `log`, if there is one."""
    if log is None:
        return ""
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def wait_for_port(
    port: int, process: subprocess.Popen, seconds: float = 60, log: Path | None = None
) -> None:
    """Wait until something listens on `port`; fail, with the end of `log`, if `process` exits
    or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{tail(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {seconds:g} s:\n{tail(log)}")


# A database `migrate` made once, copied into each deployment's data directory: migrating takes
# seconds, and each deployment's database then starts the same as after its own `migrate`.
_migrated: list[Path] = []


def migrate(data_dir: Path, env: dict[str, str]) -> None:
    """The database of `env` migrated; SQLite's as a copy of one migrated before."""
    if env.get("DATABASE_URL"):
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        return
    if not _migrated:
        template = Path(tempfile.mkdtemp(prefix="tts-migrated-"))
        atexit.register(shutil.rmtree, template, ignore_errors=True)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=ROOT,
            env={**env, "DATA_DIR": str(template)},
            check=True,
        )
        _migrated.append(template)
    # The migrating process has closed the database, so its write-ahead log is in the file.
    shutil.copyfile(_migrated[0] / "db.sqlite3", data_dir / "db.sqlite3")


# Static files collected once, the STATIC_ROOT of every deployment: `collectstatic` compresses
# each file, which takes seconds, and the deployments only read them.
_collected: list[Path] = []


def collected_static() -> Path:
    """A STATIC_ROOT as `collectstatic` fills it, made on first use in this process."""
    if not _collected:
        template = Path(tempfile.mkdtemp(prefix="tts-static-"))
        atexit.register(shutil.rmtree, template, ignore_errors=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TTS_")},
            "DJANGO_SETTINGS_MODULE": "ttsproject.settings",
            "DATA_DIR": str(template),
            "STATIC_ROOT": str(template / "static"),
        }
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        _collected.append(template / "static")
    return _collected[0]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        # Daphne gives each application instance 10 s to finish; with Redis a consumer
        # sometimes hangs while channels-redis cancels its receive, and is then killed.
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise


@contextlib.contextmanager
def deployment(
    data_dir: Path,
    workers: int = 0,
    warm_up: bool = True,
    address_space: int | None = None,
    supervised: bool = False,
    environ: Mapping[str, str] | None = None,
    key_name: str | None = None,
    **settings: str,
) -> Iterator[Deployment]:
    """A freshly migrated database in `data_dir` and collected static files, served by Daphne
    and `workers` worker processes, with these `settings` (environment variables) on top of
    `environ`.

    `environ` defaults to this process's environment without TTS_ settings, and keys off.
    `supervised` serves with `manage.py serve --workers N`, which starts (and restarts) the
    workers itself. With `key_name`, an API key of that name is made and sent by default.
    With `warm_up`, one request is spoken before the deployment is handed over. With
    `address_space` (bytes), Daphne runs under that limit, so that a test that makes it grow
    fails instead of exhausting the machine.
    """
    if environ is None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
        # Tests of access control turn keys on (TTS_REQUIRE_API_KEY="true").
        environ["TTS_REQUIRE_API_KEY"] = "false"
    env = {
        **environ,
        "DJANGO_SETTINGS_MODULE": "ttsproject.settings",
        "DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(collected_static()),
        **settings,
    }
    migrate(data_dir, env)
    port = free_port()
    if supervised:
        command = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--workers", str(workers)]
        log_name = "serve.log"
    else:
        # Daphne as `manage.py serve` runs it.
        command = server.command("127.0.0.1", port)
        log_name = "daphne.log"
    if address_space:
        command = ["prlimit", f"--as={address_space}", "--", *command]
    with open(data_dir / log_name, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
    running = Deployment(port, env, data_dir, [], server=process, log_name=log_name)
    try:
        if key_name is not None:
            running.api_key = running.create_api_key(key_name)
        if not supervised:
            for _ in range(workers):
                running.start_worker()
        wait_for_port(port, process, log=data_dir / log_name)
        if warm_up:
            if workers:
                # Chunks sent before a worker listens wait for it, against their deadline.
                assert wait_for(running.ready, 60), running.get("/readyz")
            # Once the voices are loaded and warm, as on a server that has been up for a while;
            # the tests measure steady behaviour, not the start-up.
            spoken = running.speak("Warming up, both the first chunk and the ones after it.")
            assert spoken[-1]["status"] == "complete", spoken[-1]
        yield running
    finally:
        stop([process, *running.workers])
