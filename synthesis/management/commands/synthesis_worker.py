"""`manage.py synthesis_worker`: a synthesis worker process, for the scale-out (Redis) mode.

    REDIS_URL=redis://... python manage.py synthesis_worker [--metrics-port 9100]

It loads and warms the enabled voices, then reports to `/readyz` (synthesis/heartbeat.py) and
takes chunks off the worker channel, only as many as it can work on (synthesis threads twice
over, and the express ones): the rest wait in Redis, where any worker may take them, so a
worker that dies loses only what it was speaking. If Redis goes away it tries again after
0.5 s, doubling up to 5 s, and carries on by itself when Redis is back. SIGTERM (or Ctrl-C)
stops it taking new chunks; it finishes the ones it holds, for up to --grace seconds. Web
processes send the chunks a worker held elsewhere as soon as it stops beating, or at once when
it stops on purpose. With --metrics-port, it serves its own metrics (synthesis/worker_metrics.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from synthesis.embedded import serve_worker_channel
from synthesis.heartbeat import forget, start_heartbeat_thread, worker_name
from synthesis.voice_loading import keep_voices_loaded, preload_voices
from synthesis.worker_metrics import serve_metrics

logger = logging.getLogger(__name__)


def worker_slots() -> int:
    """Chunks one worker process holds at once: enough for its threads to pick the most urgent
    among, few enough that the rest wait where other workers can take them."""
    return 2 * settings.TTS_SYNTHESIS_THREADS + settings.TTS_EXPRESS_THREADS


class Command(BaseCommand):
    help = "Synthesize the chunks that web processes send over Redis (the scale-out mode)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace",
            type=float,
            default=20.0,
            help="seconds to finish the chunks in hand after SIGTERM",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=None,
            help="serve this worker's Prometheus metrics on this port (needs TTS_METRICS_TOKEN)",
        )
        parser.add_argument(
            "--metrics-host",
            default="127.0.0.1",
            help="the address to serve the metrics on (default: 127.0.0.1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        layer = get_channel_layer()
        if layer is None or not settings.REDIS_URL:
            raise CommandError("A synthesis worker needs REDIS_URL: nothing else reaches it.")
        if options["metrics_port"] is not None:
            self.serve_metrics(options["metrics_host"], options["metrics_port"])
        if settings.TTS_PRELOAD_VOICES:
            # Before reporting in: a ready worker is a warm one.
            preload_voices()
            keep_voices_loaded()  # and each voice imported or enabled later, as it is
        heartbeat = start_heartbeat_thread(worker_name())
        logger.info(
            "Synthesis worker %s listening, %d chunks at a time", worker_name(), worker_slots()
        )
        try:
            asyncio.run(self.work(layer, options["grace"]))
        finally:
            # Whatever it still holds is lost: the web processes send it elsewhere at once.
            heartbeat.set()
            try:
                forget(worker_name())
            except Exception:
                logger.warning("Could not withdraw the worker heartbeat", exc_info=True)

    def serve_metrics(self, host: str, port: int) -> None:
        if not settings.TTS_METRICS_TOKEN:
            raise CommandError(
                "--metrics-port needs TTS_METRICS_TOKEN, which the scraper sends as a bearer "
                "token: a worker's metrics are never served without one."
            )
        try:
            serve_metrics(host, port)
        except OSError as error:
            raise CommandError(f"Cannot serve the metrics on {host}:{port}: {error}") from error
        logger.info("Serving this worker's metrics on http://%s:%d/metrics", host, port)

    async def work(self, layer: Any, grace: float) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        listener = asyncio.create_task(serve_worker_channel(layer, worker_slots()))
        await stop.wait()
        logger.info("Stopping: finishing the chunks in hand")
        listener.cancel()
        running = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if running:
            await asyncio.wait(running, timeout=grace)
