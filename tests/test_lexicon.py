"""The pronunciation lexicon: entries made in the admin, and how they are found in text."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError

from speech.lexicon import Entry, Lexicon, lexicon_of
from speech.text.script import Plain, Reading
from voices.lexicon import aget_lexicon
from voices.models import Pronunciation, Voice

from .conftest import staff_client


def words(text: str, replacement: str, case_sensitive: bool = False) -> Entry:
    return Entry(text, replacement, phonemes=False, case_sensitive=case_sensitive)


def ipa(text: str, replacement: str) -> Entry:
    return Entry(text, replacement, phonemes=True, case_sensitive=False)


NGINX = words("Nginx", "engine x")
NEW_YORK = words("New York", "the big apple")
NEW_YORK_CITY = words("New York City", "NYC")


@pytest.mark.parametrize(
    "entries, text, expected",
    [
        ([NGINX], "Run Nginx.", [Plain("Run "), Reading("Nginx", "engine x"), Plain(".")]),
        ([NGINX], "nginx", [Reading("nginx", "engine x")]),
        (
            [NEW_YORK],
            "In New York now",
            [Plain("In "), Reading("New York", "the big apple"), Plain(" now")],
        ),
        ([NEW_YORK], "new  York\nnow", [Reading("new  York", "the big apple"), Plain("\nnow")]),
        (
            [NEW_YORK, NEW_YORK_CITY],
            "New York City, New York",
            [Reading("New York City", "NYC"), Plain(", "), Reading("New York", "the big apple")],
        ),
        (
            [words("US", "you ess", case_sensitive=True)],
            "us US",
            [Plain("us "), Reading("US", "you ess")],
        ),
        (
            [words("cat", "kitty")],
            "concatenate cats cat.",
            [Plain("concatenate cats "), Reading("cat", "kitty"), Plain(".")],
        ),
        (
            [words("C++", "see plus plus")],
            "C++, ABC++ and C++x",
            [
                Reading("C++", "see plus plus"),
                Plain(", ABC++ and "),
                Reading("C++", "see plus plus"),
                Plain("x"),
            ],
        ),
        (
            [words("Dr.", "Doctor")],
            "Dr. Who. Drive, Dr",
            [Reading("Dr.", "Doctor"), Plain(" Who. Drive, Dr")],
        ),
        ([ipa("Nginx", "ˈɛndʒɪn ˈɛks")], "NGINX", [Reading("NGINX", "[[ ˈɛndʒɪn ˈɛks ]]")]),
        ([NGINX], "Nothing to change.", [Plain("Nothing to change.")]),
        ([], "Nginx in New York", [Plain("Nginx in New York")]),
        ([words(" ", "nothing")], "Nginx", [Plain("Nginx")]),
    ],
)
def test_it_reads_entries_as_whole_words_and_keeps_the_rest(entries, text, expected):
    assert Lexicon(entries).apply(text) == expected


def test_a_large_lexicon_finds_its_entries_and_only_them():
    entries = [words(f"term{number}", f"t {number}") for number in range(2000)] + [NGINX]
    assert Lexicon(entries).apply("Use term1999 and Nginx, not term20000.") == [
        Plain("Use "),
        Reading("term1999", "t 1999"),
        Plain(" and "),
        Reading("Nginx", "engine x"),
        Plain(", not term20000."),
    ]


def test_an_empty_lexicon_is_false_and_the_same_entries_are_indexed_once():
    assert not Lexicon([]) and len(Lexicon([NGINX, NEW_YORK])) == 2
    assert lexicon_of((NGINX, NEW_YORK)) is lexicon_of((NGINX, NEW_YORK))


def pronunciation(**fields: object) -> Pronunciation:
    return Pronunciation(**{"text": "Nginx", "replacement": "engine x", **fields})


def messages(error: ValidationError) -> str:
    return " ".join(message for field in error.message_dict.values() for message in field)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("voice", [None, "joe"])
def test_phonemes_the_voice_cannot_say_are_named(voice):
    entry = pronunciation(
        replacement="ˈɛndʒɪn Qks☃",
        kind="phonemes",
        voice=Voice.objects.get(voice_id=voice) if voice else None,
    )
    with pytest.raises(ValidationError) as error:
        entry.full_clean()
    assert list(error.value.message_dict) == ["replacement"]
    assert "en_US-joe-medium cannot say Q, ☃" in messages(error.value)


@pytest.mark.django_db(transaction=True)
def test_phonemes_the_voice_knows_are_accepted_and_trimmed():
    entry = pronunciation(replacement="  ˈɛndʒɪn ˈɛks ", kind="phonemes")
    entry.full_clean()
    assert entry.replacement == "ˈɛndʒɪn ˈɛks"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"text": "  "}, "text", "Write the word or phrase"),
        ({"text": "--"}, "text", "at least one letter"),
        ({"text": "Ngi\ue001nx"}, "text", "reserved characters"),
        ({"replacement": " "}, "replacement", "Write how to say it"),
        ({"replacement": "engine\ue000x"}, "replacement", "reserved characters"),
        ({"replacement": "[[ ɛks ]]", "kind": "phonemes"}, "replacement", "without [[ ]]"),
    ],
)
def test_blank_reserved_and_bracketed_entries_are_refused(fields, field, message):
    with pytest.raises(ValidationError) as error:
        pronunciation(**fields).full_clean()
    assert message in " ".join(error.value.message_dict[field])


@pytest.mark.django_db(transaction=True)
def test_one_entry_per_text_for_all_voices_and_one_per_voice():
    joe = Voice.objects.get(voice_id="joe")
    pronunciation().save()
    pronunciation(voice=joe, replacement="engine ex").full_clean()  # beside the global one
    pronunciation(voice=joe).save()
    pronunciation(text="nginx").full_clean()  # the text is matched as written
    with pytest.raises(ValidationError, match="already an entry for this text for all voices"):
        pronunciation().full_clean()
    with pytest.raises(ValidationError, match="voice already has an entry for this text"):
        pronunciation(voice=joe).full_clean()


def lexicon_of_joe() -> list[Plain | Reading]:
    return async_to_sync(aget_lexicon)("joe").apply("Nginx in New York")


@pytest.mark.django_db(transaction=True)
def test_a_voices_own_entries_replace_those_for_all_voices(django_assert_num_queries):
    joe = Voice.objects.get(voice_id="joe")
    Pronunciation.objects.create(text="nginx", replacement="engine x")
    Pronunciation.objects.create(text="New York", replacement="the big apple")
    Pronunciation.objects.create(
        text="NGINX", replacement="ˈɛndʒɪn ˈɛks", kind="phonemes", voice=joe
    )
    expected = [
        Reading("Nginx", "[[ ˈɛndʒɪn ˈɛks ]]"),
        Plain(" in "),
        Reading("New York", "the big apple"),
    ]
    assert lexicon_of_joe() == expected
    with django_assert_num_queries(0):
        assert lexicon_of_joe() == expected
    assert async_to_sync(aget_lexicon)("no-such-voice").apply("Nginx") == [
        Reading("Nginx", "engine x")
    ]


@pytest.mark.django_db(transaction=True)
def test_no_entries_are_cached_too(django_assert_num_queries):
    assert lexicon_of_joe() == [Plain("Nginx in New York")]
    with django_assert_num_queries(0):
        assert not async_to_sync(aget_lexicon)("joe")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("for_joe", [False, True])
def test_saving_and_deleting_an_entry_reaches_the_next_lookup(for_joe):
    voice = Voice.objects.get(voice_id="joe") if for_joe else None
    assert lexicon_of_joe() == [Plain("Nginx in New York")]  # now cached
    entry = Pronunciation.objects.create(text="Nginx", replacement="engine x", voice=voice)
    assert lexicon_of_joe()[0] == Reading("Nginx", "engine x")
    entry.replacement = "engine ex"
    entry.save()
    assert lexicon_of_joe()[0] == Reading("Nginx", "engine ex")
    entry.delete()
    assert lexicon_of_joe() == [Plain("Nginx in New York")]


@pytest.mark.django_db(transaction=True)
def test_deleting_a_voice_forgets_its_lexicon():
    joe = Voice.objects.get(voice_id="joe")
    Pronunciation.objects.create(text="Nginx", replacement="engine x", voice=joe)
    assert lexicon_of_joe()[0] == Reading("Nginx", "engine x")
    joe.delete()
    assert not Pronunciation.objects.exists()
    assert lexicon_of_joe() == [Plain("Nginx in New York")]


def entry_form(**changes: object) -> dict[str, object]:
    return {"text": "Nginx", "replacement": "engine x", "kind": "spelling", "voice": "", **changes}


@pytest.mark.django_db(transaction=True)
def test_an_entry_added_in_the_admin_is_said_by_every_voice():
    assert lexicon_of_joe() == [Plain("Nginx in New York")]  # now cached
    client = staff_client()
    response = client.post("/admin/voices/pronunciation/add/", entry_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    assert lexicon_of_joe()[0] == Reading("Nginx", "engine x")
    listing = client.get("/admin/voices/pronunciation/").content.decode()
    assert "engine x" in listing and "All voices" in listing
    filtered = client.get(
        "/admin/voices/pronunciation/?voice__isnull=True&kind__exact=spelling&q=eng"
    )
    assert "engine x" in filtered.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_admin_names_phonemes_the_voices_cannot_say():
    response = staff_client().post(
        "/admin/voices/pronunciation/add/", entry_form(kind="phonemes", replacement="ˈɛndʒɪn Qks")
    )
    assert response.status_code == 200
    assert "en_US-joe-medium cannot say Q" in response.content.decode()
    assert not Pronunciation.objects.exists()


def voice_page_form(joe: Voice, *entries: dict[str, str]) -> dict[str, object]:
    """The voice's change form as the admin sends it, with `entries` added in its inline."""
    form: dict[str, object] = {
        "voice_id": joe.voice_id,
        "name": joe.name,
        "enabled": "on",
        "model": joe.model_id,
        "speaker": joe.speaker,
        "language": joe.language,
        "gender": joe.gender,
        "description": joe.description,
        "default_speed": joe.default_speed,
        "noise_scale": "",
        "noise_width": "",
        "sentence_silence": joe.sentence_silence,
        "volume": joe.volume,
        "pronunciations-TOTAL_FORMS": len(entries),
        "pronunciations-INITIAL_FORMS": 0,
    }
    for number, entry in enumerate(entries):
        form.update({f"pronunciations-{number}-{name}": value for name, value in entry.items()})
    return form


@pytest.mark.django_db(transaction=True)
def test_a_voices_own_entries_are_edited_on_its_page():
    client = staff_client()
    joe = Voice.objects.get(voice_id="joe")
    url = f"/admin/voices/voice/{joe.pk}/change/"
    assert "pronunciations-0-text" in client.get(url).content.decode().replace("__prefix__", "0")

    bad = {"text": "Nginx", "replacement": "☃", "kind": "phonemes"}
    response = client.post(url, voice_page_form(joe, bad))
    assert response.status_code == 200
    assert "en_US-joe-medium cannot say ☃" in response.content.decode()

    good = {"text": "Nginx", "replacement": "ˈɛndʒɪn ˈɛks", "kind": "phonemes"}
    response = client.post(url, voice_page_form(joe, good))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert lexicon_of_joe()[0] == Reading("Nginx", "[[ ˈɛndʒɪn ˈɛks ]]")
