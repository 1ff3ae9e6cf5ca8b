"""PostgreSQL through DATABASE_URL, for deployments with more than one machine."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from .conftest import require_service
from .servers import Deployment, deployment

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def postgres_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Daphne with embedded workers, its data in a fresh PostgreSQL database."""
    require_service("PostgreSQL", 5432)
    name = f"tts_test_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
        with deployment(tmp_path_factory.mktemp("postgres"), DATABASE_URL=url) as running:
            yield running
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_it_serves_speech_with_its_data_in_postgresql(postgres_deployment):
    # The voice comes from PostgreSQL, registered there by migrate.
    status, voices = postgres_deployment.get("/api/voices/")
    assert status == 200
    assert "joe" in {voice["voice_id"] for voice in voices["voices"]}
    messages = postgres_deployment.speak("Stored in PostgreSQL, spoken by Piper.")
    assert messages[-1]["status"] == "complete", messages[-1]
    status, ready = postgres_deployment.get("/readyz")
    assert status == 200 and ready["checks"]["database"] == "ok"


RACE = """
import threading
from django.db import connection
from access.guard import take_connection_now
from access.keys import create_key

key, _ = create_key("race", max_connections=2)
start = threading.Barrier(8)
admitted = []

def connect(number):
    start.wait()
    admitted.append(take_connection_now(key, f"race.{number}"))
    connection.close()

threads = [threading.Thread(target=connect, args=(n,)) for n in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sum(admitted))
"""


def test_connections_racing_for_a_keys_last_places_get_only_those(postgres_deployment):
    # Eight connections of one key at the same moment, each on its own database connection
    # (as on eight web processes); the key allows two.
    output = postgres_deployment.manage("shell", "-c", RACE)
    assert output.split()[-1] == "2"
