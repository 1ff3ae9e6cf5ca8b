"""Uploading a voice's two files in the admin imports it, or explains why not and keeps nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from voices.models import Voice, VoiceModel

from .conftest import BUNDLED_CONFIG, BUNDLED_MODEL, staff_client

UPLOAD = "/admin/voices/voicemodel/add/"


def upload(name: str, model: bytes | None = None, config_name: str | None = None):
    files = {
        "model_file": SimpleUploadedFile(
            name, BUNDLED_MODEL.read_bytes() if model is None else model
        ),
        "config_file": SimpleUploadedFile(
            config_name or name + ".json", BUNDLED_CONFIG.read_bytes()
        ),
    }
    return staff_client().post(UPLOAD, files)


@pytest.fixture(autouse=True)
def voices_dir(settings, tmp_path):
    settings.VOICES_DIR = tmp_path / "voices"
    return settings.VOICES_DIR


@pytest.mark.django_db
def test_the_upload_page_renders():
    page = staff_client().get(UPLOAD).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="model_file"' in page


@pytest.mark.django_db
def test_uploading_a_voice_imports_it(voices_dir):
    response = upload("en_US-uploaded-medium.onnx")
    model = VoiceModel.objects.get(name="en_US-uploaded-medium")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/voices/voicemodel/{model.pk}/change/"
    assert (model.source, model.sample_rate) == (VoiceModel.SOURCE_UPLOAD, 22050)
    assert model.model_path == str(voices_dir / "en_US-uploaded-medium/en_US-uploaded-medium.onnx")
    assert Voice.objects.filter(voice_id="uploaded", model=model).exists()
    assert sorted(p.name for p in voices_dir.iterdir()) == ["en_US-uploaded-medium"]


@pytest.mark.django_db
def test_a_model_that_does_not_load_is_refused_and_nothing_is_kept(voices_dir):
    response = upload("en_US-broken-medium.onnx", model=BUNDLED_MODEL.read_bytes()[:10_000])
    assert response.status_code == 200
    assert "en_US-broken-medium.onnx: the model does not load" in response.content.decode()
    assert ".upload-" not in response.content.decode()
    assert not VoiceModel.objects.filter(name="en_US-broken-medium").exists()
    assert list(voices_dir.iterdir()) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, config_name, complaint",
    [
        ("voice.bin", None, "must end in .onnx"),
        ("en_US-a-medium.onnx", "other.onnx.json", "must be named en_US-a-medium.onnx.json"),
        ("en_US-joe-medium.onnx", None, "a voice model with this name exists already"),
    ],
)
def test_misnamed_or_duplicate_files_are_refused(name, config_name, complaint):
    response = upload(name, model=b"not read", config_name=config_name)
    assert response.status_code == 200
    assert complaint in response.content.decode()
    assert VoiceModel.objects.count() == 1
