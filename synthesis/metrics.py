"""Prometheus metrics of the speaking path, and `/metrics`, which is never public.

With TTS_METRICS_TOKEN set, a scraper sends it as `Authorization: Bearer <token>`; unset, only
a signed-in staff user can read the page. The metrics are this process's (docs/operations.md,
"Metrics").
"""

from __future__ import annotations

import hmac
import weakref
from collections.abc import Callable, Sized
from typing import Protocol

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

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
RESENDS = Counter(
    "tts_resends",
    "Chunks sent to the workers again: no audio for a deadline (stalled), or a worker gone.",
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


def request_ended(outcome: str, voice: str | None, ttfa: float | None, audio: float) -> None:
    """Count a request that ended (synthesis/session.py)."""
    REQUESTS.labels(outcome).inc()
    if voice is not None:
        if ttfa is not None:
            TIME_TO_FIRST_AUDIO.labels(voice).observe(ttfa)
        AUDIO_SECONDS.labels(voice).inc(audio)


async def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics, to the scraper that sends the token, or to a staff user."""
    token = settings.TTS_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return HttpResponse(
                "Send the metrics token as 'Authorization: Bearer <token>'.\n",
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
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
