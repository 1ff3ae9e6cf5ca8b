"""GET /api/voices/ lists the enabled voices, starting with the bundled `joe`."""

from __future__ import annotations

import pytest

from voices.models import Voice


@pytest.mark.django_db
def test_it_lists_the_bundled_voice(client):
    response = client.get("/api/voices/")
    assert response.status_code == 200
    assert response.json() == {
        "voices": [
            {
                "voice_id": "joe",
                "name": "Joe",
                "language": "en-US",
                "gender": "male",
                "sample_rate": 22050,
                "description": "American English male voice (Piper en_US-joe-medium).",
            }
        ]
    }


@pytest.mark.django_db
def test_it_leaves_out_disabled_voices(client):
    Voice.objects.filter(voice_id="joe").update(enabled=False)
    assert client.get("/api/voices/").json() == {"voices": []}


@pytest.mark.django_db
def test_the_admin_lists_voices_for_staff(admin_client):
    response = admin_client.get("/admin/voices/voice/")
    assert response.status_code == 200
    assert b"joe" in response.content
