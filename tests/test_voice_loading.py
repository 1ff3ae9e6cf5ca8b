"""A voice imported or enabled while the server runs is loaded and warmed before its first
request, in the process that synthesizes; one disabled is let go. (Redis workers:
test_redis.py.)"""

from __future__ import annotations

import datetime
import http.cookiejar
import re
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import replace
from typing import Any

import pytest

from speech.engine import arena, load_engine, registry, unload_model
from synthesis.voice_loading import ModelFiles, changes
from voices.freshness import Snapshot, stale_voices

from .servers import Deployment, deployment, wait_for
from .test_voice_availability import SECOND, copy_voice

PASSWORD = "a long test password 7"


def files(name: str, sha256: str = "a" * 64, folder: str = "/srv/voices") -> ModelFiles:
    return ModelFiles(
        name, "piper", f"{folder}/{name}.onnx", f"{folder}/{name}.onnx.json", 1000, sha256
    )


def test_it_loads_the_models_enabled_voices_use_and_lets_go_of_the_others():
    joe, lessac, amy = files("joe"), files("lessac"), files("amy")
    assert changes(held={joe, amy}, wanted={joe, lessac}) == ([lessac], [amy])
    assert changes(held={joe}, wanted={joe}) == ([], [])
    assert changes(held=set(), wanted={joe, amy}) == ([amy, joe], [])


def test_a_model_imported_again_with_other_files_is_let_go_and_loaded_anew():
    before, after = files("joe"), files("joe", sha256="b" * 64)
    assert changes(held={before}, wanted={after}) == ([after], [before])
    moved = files("joe", folder="/mnt/voices")
    assert changes(held={before}, wanted={moved}) == ([moved], [before])


def test_the_voices_whose_cached_lookups_went_stale_are_the_ones_that_changed():
    monday, tuesday = datetime.datetime(2026, 11, 30), datetime.datetime(2026, 12, 1)
    joe_files = ("piper", "/v/joe.onnx", "/v/joe.onnx.json", 1000, "a" * 64)
    before = Snapshot(
        voices={"joe": (monday, True, "", 1), "amy": (monday, True, "", 2)},
        models={1: joe_files, 2: ("piper", "/v/amy.onnx", "/v/amy.onnx.json", 9, "b" * 64)},
        pronunciations=(0, None),
    )
    assert stale_voices(before, before) == set()
    disabled = replace(before, voices={**before.voices, "amy": (tuesday, False, "", 2)})
    assert stale_voices(before, disabled) == {"amy"}
    renamed = replace(before, voices={"joe": before.voices["joe"], "ann": (tuesday, True, "", 2)})
    assert stale_voices(before, renamed) == {"amy", "ann"}
    reimported = replace(before, models={**before.models, 1: (*joe_files[:4], "c" * 64)})
    assert stale_voices(before, reimported) == {"joe"}


class SlowEngine:
    """An engine kind whose models named "slow" take until `go` is set to load."""

    go = threading.Event()
    loads: list[str] = []

    @classmethod
    def load(cls, model_path: str, *args: Any) -> Any:
        cls.loads.append(model_path)
        if "slow" in model_path:
            assert cls.go.wait(10)
        return object()


@pytest.fixture
def slow_engines(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "slow", SlowEngine)
    monkeypatch.setattr(arena, "_baseline", arena._baseline)  # letting go moves it
    SlowEngine.go.clear()
    SlowEngine.loads.clear()
    yield SlowEngine
    SlowEngine.go.set()
    for path in ("/slow.onnx", "/fast.onnx"):
        unload_model(path)


def test_a_model_loading_holds_up_no_other_model(slow_engines):
    fast = load_engine("slow", "/fast.onnx", "/fast.onnx.json")
    loading = [threading.Thread(target=load_engine, args=("slow", "/slow.onnx", "/s.json"))]
    loading.append(threading.Thread(target=load_engine, args=("slow", "/slow.onnx", "/s.json")))
    for thread in loading:
        thread.start()
    started = time.monotonic()
    assert load_engine("slow", "/fast.onnx", "/fast.onnx.json") is fast
    assert load_engine("slow", "/fast.onnx", "/fast.onnx.json", threads=2) is not fast
    assert time.monotonic() - started < 1
    slow_engines.go.set()
    for thread in loading:
        thread.join(10)
    # Two threads asked for the slow one at once; it loaded once.
    assert slow_engines.loads.count("/slow.onnx") == 1


