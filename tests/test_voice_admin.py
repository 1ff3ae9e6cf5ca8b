"""Managing voices in the Django admin, and what clients hear when an operator changes one."""

from __future__ import annotations

import io
import wave

import pytest
from asgiref.sync import sync_to_async

from voices.models import Voice, VoiceModel

from .clients import pcm_of, speak
from .conftest import staff_client

TEXT = "The quick brown fox jumps over the lazy dog."


def voice_form(**changes: object) -> dict[str, object]:
    """The add/change form's fields for a voice on the bundled model."""
    form = {
        "voice_id": "joe-fast",
        "name": "Joe (fast)",
        "enabled": "on",
        "model": VoiceModel.objects.get(name="en_US-joe-medium").pk,
        "speaker": 0,
        "language": "en-US",
        "gender": "male",
        "description": "Joe, in a hurry.",
        "default_speed": 1.5,
        "noise_scale": "",
        "noise_width": "",
        "sentence_silence": 0,
        "volume": 1.0,
        # The inline of the voice's own pronunciations, empty.
        "pronunciations-TOTAL_FORMS": 0,
        "pronunciations-INITIAL_FORMS": 0,
    }
    form.update(changes)
    return form


async def spoken_samples(socket, voice_id: str) -> int:
    messages = await speak(socket, TEXT, voice_id=voice_id)
    assert messages[-1]["status"] == "complete", messages[-1]
    return len(pcm_of(messages))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/admin/voices/voice/",
        "/admin/voices/voice/add/",
        "/admin/voices/voicemodel/",
        "/admin/voices/voice/?enabled__exact=1&language=en-US&q=joe",
        "/admin/voices/voicemodel/?engine__exact=piper&source__exact=package",
    ],
)
def test_the_admin_pages_render_with_and_without_voices(path):
    client = staff_client()
    with_voices = client.get(path)
    assert with_voices.status_code == 200
    Voice.objects.all().delete()
    VoiceModel.objects.all().delete()
    assert client.get(path).status_code == 200


@pytest.mark.django_db
def test_a_voice_and_its_model_pages_show_their_settings():
    client = staff_client()
    joe = Voice.objects.get(voice_id="joe")
    page = client.get(f"/admin/voices/voice/{joe.pk}/change/").content.decode()
    assert "How it speaks" in page and 'name="default_speed"' in page
    model_page = client.get(f"/admin/voices/voicemodel/{joe.model.pk}/change/").content.decode()
    assert joe.model.sha256 in model_page  # read-only metadata
    assert 'name="sha256"' not in model_page
    assert "voices-0-voice_id" in model_page  # its voices, inline


@pytest.mark.django_db
def test_deleting_a_model_that_voices_use_is_refused():
    client = staff_client()
    model = VoiceModel.objects.get(name="en_US-joe-medium")
    page = client.get(f"/admin/voices/voicemodel/{model.pk}/delete/").content.decode()
    assert "would require deleting the following protected related objects" in page
    client.post(f"/admin/voices/voicemodel/{model.pk}/delete/", {"post": "yes"})
    assert VoiceModel.objects.filter(pk=model.pk).exists()


async def test_a_voice_created_in_the_admin_speaks_faster_and_disabling_it_hides_it(connect):
    client = await sync_to_async(staff_client)()
    form = await sync_to_async(voice_form)()
    response = await sync_to_async(client.post)("/admin/voices/voice/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]

    socket = await connect()
    normal = await spoken_samples(socket, "joe")
    fast = await spoken_samples(socket, "joe-fast")
    assert fast < normal * 0.8

    fast_voice = await Voice.objects.aget(voice_id="joe-fast")
    await sync_to_async(client.post)(
        "/admin/voices/voice/",
        {"action": "disable", "_selected_action": [fast_voice.pk], "index": 0},
    )
    await socket.send_json_to({"text": TEXT, "voice_id": "joe-fast"})
    assert (await socket.receive_json_from(timeout=10))["code"] == "voice_not_found"


async def test_an_edit_in_the_admin_reaches_the_next_request_without_a_restart(connect):
    socket = await connect()
    before = await spoken_samples(socket, "joe")  # also caches joe's settings
    joe = await Voice.objects.select_related("model").aget(voice_id="joe")
    client = await sync_to_async(staff_client)()
    form = await sync_to_async(voice_form)(
        voice_id="joe", name="Joe", description=joe.description, default_speed=1.6
    )
    response = await sync_to_async(client.post)(f"/admin/voices/voice/{joe.pk}/change/", form)
    assert response.status_code == 302
    after = await spoken_samples(socket, "joe")
    assert after < before * 0.8


async def test_an_alias_given_in_the_admin_is_answered_at_once_and_must_name_one_voice(connect):
    socket = await connect()
    await socket.send_json_to({"text": TEXT, "voice_id": "narrator"})
    assert (await socket.receive_json_from(timeout=10))["code"] == "voice_not_found"
    client = await sync_to_async(staff_client)()
    response = await sync_to_async(client.post)(
        "/admin/voices/voice/add/", await sync_to_async(voice_form)(aliases="narrator, reader")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert await spoken_samples(socket, "narrator") > 0  # the cached miss did not stick
    assert await spoken_samples(socket, "reader") > 0
    # An alias that another voice answers to, or another voice's id, is refused by the form.
    for taken in ("reader", "joe", "bad alias!"):
        form = await sync_to_async(voice_form)(voice_id="joe-two", aliases=taken)
        response = await sync_to_async(client.post)("/admin/voices/voice/add/", form)
        assert response.status_code == 200
        assert "aliases" in response.context["adminform"].form.errors
    assert not await Voice.objects.filter(voice_id="joe-two").aexists()


def preview_form(**changes: object) -> dict[str, object]:
    form = voice_form(**changes)
    form["text"] = changes.get("text", "Hello there, this is a preview.")
    return form


@pytest.mark.django_db
def test_preview_returns_a_wav_of_the_text_with_the_forms_settings():
    client = staff_client()
    response = client.post("/admin/voices/preview/", preview_form(default_speed=1.0))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(response.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        normal = wav.getnframes()
    fast = client.post("/admin/voices/preview/", preview_form(default_speed=2.0)).content
    with wave.open(io.BytesIO(fast)) as wav:
        assert wav.getnframes() < normal * 0.7
    assert 1.0 < normal / 22050 < 5.0


@pytest.mark.django_db
def test_preview_names_bad_settings_and_needs_staff(client):
    assert client.post("/admin/voices/preview/", preview_form()).status_code == 403
    response = staff_client().post("/admin/voices/preview/", preview_form(volume=9, speaker=3))
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "less than or equal to 3.0" in fields["volume"]
    assert "has speakers 0 to 0" in fields["speaker"]


async def test_a_voice_deleted_in_the_admin_answers_voice_not_found(connect):
    model = await VoiceModel.objects.aget(name="en_US-joe-medium")
    temp = await Voice.objects.acreate(
        voice_id="joe-temp", name="Temp", language="en-US", model=model
    )
    socket = await connect()
    assert await spoken_samples(socket, "joe-temp") > 0  # now cached
    client = await sync_to_async(staff_client)()
    response = await sync_to_async(client.post)(
        f"/admin/voices/voice/{temp.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    await socket.send_json_to({"text": TEXT, "voice_id": "joe-temp"})
    assert (await socket.receive_json_from(timeout=10))["code"] == "voice_not_found"
