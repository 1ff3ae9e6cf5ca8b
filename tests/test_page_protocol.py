"""The demo page takes the protocol's codes, rates and limits from the server, not copies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from protocol import CloseCode, ErrorCode
from speech.engine import SAMPLE_RATES

DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "static" / "demo" / "demo.js"


@pytest.fixture
def page(client, settings) -> str:
    settings.TTS_REQUIRE_API_KEY = False
    settings.TTS_MAX_TEXT_CHARS = 1234
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_is_handed_every_close_and_error_code(page: str) -> None:
    found = re.search(r'<script id="tts-protocol" type="application/json">(.*?)</script>', page)
    assert found is not None, "the page carries no protocol table"
    table = json.loads(found[1])
    assert table["close_codes"] == {code.name: code.value for code in CloseCode}
    assert table["error_codes"] == {code.name: code.value for code in ErrorCode}


def test_the_form_offers_the_servers_rates_and_text_limit(page: str) -> None:
    rates = re.findall(r"<option( selected)?>(\d+)</option>", page)
    assert [int(rate) for _, rate in rates] == list(SAMPLE_RATES)
    assert [int(rate) for selected, rate in rates if selected] == [24000]
    assert 'maxlength="1234"' in page


def test_the_script_names_codes_only_through_the_servers_table() -> None:
    script = DEMO_SCRIPT.read_text()
    assert not re.search(r"\b(1001|1011|44\d\d)\b", script), "a close code written out"
    quoted = set(re.findall(r"\"([a-z]+(?:_[a-z]+)+)\"", script))
    assert not quoted & {code.value for code in ErrorCode}, "an error code written out"
