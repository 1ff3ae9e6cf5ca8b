"""The demo page at /, in a real headless Chromium against a real Daphne."""

from __future__ import annotations

import pytest

from .browser import browser_page, require_chromium
from .servers import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

LONG_TEXT = (
    "This is a long passage that keeps speaking for quite a while, sentence after sentence. " * 8
)


@pytest.fixture(scope="module")
def server(open_server: Deployment) -> Deployment:
    require_chromium()
    # Its lower bound of 2 s lets an idle close happen within a test.
    return open_server


@pytest.fixture
def page(server: Deployment, tmp_path):
    with browser_page(f"{server.url}/", tmp_path / "demo.png") as page:
        page.wait_for_function("document.getElementById('voice').value === 'joe'")
        yield page


def demo(page, expression: str):
    return page.evaluate(f"window.ttsDemo.{expression}")


def test_it_plays_the_chunks_back_to_back_as_they_arrive(page):
    page.fill("#text", "Hello there, thanks for stopping by. The weather is lovely today.")
    page.select_option("#sample-rate", "16000")
    page.click("#speak")
    page.wait_for_selector("#download:not([hidden])", timeout=30_000)

    schedule = demo(page, "schedule")
    assert len(schedule) >= 3
    assert [chunk["sequence"] for chunk in schedule] == list(range(len(schedule)))
    for previous, chunk in zip(schedule, schedule[1:], strict=False):
        assert chunk["start"] == pytest.approx(previous["end"], abs=1e-6)  # no gap, no overlap
    assert 3.0 < schedule[-1]["end"] - schedule[0]["start"] < 8.0
    assert page.inner_text("#chunks") == str(len(schedule))
    assert page.inner_text("#ttfa").endswith(" ms")
    assert float(page.inner_text("#rtf")) < 1
    assert demo(page, "errors") == []
    assert "closes in" in page.inner_text("#connection")
    # The utterance can be downloaded: a WAV header, then every sample received.
    wav = page.evaluate(
        """async () => {
            const bytes = new Uint8Array(await (await fetch(download.href)).arrayBuffer());
            return {riff: String.fromCharCode(...bytes.slice(0, 4)), length: bytes.length};
        }"""
    )
    seconds = schedule[-1]["end"] - schedule[0]["start"]
    assert wav["riff"] == "RIFF"
    assert wav["length"] == pytest.approx(44 + seconds * 16000 * 2, abs=4)


def test_ctrl_enter_in_the_text_speaks(page):
    page.fill("#text", "Quick.")
    page.press("#text", "Control+Enter")
    page.wait_for_selector("#download:not([hidden])", timeout=30_000)
    assert demo(page, "received") >= 1


def test_stop_cancels_the_request_and_silences_it(page):
    page.fill("#text", LONG_TEXT)
    page.click("#speak")
    page.wait_for_function("window.ttsDemo.playing > 0", timeout=30_000)
    page.click("#stop")
    page.wait_for_function("window.ttsDemo.playing === 0", timeout=1_000)
    page.wait_for_function("window.ttsDemo.log.some(m => m.status === 'cancelled')", timeout=10_000)
    scheduled = len(demo(page, "schedule"))
    page.wait_for_timeout(1_500)
    assert len(demo(page, "schedule")) == scheduled  # nothing more is played
    assert page.is_enabled("#speak") and not page.is_enabled("#stop")


def test_a_voice_removed_meanwhile_is_reported_next_to_the_voice_picker(server, page):
    server.manage(
        "shell",
        "-c",
        "from voices.models import *; "
        "Voice.objects.create(voice_id='brief', name='Brief', language='en-US', "
        "model=VoiceModel.objects.get())",
    )
    page.reload()
    page.wait_for_function("[...document.getElementById('voice').options].length === 2")
    page.select_option("#voice", "brief")
    server.manage(
        "shell",
        "-c",
        "from voices.models import Voice; Voice.objects.get(voice_id='brief').delete()",
    )
    page.click("#speak")
    page.wait_for_function("document.getElementById('voice-error').textContent !== ''")
    assert "no longer available" in page.inner_text("#voice-error")
    assert page.get_attribute("#voice", "aria-invalid") == "true"
    page.wait_for_function("[...document.getElementById('voice').options].length === 1")


def test_a_bad_timeout_is_reported_next_to_its_control(page):
    page.fill("#timeout", "90")
    page.click("#speak")
    page.wait_for_function("document.getElementById('timeout-error').textContent !== ''")
    # The operator's bounds, as the server states them (this server allows 2 to 60).
    assert "from 2 to 60, not '90'" in page.inner_text("#timeout-error")
    assert page.get_attribute("#timeout", "min") == "2"


def test_ssml_the_server_refuses_is_reported_next_to_the_text_and_good_ssml_plays(page):
    page.fill("#text", "<speak><prosody rate='slow'>Hello</prosody></speak>")
    page.click("#speak")
    page.wait_for_function("document.getElementById('text-error').textContent !== ''")
    assert "SSML tag <prosody> is not supported" in page.inner_text("#text-error")
    assert page.get_attribute("#text", "aria-invalid") == "true"
    page.fill("#text", '<speak>One <break time="400ms"/> two.</speak>')
    page.click("#speak")
    page.wait_for_function("window.ttsDemo.log.some(m => m.status === 'complete')")
    assert page.inner_text("#text-error") == ""
    assert demo(page, "schedule.length") >= 2  # the pause ends a chunk


def test_an_idle_close_is_explained_and_reconnect_works(page):
    page.fill("#timeout", "2")
    page.fill("#text", "Hi.")
    page.click("#speak")
    page.wait_for_selector("#reconnect:not([hidden])", timeout=15_000)
    assert "Closed after 2 seconds without activity" in page.inner_text("#connection")
    assert demo(page, "closes") == [4408]
    page.click("#reconnect")
    page.wait_for_function("/closes in/.test(document.getElementById('connection').textContent)")


def test_speak_as_i_type_is_heard_before_the_reply_ends(page):
    page.check("#live")
    page.fill("#text", "")
    page.type("#text", "Hello there, thanks for calling. I can help with ", delay=40)
    # The first sentence was finished while typing: it is already being heard.
    page.wait_for_function("window.ttsDemo.received > 0", timeout=15_000)
    assert not page.evaluate("window.ttsDemo.log.some(m => m.status === 'complete')")
    page.type("#text", "that today", delay=40)
    page.press("#text", "Enter")
    page.wait_for_selector("#download:not([hidden])", timeout=30_000)
    assert page.input_value("#text") == ""
    requests = {m["request_id"] for m in demo(page, "log")}
    assert len(requests) == 1  # one streamed request, not one per word
    assert demo(page, "errors") == []
