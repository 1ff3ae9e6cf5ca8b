"""Prometheus metrics of the speaking path, counted where things happen, and the middleware
that counts HTTP requests.

They are this process's: a web process serves them at `/metrics` (metrics_view.py), a
`synthesis_worker` on a port of its own (worker_metrics.py); docs/operations.md, "Metrics".
"""

from __future__ import annotations

import hmac
import time
import weakref
from collections.abc import Callable, Iterator, Sized
from typing import Any, Protocol

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Each counter's `_created` twin (when it was first counted) says nothing a scraper needs, and
# doubles every page.
disable_created_metrics()

# From a first clause on an idle server (tens of ms) to an overloaded one (seconds).
TTFA_BUCKETS = (0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)

REQUESTS = Counter(
    "tts_requests",
    "Requests that ended, by how: complete, cancelled, or the error code.",
    ["outcome"],
)
TIME_TO_FIRST_AUDIO = Histogram(
    "tts_time_to_first_audio_seconds",
    "From a request's start to its first audio sent, by voice.",
    ["voice"],
    buckets=TTFA_BUCKETS,
)
AUDIO_SECONDS = Counter(
    "tts_audio_seconds",
    "Seconds of audio sent to clients, by voice.",
    ["voice"],
)
OPEN_SOCKETS = Gauge("tts_open_sockets", "WebSocket connections admitted and still open.")
REQUESTS_IN_FLIGHT = Gauge(
    "tts_requests_in_flight", "Requests started and not ended yet, on sockets and over HTTP."
)
RUN_DRY = Counter(
    "tts_run_dry_events",
    "Times a client playing from its first audio on would have run out of audio for over "
    "100 ms while the server still owed it some, by voice (the server's reckoning).",
    ["voice"],
)
HTTP_REQUESTS = Counter(
    "tts_http_requests",
    "HTTP requests answered, by endpoint (the URL's name; the admin's pages count as 'admin')"
    " and status.",
    ["endpoint", "status"],
)
RESENDS = Counter(
    "tts_resends",
    "Chunks sent to the workers again: no audio for a deadline (stalled), a worker gone, or "
    "taken by a worker that died before saying so (taken_unheard).",
    ["reason"],
)
# The worker side: what the synthesis threads of this process did. Their ratio over a window,
# rate(tts_synthesis_seconds_total) / rate(tts_synthesized_audio_seconds_total), is the
# real-time factor.
SYNTHESIS_SECONDS = Counter(
    "tts_synthesis_seconds",
    "Wall-clock seconds the synthesis threads spent on sentences, by voice.",
    ["voice"],
)
SYNTHESIZED_AUDIO_SECONDS = Counter(
    "tts_synthesized_audio_seconds",
    "Seconds of audio the synthesis threads made, by voice.",
    ["voice"],
)
STEPS_WAITING = Gauge(
    "tts_synthesis_steps_waiting",
    "Sentences waiting for one of this process's synthesis threads.",
)
JOBS_HELD = Gauge(
    "tts_worker_jobs_held",
    "Chunks this process's workers took off the worker channel and have not finished.",
)
HEARTBEATS = Counter(
    "tts_worker_heartbeats",
    "Heartbeats this process's workers wrote (result=written) or could not write (failed).",
    ["result"],
)
LAST_HEARTBEAT = Gauge(
    "tts_worker_last_heartbeat_timestamp_seconds",
    "When this process's workers last wrote their heartbeat (Unix time; 0: never).",
)


class SharedReadings(Collector):
    """Numbers that every process shares, read from the channel layer and the cache (Redis,
    in the scale-out mode) when `/metrics` is scraped (metrics_view.py). A process whose
    `/metrics` is never scraped, such as a synthesis_worker, shows none of them."""

    def __init__(self) -> None:
        # NaN: it could not be read.
        self.jobs_waiting: dict[str, float] = {}
        # +Inf: no worker beat within the last few beats.
        self.heartbeat_age: float | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs, age = self.families()
        if self.jobs_waiting:
            for channel, waiting in self.jobs_waiting.items():
                jobs.add_metric([channel], waiting)
            yield jobs
        if self.heartbeat_age is not None:
            age.add_metric([], self.heartbeat_age)
            yield age

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self.families()

    @staticmethod
    def families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "tts_worker_channel_jobs_waiting",
            "Chunks on the worker channel that no worker has taken yet (NaN: unreadable).",
            labels=["channel"],
        )
        age = GaugeMetricFamily(
            "tts_worker_heartbeat_age_seconds",
            "Seconds since any worker last wrote its heartbeat, as /readyz sees it (+Inf: none "
            "within the last few beats; NaN: the cache could not be read).",
            labels=[],
        )
        return jobs, age


SHARED = SharedReadings()
REGISTRY.register(SHARED)


class HasRequests(Protocol):
    @property
    def requests(self) -> Sized: ...


# Every live session's requests, counted when scraped: nothing to keep in step by hand.
_sessions: weakref.WeakSet[HasRequests] = weakref.WeakSet()


def session_opened(session: HasRequests) -> None:
    """Count `session`'s requests in tts_requests_in_flight while it lives."""
    _sessions.add(session)


REQUESTS_IN_FLIGHT.set_function(lambda: sum(len(s.requests) for s in list(_sessions)))


def count_waiting_steps(waiting: Callable[[], int]) -> None:
    """Read tts_synthesis_steps_waiting from the synthesis threads (synthesis/workers.py)."""
    STEPS_WAITING.set_function(waiting)


def count_held_jobs(held: Callable[[], int]) -> None:
    """Read tts_worker_jobs_held from the worker listener (synthesis/embedded.py)."""
    JOBS_HELD.set_function(held)


def heartbeat_written(ok: bool) -> None:
    """Count a heartbeat (synthesis/heartbeat.py)."""
    HEARTBEATS.labels("written" if ok else "failed").inc()
    if ok:
        LAST_HEARTBEAT.set(time.time())


def request_ended(outcome: str, voice: str | None, ttfa: float | None, audio: float) -> None:
    """Count a request that ended (synthesis/session.py)."""
    REQUESTS.labels(outcome).inc()
    if voice is not None:
        if ttfa is not None:
            TIME_TO_FIRST_AUDIO.labels(voice).observe(ttfa)
        AUDIO_SECONDS.labels(voice).inc(audio)


def endpoint_of(request: HttpRequest) -> str:
    """The name of the URL a request reached, few enough to be a label's values."""
    match = request.resolver_match
    if match is None:
        return "unmatched"
    if "admin" in match.namespaces:
        return "admin"
    return match.url_name or "unnamed"


@sync_and_async_middleware
def count_http_requests(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], Any]:
    """Count every HTTP request Django answers in tts_http_requests_total (outermost)."""
    if iscoroutinefunction(get_response):

        async def counted_async(request: HttpRequest) -> HttpResponseBase:
            response = await get_response(request)
            HTTP_REQUESTS.labels(endpoint_of(request), str(response.status_code)).inc()
            return response

        return counted_async

    def counted(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        HTTP_REQUESTS.labels(endpoint_of(request), str(response.status_code)).inc()
        return response

    return counted


# What a scraper without the token is told, by /metrics and by a worker's metrics port.
TOKEN_WANTED = "Send the metrics token as 'Authorization: Bearer <token>'.\n"


def token_sent(authorization: str) -> bool:
    """Whether an Authorization header carries TTS_METRICS_TOKEN (False while it is unset)."""
    token = settings.TTS_METRICS_TOKEN
    return bool(token) and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())
