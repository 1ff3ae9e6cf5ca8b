"""/healthz and /readyz, the load balancer's view of a process (embedded mode here; Redis in
test_redis.py)."""

from __future__ import annotations

import pytest
from django.test import AsyncClient, Client


def test_healthz_says_the_process_is_up():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
async def test_readyz_checks_the_database_the_channel_layer_the_workers_and_the_voices():
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "channel_layer": "ok", "workers": "ok", "voices": "ok"},
    }
