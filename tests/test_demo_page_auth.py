"""The demo page on a server that requires API keys, in a real headless Chromium."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from .browser import browser_page, chromium, require_chromium
from .clients import speak
from .servers import Deployment, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "a long test password 7"


@pytest.fixture(scope="module")
def server(keyed_server: Deployment) -> tuple[Deployment, str]:
    require_chromium()
    keyed_server.create_superuser("operator", PASSWORD)
    return keyed_server, keyed_server.create_api_key("demo page test")


@pytest.fixture
def browser() -> Iterator[Any]:
    """A Chromium of the test's own: while Playwright runs, its event loop counts as running,
    and a test of this module after the page tests calls asyncio.run."""
    with chromium() as own:
        yield own


def speak_and_wait(page) -> None:
    page.fill("#text", "Hello there, this page has a key.")
    page.click("#speak")
    page.wait_for_selector("#download:not([hidden])", timeout=30_000)
    assert page.evaluate("window.ttsDemo.received") >= 1
    assert page.evaluate("window.ttsDemo.errors") == []


def test_a_logged_in_staff_user_speaks_without_a_key(server, browser, tmp_path):
    running, _ = server
    with browser_page(
        browser, f"{running.url}/admin/login/?next=/", tmp_path / "staff.png"
    ) as page:
        page.fill("#id_username", "operator")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{running.url}/")
        page.wait_for_function("document.getElementById('voice').value === 'joe'")
        assert page.get_attribute("#speak-form", "data-auth") == "staff"
        assert page.query_selector("#api-key") is None
        speak_and_wait(page)


def test_a_visitor_is_asked_for_a_key_and_a_good_one_speaks(server, browser, tmp_path):
    running, key = server
    with browser_page(browser, f"{running.url}/", tmp_path / "visitor.png") as page:
        page.wait_for_function("document.getElementById('voice').value === 'joe'")
        assert page.get_attribute("#speak-form", "data-auth") == "key"
        page.click("#speak")
        assert "Paste an API key" in page.inner_text("#api-key-error")

        page.fill("#api-key", "tts_abcdefgh_" + "x" * 43)
        page.click("#speak")
        page.wait_for_function("window.ttsDemo.closes.includes(4401)", timeout=10_000)
        assert "did not accept this API key" in page.inner_text("#api-key-error")
        assert page.get_attribute("#api-key", "aria-invalid") == "true"

        page.fill("#api-key", key)
        page.dispatch_event("#api-key", "change")
        page.evaluate("window.ttsDemo.errors = []")
        speak_and_wait(page)
        # The client code reads its key from the environment, never from the page.
        for language in ("python", "javascript", "curl"):
            code = page.text_content(f"#snippet-{language}")
            assert "TTS_API_KEY" in code and key not in code
        # The key stays in this tab across a reload, and nowhere else.
        page.reload()
        assert page.input_value("#api-key") == key
        assert page.evaluate("localStorage.length") == 0


def test_keys_do_not_reach_the_server_log(server):
    running, key = server

    mark = running.log_mark()

    async def speak_with_the_key_in_the_query() -> str:
        async with running.websocket(f"/ws/tts/?token={key}") as ws:
            messages = await speak(ws, "Hello.")
        return str(messages[-1]["status"])

    assert asyncio.run(speak_with_the_key_in_the_query()) == "complete"
    assert wait_for(lambda: "WSDISCONNECT /ws/tts/" in running.log(since=mark), 5)
    secret = key.split("_", 2)[2]
    assert secret not in running.log()
