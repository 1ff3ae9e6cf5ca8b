"""The admin on a 1280 x 800 laptop, in a real headless Chromium against a real Daphne: what an
operator reads fits the width, under the product's name and icon."""

from __future__ import annotations

import re

import httpx
import pytest

from .browser import browser_page, require_chromium
from .servers import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "a laptop-sized test password"
WIDTH, HEIGHT = 1280, 800

# How far right anything in the page's content reaches, in CSS pixels. Unlike the page's
# scrollWidth, this also catches what is clipped, or hidden behind a box's own scroll bar.
CONTENT_RIGHT = """
  Math.max(...[...document.querySelectorAll('#content *')]
    .map(element => element.getBoundingClientRect().right))
"""


@pytest.fixture(scope="module")
def server(keyed_server: Deployment) -> Deployment:
    """The shared server that requires keys: its key list has a key in it."""
    require_chromium()
    keyed_server.create_superuser("laptop", PASSWORD)
    return keyed_server


@pytest.fixture(scope="module")
def page(server: Deployment, browser, tmp_path_factory: pytest.TempPathFactory):
    """One logged-in page at 1280 x 800 for the module's tests."""
    screenshot = tmp_path_factory.mktemp("admin-layout") / "admin.png"
    with browser_page(browser, f"{server.url}/admin/login/", screenshot) as page:
        page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
        page.fill("#id_username", "laptop")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{server.url}/admin/")
        yield page


def right_edge(page, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box["x"] + box["width"]


def assert_no_horizontal_overflow(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    assert page.evaluate(CONTENT_RIGHT) <= WIDTH


def test_the_key_list_shows_usage_and_connections_without_scrolling(server, page):
    page.goto(f"{server.url}/admin/access/apikey/")
    results = right_edge(page, "#changelist-form .results")
    assert results <= WIDTH
    for column in ("connections", "requests", "characters", "audio"):
        # Inside the list's own box too: past its edge, a column is behind a scroll bar.
        assert right_edge(page, f"th.column-{column}") <= results, column
        assert right_edge(page, f"td.field-{column}") <= results, column
    assert re.fullmatch(r"\d+ of 16", page.inner_text("td.field-connections"))
    assert_no_horizontal_overflow(page)


def test_a_voice_models_page_fits_the_width(server, page):
    page.goto(f"{server.url}/admin/voices/voicemodel/")
    page.click("#result_list tbody th a")
    page.wait_for_selector(".field-model_path")
    assert_no_horizontal_overflow(page)


def test_the_admin_has_the_products_name_icon_and_a_link_to_the_demo_page(server, page):
    page.goto(f"{server.url}/admin/")
    assert page.inner_text("#site-name") == "Text-to-speech server"
    assert page.title().endswith("| Text-to-speech server")
    assert page.get_attribute("#demo-page-link", "href") == "/"
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon is not None and icon.endswith(".svg")
    response = httpx.get(server.url + icon)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"


def test_favicon_ico_leads_to_the_icon(server):
    moved = httpx.get(f"{server.url}/favicon.ico")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "/static/favicon.svg"
    icon = httpx.get(f"{server.url}/favicon.ico", follow_redirects=True)
    assert icon.status_code == 200
    assert icon.text.startswith("<svg")
