"""The demo page at /, in a real headless Chromium against a real Daphne."""

from __future__ import annotations

import time

import pytest

from .browser import browser_page, require_chromium
from .servers import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

LONG_TEXT = (
    "This is a long passage that keeps speaking for quite a while, sentence after sentence. " * 8
)
# About five seconds of speech: the last chunk arrives a second or so in, long before it plays.
FIVE_SECONDS = (
    "Hello there, thanks for waiting. The weather is lovely today, so let us go for a walk."
)


@pytest.fixture(scope="module")
def server(open_server: Deployment) -> Deployment:
    require_chromium()
    # Its lower bound of 2 s lets an idle close happen within a test.
    return open_server


@pytest.fixture
def page(server: Deployment, browser, tmp_path):
    with browser_page(browser, f"{server.url}/", tmp_path / "demo.png") as page:
        page.wait_for_function("document.getElementById('voice').value === 'joe'")
        yield page


def demo(page, expression: str):
    return page.evaluate(f"window.ttsDemo.{expression}")


def manage_voices(server: Deployment, code: str) -> None:
    server.manage("shell", "-c", f"from voices.models import *; {code}")


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
    # All of it is in, but it still plays: the idle countdown has not begun.
    assert page.inner_text("#connection") == "Connected · speaking"
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


def test_speak_as_i_type_is_heard_before_the_reply_ends_and_the_text_stays(page):
    page.check("#live")
    page.fill("#text", "")
    page.type("#text", "Hello there, thanks for calling. I can help with ", delay=40)
    # The first sentence was finished while typing: it is already being heard.
    page.wait_for_function("window.ttsDemo.received > 0", timeout=15_000)
    assert not page.evaluate("window.ttsDemo.log.some(m => m.status === 'complete')")
    page.type("#text", "that today", delay=40)
    page.press("#text", "Enter")
    page.wait_for_selector("#download:not([hidden])", timeout=30_000)
    # The reply stays on the page, and the next one would start on a line of its own.
    reply = "Hello there, thanks for calling. I can help with that today"
    assert page.input_value("#text") == reply + "\n"
    requests = {m["request_id"] for m in demo(page, "log")}
    assert len(requests) == 1  # one streamed request, not one per word
    assert demo(page, "errors") == []
    # Figures that do not measure the typist: first audio from when its words were sent (a
    # clause waits for the next word: typed at 40 ms a key, "thanks " took over 250 ms), and
    # how far the voice trails the words instead of a real-time factor.
    first_audio = int(page.inner_text("#ttfa").removesuffix(" ms"))
    assert 0 < first_audio < 1_000
    assert not page.is_visible("#rtf") and page.is_visible("#live-figures-note")
    page.wait_for_function("document.getElementById('lag').textContent.endsWith(' s')")


def test_stop_stays_live_until_the_last_audio_has_played(page):
    page.fill("#timeout", "2")
    page.fill("#text", FIVE_SECONDS)
    page.click("#speak")
    page.wait_for_function("window.ttsDemo.log.some(m => m.status === 'complete')", timeout=30_000)
    # Every chunk is in, and seconds of it are still to be heard: it can still be stopped.
    assert demo(page, "playing") > 0
    assert page.is_enabled("#stop") and not page.is_enabled("#speak")
    assert page.inner_text("#connection") == "Connected · speaking"

    page.wait_for_function("document.getElementById('stop').disabled", timeout=15_000)
    silent_since = time.monotonic()
    assert demo(page, "playing") == 0
    assert page.is_enabled("#speak")
    received = page.inner_text("#audio-seconds").removesuffix(" s")
    assert page.inner_text("#progress") == f"{received} s played of {received} s received"
    # The socket outlived its 2 s idle timeout while the audio played, and the countdown starts
    # with the silence, from the whole timeout: the server closes the socket when it ends.
    assert demo(page, "closes") == []
    assert page.inner_text("#connection") == "Connected · closes in 2 s if idle"
    page.wait_for_function("window.ttsDemo.closes.length > 0", timeout=5_000)
    assert time.monotonic() - silent_since > 1.5
    assert demo(page, "closes") == [4408]


