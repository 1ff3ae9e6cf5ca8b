"""`/metrics`: Prometheus' format, read by a scraper with the token or by staff, never public,
and its numbers move with real requests."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from django.core.management import CommandError, call_command
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from synthesis import workers

from .clients import speak
from .conftest import require_service
from .servers import Deployment, deployment, free_port, wait_for

# A Redis database of this module's own.
REDIS_URL = "redis://127.0.0.1:6379/11"

TOKEN = "scrape-me-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("metrics"), TTS_METRICS_TOKEN=TOKEN) as running:
        yield running


def scrape(server: Deployment | str, token: str | None = TOKEN) -> tuple[int, str]:
    """GET a server's /metrics, or `server` if it is a URL."""
    url = server if isinstance(server, str) else f"{server.url}/metrics"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Each sample of a scrape by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.e2e
def test_a_scraper_without_the_token_gets_nothing(server):
    status, body = scrape(server, token=None)
    assert status == 401 and "Authorization: Bearer" in body
    assert scrape(server, token="wrong")[0] == 401
    assert "tts_" not in body


@pytest.mark.e2e
def test_the_numbers_move_with_real_requests(server):
    status, text = scrape(server)
    assert status == 200
    before = samples(text)

    # Scraped after each request's first audio, before its end (the socket is admitted by then;
    # right after the handshake it may not be yet).
    midway: list[dict] = []

    async def mid_request() -> None:
        midway.append(samples(scrape(server)[1]))

    async def two_requests_on_one_socket() -> None:
        async with server.websocket() as socket:
            for n in range(2):
                messages = await speak(
                    socket, "Counting this one, and then the next.", request_id=f"m{n}",
                    after_first=mid_request,
                )  # fmt: skip
                assert messages[-1]["status"] == "complete"

    asyncio.run(two_requests_on_one_socket())
    assert [value(scraped, "tts_open_sockets") for scraped in midway] == [1, 1]
    assert [value(scraped, "tts_requests_in_flight") for scraped in midway] == [1, 1]
    after = samples(scrape(server)[1])
    assert value(after, "tts_requests_in_flight") == 0
    assert ("tts_synthesis_steps_waiting", ()) in after
    assert value(after, "tts_worker_jobs_held") == 0
    assert value(after, "tts_worker_channel_jobs_waiting", channel="tts-synthesize") == 0
    # The embedded workers beat every few seconds.
    assert value(after, "tts_worker_heartbeats_total", result="written") >= 1
    assert 0 <= value(after, "tts_worker_heartbeat_age_seconds") < 10

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("tts_requests_total", outcome="complete") == 2
    assert grew("tts_time_to_first_audio_seconds_count", voice="joe") == 2
    assert 0 < grew("tts_time_to_first_audio_seconds_sum", voice="joe") < 10
    assert grew("tts_audio_seconds_total", voice="joe") > 1
    # The synthesis threads (embedded here) made that audio faster than real time.
    made = grew("tts_synthesized_audio_seconds_total", voice="joe")
    assert made > 1
    assert 0 < grew("tts_synthesis_seconds_total", voice="joe") < made
    # The server notices the closed socket a moment after the client has closed it.
    assert wait_for(lambda: value(samples(scrape(server)[1]), "tts_open_sockets") == 0, 5)


@pytest.mark.e2e
def test_http_requests_are_counted_by_endpoint_and_status(server):
    before = samples(scrape(server)[1])
    assert server.post("/v1/audio/speech", {"input": "Counted.", "voice": "joe"}).status_code == 200
    assert server.post("/v1/audio/speech", {"input": "", "voice": "joe"}).status_code == 400
    assert scrape(f"{server.url}/no/such/page")[0] == 404
    after = samples(scrape(server)[1])

    def grew(endpoint: str, status: str) -> float:
        labels = {"endpoint": endpoint, "status": status}
        return value(after, "tts_http_requests_total", **labels) - value(
            before, "tts_http_requests_total", **labels
        )

    assert grew("openai-speech", "200") == 1
    assert grew("openai-speech", "400") == 1
    assert grew("unmatched", "404") == 1
    assert grew("metrics", "200") == 1  # the scrape before


