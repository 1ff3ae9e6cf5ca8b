"""Headless Chromium for the page tests: Debian's build, driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Root needs --no-sandbox; the closed network needs the rest (no update or sync checks).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def require_chromium() -> None:
    """Skip without Chromium on a laptop; in CI (CI=true), where .ci/run installs it, fail."""
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is not installed, and CI needs it (.ci/run installs it)")
    pytest.skip("Chromium is not installed (apt-get install chromium)")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright Browser) for a module's pages; closed at the end.

    Starting Chromium takes a second or two, so a module starts one, and each test opens a
    page with cookies and storage of its own in it (browser_page).
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def browser_page(browser: Any, url: str, screenshot: Path) -> Iterator[Any]:
    """A fresh page at `url` in `browser`, as in a new profile (no cookies, no storage); a
    screenshot of its end state is kept."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    try:
        yield page
    finally:
        page.screenshot(path=str(screenshot), full_page=True)
        context.close()
