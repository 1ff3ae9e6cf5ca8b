"""The admin's Preview player, in a real headless Chromium against a real Daphne."""

from __future__ import annotations

import re

import pytest

from .browser import browser_page, require_chromium
from .servers import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "preview-test-password"


@pytest.fixture(scope="module")
def server(open_server: Deployment) -> Deployment:
    require_chromium()
    open_server.create_superuser("op", PASSWORD)
    return open_server


@pytest.fixture
def page(server: Deployment, browser, tmp_path):
    login = f"{server.url}/admin/login/?next=/admin/voices/voice/"
    with browser_page(browser, login, tmp_path / "preview.png") as page:
        page.fill("#id_username", "op")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.click("text=joe")
        page.wait_for_selector("#preview-button")
        yield page


def test_preview_plays_the_sample_in_the_page(page):
    page.fill("#preview-text", "Hello there, this is a preview.")
    page.click("#preview-button")
    status = page.locator("#preview-status")
    status.wait_for(state="visible")
    page.wait_for_function(
        "/^Play(ing|ed) \\d/.test(document.getElementById('preview-status').textContent)",
        timeout=30_000,
    )
    duration = page.evaluate("document.getElementById('preview-audio').duration")
    assert 1.0 < duration < 5.0
    # The audio element really plays: its clock moves.
    page.wait_for_function("document.getElementById('preview-audio').currentTime > 0.2")


def test_preview_uses_the_unsaved_settings_and_reports_bad_ones(page):
    page.fill("#id_default_speed", "0.5")
    page.click("#preview-button")
    page.wait_for_function("/^Play/.test(document.getElementById('preview-status').textContent)")
    slow = page.evaluate("document.getElementById('preview-audio').duration")
    page.fill("#id_default_speed", "2.0")
    page.click("#preview-button")
    page.wait_for_function(
        "document.getElementById('preview-audio').duration < %f" % (slow * 0.7), timeout=30_000
    )

    page.fill("#id_default_speed", "5")
    page.click("#preview-button")
    page.wait_for_function(
        "/highlighted/.test(document.getElementById('preview-status').textContent)"
    )
    message = page.inner_text("#preview-status")
    assert re.search(r"default_speed: Ensure this value is less than or equal to 2\.0", message)
