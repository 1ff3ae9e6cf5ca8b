"""A voice whose files go missing or break after import: the import says which and why, the
server still starts, and the voice is shown as unavailable and refused at once, while the
other voices keep working."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import AsyncClient

from synthesis.voice_loading import preload_voices
from voices.models import Voice

from .clients import speak
from .conftest import BUNDLED_CONFIG, BUNDLED_MODEL, staff_client
from .servers import ROOT, Deployment, free_port, wait_for, wait_for_port

pytestmark = pytest.mark.e2e

SECOND = "en_US-joe2-medium"


def copy_voice(folder: Path, name: str = SECOND) -> tuple[Path, Path]:
    """The bundled voice's files, copied into `folder` under another name."""
    folder.mkdir(parents=True, exist_ok=True)
    model, config = folder / f"{name}.onnx", folder / f"{name}.onnx.json"
    shutil.copyfile(BUNDLED_MODEL, model)
    shutil.copyfile(BUNDLED_CONFIG, config)
    return model, config


def import_voices(*arguments: str) -> tuple[str, str]:
    """Run import_voices; its output and warnings (it raises CommandError if it fails)."""
    out, err = StringIO(), StringIO()
    call_command("import_voices", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def config_without_phonemes() -> str:
    config = json.loads(BUNDLED_CONFIG.read_text())
    del config["phoneme_id_map"]
    return json.dumps(config)


# How a file can break after import, and what the admin then says about it.
BREAKAGES = {
    "model missing": (lambda model, config: model.unlink(), "model file {model} is missing"),
    "model truncated": (
        lambda model, config: model.write_bytes(BUNDLED_MODEL.read_bytes()[:100_000]),
        "model file {model} has changed since it was imported",
    ),
    "config missing": (lambda model, config: config.unlink(), "config file {config} is missing"),
    "config not JSON": (
        lambda model, config: config.write_text("{not json"),
        "config file {config} is not JSON",
    ),
    "config not Piper's": (
        lambda model, config: config.write_text(config_without_phonemes()),
        "config file {config} is not a Piper config (no phoneme_id_map)",
    ),
}


@pytest.mark.django_db(transaction=True)
def test_it_imports_the_other_voices_and_names_the_one_whose_model_is_gone(tmp_path):
    model, _ = copy_voice(tmp_path)
    import_voices("--dir", str(tmp_path))
    model.unlink()
    copy_voice(tmp_path, "en_US-joe3-medium")

    output, warnings = import_voices("--dir", str(tmp_path))  # no CommandError: it succeeds

    assert "Imported en_US-joe3-medium (en-US): voices joe3" in output
    assert (
        f"Not imported {SECOND}: {model}: no such file (its voices stay registered but "
        "unavailable until this is fixed: joe2)"
    ) in warnings
    assert "1 of 2 voices could not be imported" in warnings


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_admin_shows_why_a_voice_is_unavailable(tmp_path, breakage):
    model, config = copy_voice(tmp_path)
    import_voices("--dir", str(tmp_path))
    breaking, reason = BREAKAGES[breakage]
    breaking(model, config)
    reason = reason.format(model=model.resolve(), config=config.resolve())
    client = staff_client()

    voice_list = client.get("/admin/voices/voice/").content.decode()
    assert f"Unavailable: {reason}" in voice_list
    assert "Available" in voice_list  # joe
    joe2 = Voice.objects.get(voice_id="joe2")
    page = client.get(f"/admin/voices/voice/{joe2.pk}/change/").content.decode()
    assert f"Unavailable: {reason}" in page
    model_page = client.get(f"/admin/voices/voicemodel/{joe2.model_id}/change/").content.decode()
    assert f"Unavailable: {reason}" in model_page


@pytest.mark.django_db(transaction=True)
def test_the_voice_list_leaves_out_an_unavailable_voice(client, tmp_path):
    model, _ = copy_voice(tmp_path)
    import_voices("--dir", str(tmp_path))
    listed = [voice["voice_id"] for voice in client.get("/api/voices/").json()["voices"]]
    assert listed == ["joe", "joe2"]

    model.unlink()
    Voice.objects.get(voice_id="joe2").save()  # as an edit would: the cached lookup is cleared
    listed = [voice["voice_id"] for voice in client.get("/api/voices/").json()["voices"]]
    assert listed == ["joe"]


async def break_second_voice(tmp_path: Path) -> None:
    model, _ = copy_voice(tmp_path)
    await sync_to_async(import_voices)("--dir", str(tmp_path))
    model.unlink()


@pytest.mark.django_db(transaction=True)
async def test_readyz_stays_ready_and_names_the_voice_when_another_can_be_used(tmp_path):
    await break_second_voice(tmp_path)
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["voices"] == "degraded: 1 of 2 enabled voices unavailable: joe2"
    assert str(tmp_path) not in response.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_readyz_is_not_ready_when_no_enabled_voice_can_be_used(tmp_path):
    await break_second_voice(tmp_path)
    await Voice.objects.filter(voice_id="joe").aupdate(enabled=False)
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["checks"]["voices"] == "failed: 1 of 1 enabled voices unavailable: joe2"


async def test_a_request_for_an_unavailable_voice_is_refused_at_once_with_the_reason(
    connect, tmp_path
):
    await break_second_voice(tmp_path)
    socket = await connect()
    await socket.send_json_to({"text": "Hello there.", "voice_id": "joe2", "request_id": "r"})
    error = await socket.receive_json_from(timeout=5)
    assert error == {
        "status": "error",
        "request_id": "r",
        "code": "voice_not_found",
        "message": "Voice 'joe2' exists but is unavailable: its model file is missing. An "
        "operator must restore or re-import it; GET /api/voices/ lists the voices that can be "
        "used.",
        "field": "voice_id",
    }
    assert (await speak(socket, "Still here."))[-1]["status"] == "complete"


async def test_a_model_that_fails_to_load_at_start_is_unavailable(connect, tmp_path):
    model, _ = copy_voice(tmp_path)
    await sync_to_async(import_voices)("--dir", str(tmp_path))
    # Damaged inside but the same size: only loading it tells.
    with open(model, "r+b") as damaged:
        damaged.write(b"\0" * 4096)
    await sync_to_async(preload_voices)()

    socket = await connect()
    await socket.send_json_to({"text": "Hello there.", "voice_id": "joe2"})
    error = await socket.receive_json_from(timeout=5)
    assert error["code"] == "voice_not_found"
    assert "Voice 'joe2' exists but is unavailable: its model does not load." in error["message"]
    voice = await Voice.objects.aget(voice_id="joe2")
    client = await sync_to_async(staff_client)()
    page = await sync_to_async(client.get)(f"/admin/voices/voice/{voice.pk}/change/")
    assert f"Unavailable: model {model.resolve()} does not load (" in page.content.decode()


def shadow_bundled_voice(site: Path) -> Path:
    """A copy of the bundled voice's package in `site`, which PYTHONPATH puts before the
    installed one; returns its model file. (Deleting the installed one would break every
    other test running.)"""
    installed = BUNDLED_MODEL.parent.parent
    package = site / installed.name
    (package / "data").mkdir(parents=True)
    shutil.copyfile(installed / "__init__.py", package / "__init__.py")
    for data in (BUNDLED_MODEL, BUNDLED_CONFIG):
        shutil.copyfile(data, package / "data" / data.name)
    for dist_info in installed.parent.glob(installed.name + "-*.dist-info"):
        shutil.copytree(dist_info, site / dist_info.name)
    return package / "data" / BUNDLED_MODEL.name


def test_make_run_starts_and_says_why_when_the_bundled_voice_is_gone(tmp_path):
    site, data = tmp_path / "site", tmp_path / "data"
    shadow_model = shadow_bundled_voice(site)
    copy_voice(tmp_path / "voices")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TTS_")},
        "DJANGO_SETTINGS_MODULE": "ttsproject.settings",
        "PYTHONPATH": str(site),
        "DATA_DIR": str(data),
        "TTS_REQUIRE_API_KEY": "false",
    }
    # Yesterday's start registered joe; a second voice came from a folder.
    for command in (["migrate", "-v0"], ["import_voices", "--dir", str(tmp_path / "voices")]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    shadow_model.unlink()

    port = free_port()
    log = tmp_path / "make-run.log"
    with open(log, "wb") as output:
        make = subprocess.Popen(
            # -o: the venv is installed; make must not reinstall it in the middle of a test.
            ["make", "-o", ".venv/.installed", "run", "HOST=127.0.0.1", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, make, seconds=120)
        running = Deployment(port, env, data, [])
        said = log.read_text()
        assert (
            f"Not imported en_US-joe-medium: {shadow_model}: no such file (its voices stay "
            "registered but unavailable until this is fixed: joe)"
        ) in said
        assert wait_for(lambda: running.get("/readyz")[0] == 200, 30), running.get("/readyz")
        assert running.get("/readyz")[1]["checks"]["voices"] == (
            "degraded: 1 of 2 enabled voices unavailable: joe"
        )
        listed = [voice["voice_id"] for voice in running.get("/api/voices/")[1]["voices"]]
        assert listed == ["joe2"]
        refused = running.speak("Hello there.")
        assert refused[-1]["code"] == "voice_not_found"
        assert (
            "Voice 'joe' exists but is unavailable: its model file is missing"
            in (refused[-1]["message"])
        )
        assert running.speak("Hello there.", voice_id="joe2")[-1]["status"] == "complete"
    finally:
        os.killpg(make.pid, signal.SIGTERM)  # make, serve and Daphne: the session make leads
        make.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # whatever has not stopped by now
            os.killpg(make.pid, signal.SIGKILL)
