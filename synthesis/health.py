"""Health checks for load balancers: `/healthz` (alive) and `/readyz` (able to serve speech).

Ready means: the database answers, a message sent through the channel layer comes back, a
synthesis worker has reported in recently (synthesis/heartbeat.py), and some enabled voice can
be used (voices/availability.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import redis.exceptions
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, JsonResponse

from ttsproject.database import cache_get, in_database_thread
from voices.lookup import aunavailable_voices

from .draining import drain
from .embedded import ensure_embedded_workers, workers_running
from .heartbeat import HEARTBEAT_KEY, missing_after

CHANNEL_ROUND_TRIP_TIMEOUT = 2.0
DATABASE_TIMEOUT = 2.0

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering HTTP."""
    return JsonResponse({"status": "ok"})


async def readyz(request: HttpRequest) -> JsonResponse:
    """Whether this process can serve speech now; 503 with the failing checks if not."""
    # In the embedded mode the workers start with the first connection; a load balancer's
    # first probe is as good a first connection as any.
    ensure_embedded_workers()
    if drain.active:
        return JsonResponse({"status": "draining", "checks": {}}, status=503)
    checks = {
        "database": await _check(_database_usable()),
        "channel_layer": await _check(_channel_round_trip()),
        "workers": await _check(_worker_seen()),
        "voices": await _check(_voices_usable()),
    }
    ready = all(result == "ok" or result.startswith("degraded:") for result in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def _check(probe: Any) -> str:
    """The probe's answer. A failure reads the same for every caller: the page is public, and
    exception texts name hosts, ports and paths; the operator finds them in the log."""
    try:
        result: str = await probe
    except Exception as error:
        logger.warning("A readiness check failed: %s: %s", error.__class__.__name__, error)
        return f"failed: {_failure_reason(error)}"
    return result


def _failure_reason(error: Exception) -> str:
    # TimeoutError is an OSError too, so it comes first.
    if isinstance(error, TimeoutError | redis.exceptions.TimeoutError):
        return "timed out"
    if isinstance(error, OSError | redis.exceptions.ConnectionError):
        return "unreachable"
    if isinstance(error, DatabaseError):
        return "unavailable"
    return "error"


# The probe still waiting for the database, if one is: probes do not pile up behind a lock.
_database_probe: asyncio.Future[str] | None = None


async def _database_usable() -> str:
    """Whether a transaction can start within DATABASE_TIMEOUT.

    On SQLite a transaction takes the write lock (transaction_mode IMMEDIATE), as admitting a
    connection does: a database that answers reads but is locked for writing is not usable.
    """
    global _database_probe
    if _database_probe is None or _database_probe.done():
        _database_probe = asyncio.ensure_future(in_database_thread(_transaction_starts))
    try:
        return await asyncio.wait_for(asyncio.shield(_database_probe), DATABASE_TIMEOUT)
    except TimeoutError:
        return f"failed: no transaction within {DATABASE_TIMEOUT:g} s"


def _transaction_starts() -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


async def _channel_round_trip() -> str:
    layer = get_channel_layer()
    if layer is None:
        return "failed: no channel layer is configured"
    # A channel of its own rather than a process-local one ("!"): channels-redis reads those
    # through one shared loop, which a consumer riding out a Redis outage can hold up.
    channel = f"tts-readyz.{uuid.uuid4().hex}"
    await layer.send(channel, {"type": "readyz.ping"})
    try:
        await asyncio.wait_for(layer.receive(channel), CHANNEL_ROUND_TRIP_TIMEOUT)
    except TimeoutError:
        return f"failed: no answer within {CHANNEL_ROUND_TRIP_TIMEOUT:g} s"
    return "ok"


async def _worker_seen() -> str:
    if settings.TTS_EMBEDDED_WORKERS and workers_running():
        return "ok"  # this process's own workers
    if await cache_get(HEARTBEAT_KEY) is None:
        return f"failed: no synthesis worker has reported in the last {missing_after()} s"
    return "ok"


async def _voices_usable() -> str:
    enabled, unavailable = await aunavailable_voices()
    if not enabled:
        return "failed: no voice is enabled"
    if not unavailable:
        return "ok"
    # Still ready while some voice can be used: a load balancer that pulled this process for
    # one broken voice would turn away every request for the others, and a voice's files are
    # usually broken on every machine alike. Naming the voices tells the operator all the same.
    state = "failed" if len(unavailable) == enabled else "degraded"
    names = ", ".join(unavailable)
    return f"{state}: {len(unavailable)} of {enabled} enabled voices unavailable: {names}"
