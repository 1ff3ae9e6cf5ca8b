"""`/metrics`: this process's metrics (metrics.py), and the numbers every process shares.

Never public: with TTS_METRICS_TOKEN set, a scraper sends it as `Authorization: Bearer
<token>`; unset, only a signed-in staff user can read the page.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import metrics
from .heartbeat import heartbeat_age
from .messages import WORKER_CHANNEL, jobs_waiting

logger = logging.getLogger(__name__)

# A scrape waits this long at most for Redis; then it answers with NaN for what it could not read.
READ_TIMEOUT = 2.0


async def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics, to the scraper that sends the token, or to a staff user."""
    if settings.TTS_METRICS_TOKEN:
        if not metrics.token_sent(request.headers.get("Authorization", "")):
            return HttpResponse(
                metrics.TOKEN_WANTED,
                status=401,
                content_type="text/plain",
                headers={"WWW-Authenticate": "Bearer"},
            )
    else:
        user = await request.auser()
        if not user.is_staff:
            return HttpResponse(
                "Only a staff user can read the metrics while TTS_METRICS_TOKEN is not set.\n",
                status=403,
                content_type="text/plain",
            )
    await read_shared_numbers()
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


async def read_shared_numbers() -> None:
    """Read the numbers every process shares (metrics.SharedReadings) for this scrape."""
    age, waiting = await asyncio.gather(
        _read(asyncio.to_thread(heartbeat_age)), _read(jobs_waiting(WORKER_CHANNEL))
    )
    metrics.SHARED.heartbeat_age = age
    metrics.SHARED.jobs_waiting = {WORKER_CHANNEL: waiting}


async def _read(reading: Awaitable[float]) -> float:
    try:
        return await asyncio.wait_for(reading, READ_TIMEOUT)
    except Exception:
        logger.warning("Could not read a number for /metrics", exc_info=True)
        return math.nan
