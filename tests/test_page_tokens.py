"""A staff user's demo page token: bound to the session it was made for, and limited per user."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client

from access.tokens import page_token_for
from protocol.codes import fit_close_reason

from .clients import assert_speaks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def keys_required(settings):
    settings.TTS_REQUIRE_API_KEY = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast


@dataclass
class Browser:
    """A browser logged in to the admin, as the demo page sees it."""

    client: Client
    user: User

    @property
    def cookie(self) -> list[tuple[bytes, bytes]]:
        session = self.client.cookies[django_settings.SESSION_COOKIE_NAME].value
        return [(b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={session}".encode())]

    def page_token(self) -> str:
        response = self.client.get("/api/page-token/")
        assert response.status_code == 200
        return str(response.json()["token"])


@sync_to_async
def logged_in(username: str = "operator", is_staff: bool = True) -> Browser:
    user = User.objects.create_user(username, password="a long test password 7")
    user.is_staff = is_staff
    user.save()
    client = Client()
    client.force_login(user)
    return Browser(client, user)


async def page_socket(connect, browser: Browser, token: str | None = None) -> WebsocketCommunicator:
    token = token or await sync_to_async(browser.page_token)()
    return await connect(f"/ws/tts/?token={token}", headers=browser.cookie)


async def assert_refused(socket: WebsocketCommunicator, close_code: int, code: str) -> str:
    error = await socket.receive_json_from(timeout=5)
    assert (error["status"], error["code"]) == ("error", code)
    closing = await socket.receive_output(timeout=5)
    assert (closing["code"], closing["reason"]) == (close_code, fit_close_reason(error["message"]))
    return str(error["message"])


async def test_it_opens_a_connection_for_a_logged_in_staff_users_page(connect):
    await assert_speaks(await page_socket(connect, await logged_in()))


async def test_it_refuses_the_token_once_the_user_has_logged_out(connect):
    browser = await logged_in()
    token = await sync_to_async(browser.page_token)()
    cookie = browser.cookie
    await sync_to_async(browser.client.post)("/admin/logout/")
    socket = await connect(f"/ws/tts/?token={token}", headers=cookie)
    assert "log in again" in await assert_refused(socket, 4401, "unauthorized")


async def test_it_refuses_the_token_once_the_password_has_changed(connect):
    browser = await logged_in()
    token = await sync_to_async(browser.page_token)()
    browser.user.set_password("another long password 8")
    await browser.user.asave()
    await assert_refused(await page_socket(connect, browser, token), 4401, "unauthorized")


async def test_it_refuses_the_token_without_the_session_it_was_made_for(connect):
    browser = await logged_in()
    token = await sync_to_async(browser.page_token)()
    # Copied to a browser that is not logged in, or to another staff user's.
    socket = await connect(f"/ws/tts/?token={token}")
    await assert_refused(socket, 4401, "unauthorized")
    other = await logged_in("colleague")
    socket = await connect(f"/ws/tts/?token={token}", headers=other.cookie)
    await assert_refused(socket, 4401, "unauthorized")


async def test_it_refuses_an_expired_or_non_staff_token(connect, settings):
    settings.TTS_PAGE_TOKEN_SECONDS = 1
    visitor = await logged_in("visitor", is_staff=False)
    session_key = visitor.client.session.session_key
    assert session_key is not None
    socket = await page_socket(connect, visitor, page_token_for(visitor.user, session_key))
    await assert_refused(socket, 4401, "unauthorized")
    browser = await logged_in()
    token = await sync_to_async(browser.page_token)()
    await asyncio.sleep(2.1)
    socket = await page_socket(connect, browser, token)
    assert "expired" in await assert_refused(socket, 4401, "unauthorized")


async def test_it_refuses_page_connections_over_the_users_limit_with_4429(connect, settings):
    settings.TTS_MAX_PAGE_CONNECTIONS_PER_USER = 2
    browser = await logged_in()
    # Each is admitted (it speaks) before the next connects: sockets that race for the last
    # place are admitted in no particular order.
    first = await page_socket(connect, browser)
    await assert_speaks(first)
    await assert_speaks(await page_socket(connect, browser))
    third = await page_socket(connect, browser)
    message = await assert_refused(third, 4429, "too_many_connections")
    assert "2 demo page connections" in message
    # Another staff user has places of their own, and a closed page frees its place.
    await assert_speaks(await page_socket(connect, await logged_in("colleague")))
    await first.disconnect()
    await assert_speaks(await page_socket(connect, browser))
