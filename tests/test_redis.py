"""Scale-out mode for real: Daphne and `runworker tts-synthesize` as processes sharing Redis."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import redis

from .conftest import require_service
from .servers import Deployment, deployment

# A database of its own, so the test never meets a developer's server on the same Redis.
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="module")
def redis_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One Daphne without workers and one `runworker` process, on Redis."""
    require_service("Redis", 6379)
    redis.Redis.from_url(REDIS_URL).flushdb()
    with deployment(tmp_path_factory.mktemp("redis"), workers=1, REDIS_URL=REDIS_URL) as running:
        yield running


def test_a_runworker_process_serves_requests_through_redis(redis_deployment):
    # 48 kHz makes the audio of this sentence larger than one layer message may be.
    text = "Scaling out works when the workers listen on Redis, far from the sockets. " * 2
    messages = redis_deployment.speak(text, sample_rate=48000)
    assert messages[-1]["status"] == "complete", messages[-1]
    chunks = messages[:-1]
    assert [m["data"]["sequence"] for m in chunks] == list(range(len(chunks)))
    audio = b"".join(base64.b64decode(m["data"]["audio"]) for m in chunks)
    seconds = len(audio) / 2 / 48000
    assert 6 < seconds < 14
    assert messages[-1]["data"]["audio_seconds"] == pytest.approx(seconds, abs=0.001)


def test_a_voice_edited_in_another_process_reaches_the_next_request(redis_deployment):
    text = "An operator changes the voice while the server keeps running."
    before = redis_deployment.speak(text)[-1]["data"]["audio_seconds"]  # now cached in Redis
    edit = "from voices.models import Voice; v = Voice.objects.get(voice_id='joe'); "
    redis_deployment.manage("shell", "-c", edit + "v.default_speed = 1.6; v.save()")
    try:
        after = redis_deployment.speak(text)[-1]["data"]["audio_seconds"]
    finally:
        redis_deployment.manage("shell", "-c", edit + "v.default_speed = 1.0; v.save()")
    assert after < before * 0.8