@pytest.mark.e2e
@pytest.mark.redis
def test_a_worker_process_serves_its_own_metrics_and_the_web_counts_the_chunks_waiting(
    tmp_path_factory: pytest.TempPathFactory,
):
    require_service("Redis", 6379)
    redis.Redis.from_url(REDIS_URL).flushdb()
    with deployment(
        tmp_path_factory.mktemp("metrics-redis"),
        warm_up=False,
        REDIS_URL=REDIS_URL,
        TTS_METRICS_TOKEN=TOKEN,
    ) as web:
        # No worker yet: the request's first chunk waits in Redis, and no heartbeat is fresh.
        async def speak_once() -> list[dict]:
            async with web.websocket() as socket:
                return await speak(socket, "Waiting for a worker to take me.")

        async def waiting_then_worker() -> list[dict]:
            request = asyncio.create_task(speak_once())
            deadline = time.monotonic() + 30
            while not await asyncio.to_thread(jobs_waiting, web):
                assert time.monotonic() < deadline, "the chunk never showed as waiting"
                await asyncio.sleep(0.1)
            scraped = samples(scrape(web)[1])
            assert value(scraped, "tts_worker_heartbeat_age_seconds") == math.inf
            port = free_port()
            web.start_worker("--metrics-port", str(port))
            messages = await asyncio.wait_for(request, 120)
            worker_metrics.append(f"http://127.0.0.1:{port}/metrics")
            return messages

        worker_metrics: list[str] = []
        assert asyncio.run(waiting_then_worker())[-1]["status"] == "complete"
        url = worker_metrics[0]
        assert scrape(url, token=None)[0] == 401
        assert scrape(url, token="wrong")[0] == 401
        status, text = scrape(url)
        assert status == 200
        worker = samples(text)
        assert value(worker, "tts_synthesized_audio_seconds_total", voice="joe") > 1
        assert value(worker, "tts_worker_heartbeats_total", result="written") >= 1
        # What every process shares is read by the web processes' /metrics, not here.
        assert not any(name == "tts_worker_channel_jobs_waiting" for name, _ in worker)
        web_after = samples(scrape(web)[1])
        assert value(web_after, "tts_worker_channel_jobs_waiting", channel="tts-synthesize") == 0
        assert value(web_after, "tts_worker_heartbeat_age_seconds") < 10
        # The web process synthesizes nothing in this mode.
        assert value(web_after, "tts_synthesized_audio_seconds_total", voice="joe") == 0


def jobs_waiting(web: Deployment) -> float:
    scraped = samples(scrape(web)[1])
    return value(scraped, "tts_worker_channel_jobs_waiting", channel="tts-synthesize")


def test_a_worker_will_not_serve_its_metrics_without_a_token(settings):
    settings.TTS_METRICS_TOKEN = ""
    settings.REDIS_URL = "redis://127.0.0.1:6379/11"
    with pytest.raises(CommandError, match="TTS_METRICS_TOKEN"):
        call_command("synthesis_worker", "--metrics-port", "0")


@pytest.mark.django_db(transaction=True)
async def test_a_listener_left_without_audio_counts_as_a_run_dry(connect, monkeypatch, caplog):
    """The second chunk comes a second late, after the first one's audio has all played."""
    real_next_sentence = workers.next_sentence

    def late_second_chunk(job, sentences):
        if job["index"] == 1:
            time.sleep(1.0)
        return real_next_sentence(job, sentences)

    monkeypatch.setattr(workers, "next_sentence", late_second_chunk)
    before = REGISTRY.get_sample_value("tts_run_dry_events_total", {"voice": "joe"}) or 0
    socket = await connect()
    caplog.set_level(logging.INFO, logger="synthesis.session")
    messages = await speak(socket, "Hello there, and a second sentence comes after the first.")
    assert messages[-1]["status"] == "complete"
    after = REGISTRY.get_sample_value("tts_run_dry_events_total", {"voice": "joe"})
    assert after == before + 1
    [line] = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "request"]
    assert line.fields["run_dries"] == 1  # type: ignore[attr-defined]
    assert "1 run-dries" in line.getMessage()


def test_without_a_token_only_staff_can_read_them(client, admin_user, django_user_model):
    assert client.get("/metrics").status_code == 403
    someone = django_user_model.objects.create_user("someone", password="a long password 1")
    client.force_login(someone)
    assert client.get("/metrics").status_code == 403
    client.force_login(admin_user)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"tts_requests_total" in response.content