def test_a_model_let_go_is_loaded_afresh_next_time(slow_engines):
    first = load_engine("slow", "/fast.onnx", "/fast.onnx.json")
    assert unload_model("/fast.onnx")
    assert not unload_model("/fast.onnx")
    assert load_engine("slow", "/fast.onnx", "/fast.onnx.json") is not first


def logged(running: Deployment, line: str, since: int, seconds: float = 30) -> bool:
    """Whether the server logs `line` (after the mark `since`) within `seconds`."""
    return wait_for(lambda: line in running.log(since), seconds)


@pytest.mark.e2e
def test_a_voice_imported_by_another_process_is_loaded_before_its_first_request(tmp_path):
    """And the server's cached lookups follow: a voice asked for before it was imported is
    found once it is, and one disabled by another process is refused."""
    with deployment(tmp_path, TTS_VOICE_CHECK_SECONDS="1") as running:
        too_soon = running.speak("Are you there?", voice_id="joe2")[-1]
        assert too_soon["code"] == "voice_not_found", too_soon
        mark = running.log_mark()
        copy_voice(tmp_path / "folder")
        said = running.manage("import_voices", "--dir", str(tmp_path / "folder"))
        assert "Imported en_US-joe2-medium (en-US): voices joe2" in said
        assert "Servers already running load new voices within 1 s." in said

        assert logged(running, f"Loaded voice model {SECOND} in ", mark), running.log(mark)
        messages = running.speak("Hello there, I am new here.", voice_id="joe2")
        assert messages[-1]["status"] == "complete", messages[-1]

        mark = running.log_mark()
        running.manage(
            "shell",
            "-c",
            "from voices.models import Voice; v = Voice.objects.get(voice_id='joe2'); "
            "v.enabled = False; v.save()",
        )
        assert logged(running, f"Let go of voice model {SECOND}: ", mark), running.log(mark)
        gone = running.speak("Are you still there?", voice_id="joe2")[-1]
        assert gone["code"] == "voice_not_found", gone
        assert "There is no voice 'joe2'" in gone["message"]
        assert running.speak("Still here.")[-1]["status"] == "complete"  # joe


def admin_session(running: Deployment) -> urllib.request.OpenerDirector:
    """A staff user's browser on the server's admin, logged in."""
    running.create_superuser("operator", PASSWORD)
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    fields = {"username": "operator", "password": PASSWORD, "next": "/admin/"}
    submit(browser, f"{running.url}/admin/login/", fields)
    return browser


def submit(browser: urllib.request.OpenerDirector, url: str, fields: dict[str, str]) -> str:
    """Fill in the form of the page at `url` with `fields` and send it; the page that answers."""
    form = browser.open(url).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token is not None, form
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), **fields}).encode()
    with browser.open(url, body) as page:
        return str(page.read().decode())


@pytest.mark.e2e
def test_a_voice_enabled_in_the_admin_is_loaded_at_once(tmp_path):
    # Checks ten minutes apart: only the save itself can have the server load it sooner.
    with deployment(tmp_path, TTS_VOICE_CHECK_SECONDS="600") as running:
        copy_voice(tmp_path / "folder")
        running.manage("import_voices", "--dir", str(tmp_path / "folder"))
        pk = running.manage(
            "shell",
            "-c",
            "from voices.models import Voice; v = Voice.objects.get(voice_id='joe2'); "
            "v.enabled = False; v.save(); print(v.pk)",
        ).split()[-1]
        browser = admin_session(running)
        voices = f"{running.url}/admin/voices/voice/"
        mark = running.log_mark()

        page = submit(browser, voices, {"action": "enable", "_selected_action": pk, "index": "0"})
        assert "1 voice enabled." in page
        assert logged(running, f"Loaded voice model {SECOND} in ", mark, 20), running.log(mark)
        messages = running.speak("Hello there, I am new here.", voice_id="joe2")
        assert messages[-1]["status"] == "complete", messages[-1]

        mark = running.log_mark()
        page = submit(browser, voices, {"action": "disable", "_selected_action": pk, "index": "0"})
        assert "1 voice disabled." in page
        assert logged(running, f"Let go of voice model {SECOND}: ", mark, 10), running.log(mark)
