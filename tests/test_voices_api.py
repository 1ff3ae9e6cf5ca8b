"""GET /api/voices/ lists the enabled voices, starting with the bundled `joe`."""

from __future__ import annotations

import pytest

from voices.models import Voice


@pytest.mark.django_db(transaction=True)
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
                "speaker": 0,
                "default_speed": 1.0,
                "aliases": [
                    "meher",
                    "sophia",
                    "alloy",
                    "ash",
                    "ballad",
                    "coral",
                    "echo",
                    "fable",
                    "onyx",
                    "nova",
                    "sage",
                    "shimmer",
                    "verse",
                    "marin",
                    "cedar",
                ],
            }
        ]
    }


@pytest.mark.django_db(transaction=True)
def test_it_leaves_out_disabled_voices(client):
    Voice.objects.filter(voice_id="joe").update(enabled=False)
    assert client.get("/api/voices/").json() == {"voices": []}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language, found", [("en", ["joe"]), ("en-US", ["joe"]), ("de", [])])
def test_it_filters_by_language(client, language, found):
    voices = client.get("/api/voices/", {"language": language}).json()["voices"]
    assert [voice["voice_id"] for voice in voices] == found
