"""`/metrics`: Prometheus' format, read by a scraper with the token or by staff, never public,
and its numbers move with real requests."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .clients import speak
from .servers import Deployment, deployment, wait_for

TOKEN = "scrape-me-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("metrics"), TTS_METRICS_TOKEN=TOKEN) as running:
        yield running


def scrape(server: Deployment, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{server.url}/metrics", headers=headers)
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
