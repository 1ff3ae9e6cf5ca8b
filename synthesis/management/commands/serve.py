"""`manage.py serve`: Daphne, and with Redis the synthesis workers, kept running together.

    python manage.py serve [--host 127.0.0.1] [--port 8000] [--workers N] [--grace 30]
                           [--worker-metrics-port 9100 [--worker-metrics-host 127.0.0.1]]

One process per role, supervised from here: Daphne on the port (through ttsproject/server.py:
a redacted access log, 1009 for oversized frames), and (with REDIS_URL, where the web process
does not synthesize) N `synthesis_worker` processes, one per core unless --workers
says otherwise. A worker that exits is started again, after a pause that grows while
it keeps failing at once. SIGTERM or Ctrl-C stops them gracefully: Daphne finishes the
requests on its sockets and closes them with 1001 (synthesis/draining.py) while the workers keep
serving them, then the workers get SIGTERM; whatever is left after --grace seconds is killed.
If Daphne itself exits, so does serve, with its exit status. With --worker-metrics-port P,
worker N serves its metrics on port P+N (synthesis/worker_metrics.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandParser

from synthesis.draining import DRAIN_SIGNAL
from ttsproject import server

# A worker that lived shorter than this counts as failing at start; its restarts back off.
HEALTHY_AFTER_SECONDS = 10.0
FIRST_RESTART_DELAY = 1.0
LONGEST_RESTART_DELAY = 30.0
POLL_SECONDS = 0.2


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_delay: float = FIRST_RESTART_DELAY
    restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command)
        self.started = time.monotonic()
        self.restart_at = None


def welcome_host(host: str) -> str:
    """Where a browser on this machine finds a server listening on `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def listening(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.2):
            return True
    except OSError:
        return False


def next_steps(host: str, port: int, where: str) -> str:
    """What `serve` says once it listens: where the server is, and what to do first."""
    from django.contrib.auth import get_user_model

    url = f"http://{welcome_host(host)}:{port}"
    bound = "" if welcome_host(host) == host else f" (listening on {host}:{port})"
    lines = [f"Serving on {url}{bound} with {where}.", ""]
    lines.append(f"  Demo page      {url}/")
    if settings.TTS_REQUIRE_API_KEY:
        lines.append(
            "  API key        make key NAME=laptop  (python manage.py create_api_key laptop); "
            "clients need one"
        )
    try:
        has_admin = get_user_model().objects.filter(is_superuser=True).exists()
    except Exception:  # a database that is not migrated yet: serve says so elsewhere
        has_admin = True
    admin = f"  Admin          {url}/admin/"
    if not has_admin:
        admin += "  (make a user first: python manage.py createsuperuser)"
    lines.append(admin)
    lines.append('  A first sound  make say TEXT="Hello there."  (writes say.wav)')
    lines.append("  Stop           Ctrl-C")
    return "\n".join(lines)


def metrics_of(number: int, options: dict[str, Any]) -> list[str]:
    """The arguments that have worker `number` serve its metrics, if asked to."""
    port = options["worker_metrics_port"]
    if port is None:
        return []
    return ["--metrics-port", str(port + number), "--metrics-host", options["worker_metrics_host"]]


class Command(BaseCommand):
    help = "Serve the WebSocket API with Daphne and, with REDIS_URL, supervised workers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="synthesis_worker processes (default: one per core with REDIS_URL, else none)",
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=30.0,
            help="seconds to wait for the processes to stop before killing them",
        )
        parser.add_argument(
            "--worker-metrics-port",
            type=int,
            default=None,
            help="worker N serves its metrics on this port + N (needs TTS_METRICS_TOKEN)",
        )
        parser.add_argument(
            "--worker-metrics-host",
            default="127.0.0.1",
            help="the address the workers serve their metrics on (default: 127.0.0.1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.host, self.port = options["host"], options["port"]
        # The deployment check that collectstatic has run (ttsproject/checks.py): without it,
        # stop here and say so, rather than answer every page with a 500.
        self.check(tags=[Tags.staticfiles], include_deployment_checks=True)
        workers = options["workers"]
        if workers is None:
            workers = (os.cpu_count() or 1) if not settings.TTS_EMBEDDED_WORKERS else 0
        if workers and not settings.REDIS_URL:
            self.stderr.write("--workers needs REDIS_URL: without it nothing connects them.")
            sys.exit(2)
        if options["worker_metrics_port"] is not None and not settings.TTS_METRICS_TOKEN:
            self.stderr.write("--worker-metrics-port needs TTS_METRICS_TOKEN, which scrapers send.")
            sys.exit(2)
        python = sys.executable
        manage = [python, os.path.abspath(sys.argv[0])]
        daphne = Child("daphne", server.command(options["host"], options["port"]))
        children = [daphne] + [
            Child(f"worker {number}", [*manage, "synthesis_worker", *metrics_of(number, options)])
            for number in range(workers)
        ]
        stopping: list[int] = []

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for child in children:
            child.start()
        where = f"{workers} worker processes" if workers else "the workers in the web process"
        welcome = next_steps(options["host"], options["port"], where)
        status = self.supervise(daphne, children[1:], stopping, welcome)
        self.shut_down(children, options["grace"])
        sys.exit(status)

    def supervise(
        self, daphne: Child, workers: list[Child], stopping: list[int], welcome: str
    ) -> int:
        """Keep the workers running until a signal comes or Daphne exits; return the status.
        Once Daphne listens, say where and what to do next (`welcome`)."""
        address = (welcome_host(self.host), self.port)
        while not stopping:
            assert daphne.process is not None
            if daphne.process.poll() is not None:
                self.stderr.write(f"Daphne exited with {daphne.process.returncode}; stopping.")
                return daphne.process.returncode or 1
            if welcome and listening(address):
                self.stdout.write(welcome)
                self.stdout.flush()  # a log file or a pipe would hold it back otherwise
                welcome = ""
            now = time.monotonic()
            for worker in workers:
                assert worker.process is not None
                if worker.restart_at is not None:
                    if now >= worker.restart_at:
                        worker.start()
                    continue
                code = worker.process.poll()
                if code is None:
                    continue
                if now - worker.started >= HEALTHY_AFTER_SECONDS:
                    worker.restart_delay = FIRST_RESTART_DELAY
                self.stderr.write(
                    f"{worker.name.capitalize()} exited with {code}; "
                    f"starting it again in {worker.restart_delay:g} s."
                )
                worker.restart_at = now + worker.restart_delay
                worker.restart_delay = min(worker.restart_delay * 2, LONGEST_RESTART_DELAY)
            time.sleep(POLL_SECONDS)
        return 0

    def shut_down(self, children: list[Child], grace: float) -> None:
        """Let Daphne finish its sockets' requests (the workers still serving them), then stop
        the workers; whatever is left when the grace period ends is killed."""
        deadline = time.monotonic() + grace
        daphne, workers = children[0].process, [c.process for c in children[1:] if c.process]
        assert daphne is not None
        if daphne.poll() is None:
            daphne.send_signal(DRAIN_SIGNAL)  # it stops by itself once drained
            try:
                daphne.wait(timeout=max(0.0, deadline - time.monotonic() - 1))
            except subprocess.TimeoutExpired:
                daphne.send_signal(signal.SIGTERM)
        running = [p for p in [daphne, *workers] if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