def test_stop_after_the_last_chunk_silences_what_still_plays(page):
    page.fill("#text", FIVE_SECONDS)
    page.click("#speak")
    page.wait_for_function("window.ttsDemo.log.some(m => m.status === 'complete')", timeout=30_000)
    page.click("#stop")
    page.wait_for_function("window.ttsDemo.playing === 0", timeout=1_000)
    assert page.is_enabled("#speak") and not page.is_enabled("#stop")
    page.wait_for_timeout(500)
    # Nothing was left to cancel at the server, and nothing was asked of it: no error.
    assert [m["status"] for m in demo(page, "log")][-1] == "complete"
    assert demo(page, "errors") == []
    played, received = page.inner_text("#progress").split(" s played of ")
    assert float(played) < float(received.removesuffix(" s received"))


def test_words_light_up_in_order_as_they_are_heard(page):
    text = "One, two, three. Four five six, seven eight."
    page.fill("#text", text)
    page.click("#speak")
    # During playback, the word lit in the spoken text is one of the request's words.
    page.wait_for_selector("#spoken .word.now", timeout=30_000)
    assert page.is_visible("#playback") and page.is_enabled("#stop")
    assert page.inner_text("#spoken .word.now") in text
    page.wait_for_function("document.getElementById('stop').disabled", timeout=30_000)

    lit = demo(page, "highlights")
    timed = [m for m in demo(page, "log") if m["status"] == "word_timestamp"]
    assert [word["id"] for word in lit] == list(range(len(timed)))
    assert [word["shown"] for word in lit] == [
        "One", "two", "three", "Four", "five", "six", "seven", "eight"
    ]  # fmt: skip
    # Each one on the audio clock: lit once its time has come, in the frame it came (a frame is
    # 17 ms; a slow test machine may skip a few).
    lateness = sorted(word["at"] - word["start"] for word in lit)
    assert lateness[0] >= 0
    assert lateness[len(lateness) // 2] < 0.1
    assert page.inner_text("#spoken") == text


def test_ssml_is_shown_as_the_words_it_speaks(page):
    page.fill("#text", '<speak>Call <sub alias="the World Wide Web">WWW</sub> now.</speak>')
    page.click("#speak")
    page.wait_for_function(
        "window.ttsDemo.log.some(m => m.status === 'complete')"
        " && document.getElementById('stop').disabled",
        timeout=30_000,
    )
    assert page.inner_text("#spoken") == "Call WWW now."
    assert [word["shown"] for word in demo(page, "highlights")] == ["Call", "WWW", "now"]


def test_the_connect_panel_has_this_servers_url_and_the_pages_settings(server, page):
    assert page.inner_text("#ws-url") == f"ws://127.0.0.1:{server.port}/ws/tts/"
    page.fill("#text", "It's a test of the snippets.")
    page.select_option("#sample-rate", "16000")
    python = page.text_content("#snippet-python")
    assert f'URL = "ws://127.0.0.1:{server.port}/ws/tts/"' in python
    assert '"text": "It\'s a test of the snippets."' in python
    assert '"voice_id": "joe"' in python and '"sample_rate": 16000' in python
    assert "os.environ['TTS_API_KEY']" in python
    assert 'voice_id: "joe"' in page.text_content("#snippet-javascript")
    curl = page.text_content("#snippet-curl")
    assert f"curl {server.url}/v1/audio/speech" in curl
    assert '"voice":"joe"' in curl
    assert "It'\\''s a test of the snippets." in curl  # the quote, as a shell word needs it

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#tab-curl")
    page.click("#copy-snippet")
    assert page.evaluate("navigator.clipboard.readText()") == curl
    assert page.inner_text("#copy-snippet") == "Copied"


def test_the_default_voice_is_preselected_and_named_in_the_code(server, page):
    manage_voices(
        server,
        "Voice.objects.create(voice_id='amy', name='Amy', language='en-US', "
        "model=VoiceModel.objects.get())",
    )
    try:
        page.reload()
        page.wait_for_function("document.getElementById('voice').options.length === 2")
        # "amy" is listed first; the voice clients get when they name none is chosen.
        assert page.evaluate("[...document.getElementById('voice').options].map(o => o.value)") == [
            "amy",
            "joe",
        ]
        assert page.input_value("#voice") == "joe"
        page.select_option("#voice", "amy")
        assert '"voice_id": "amy"' in page.text_content("#snippet-python")
        assert 'voice_id: "amy"' in page.text_content("#snippet-javascript")
        assert '"voice":"amy"' in page.text_content("#snippet-curl")
    finally:
        manage_voices(server, "Voice.objects.filter(voice_id='amy').delete()")


def test_the_page_links_to_the_protocol_served_as_a_page(page):
    page.click(".masthead a:text('WebSocket protocol')")
    page.wait_for_selector("h1#the-websocket-protocol")
    assert page.title().startswith("The WebSocket protocol")
