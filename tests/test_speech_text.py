"""What the voice says for what clients write, heard back with a speech recognizer.

Real sockets to the real application, the real Piper voice, and pocketsphinx's US English
model: normalization, the admin's pronunciation lexicon and SSML change the words that are
heard, not just the text handed to the engine.
"""

from __future__ import annotations

from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from voices.models import Pronunciation, Voice

from .clients import pcm_of, receive_until_end, recognized, speak, words_of
from .conftest import staff_client

RATE = 16000


def heard_in_order(expected: list[str], heard: list[str]) -> list[str]:
    """The expected words found in what was heard, each after the one found before it."""
    found = []
    position = 0
    for word in expected:
        if word in heard[position:]:
            position = heard.index(word, position) + 1
            found.append(word)
    return found


async def test_numbers_dates_and_titles_are_heard_as_the_writer_meant(connect):
    socket = await connect()
    messages = await speak(
        socket,
        "On 3/4/2025, Dr. Smith paid $12.50 for 3 kg of apples. The meeting starts at "
        "10:30 am on Jan. 5th. Call 555-1234 before the 21st.",
        sample_rate=RATE,
    )
    assert messages[-1]["status"] == "complete"
    heard = recognized(pcm_of(messages))
    # What espeak-ng alone would say: "three slash four slash two thousand twenty five doctor.
    # Smith paid dollar twelve point five zero ... jan. fifth".
    assert not {"slash", "point", "zero"} & set(heard), heard
    said = (
        "march fourth twenty twenty five dr smith paid twelve dollars and fifty cents for three "
        "kilograms of the meeting starts at ten thirty on january fifth call five five five one "
        "two three four before the twenty first"
    )
    expected = said.split()
    # pocketsphinx mishears a word or two of synthetic speech from run to run.
    found = heard_in_order(expected, heard)
    assert len(found) >= len(expected) - 5, (heard, sorted(set(expected) - set(found)))


async def test_word_timestamps_name_the_written_words_of_what_was_read(connect):
    socket = await connect()
    messages = await speak(
        socket,
        "Dr. Smith paid $12.50 on 3/4/2025 at 10:30am.",
        word_timestamps=True,
        sample_rate=RATE,
    )
    words = words_of(messages)
    assert [word["word"] for word in words] == [
        "Dr", "Smith", "paid", "$12.50", "on", "3/4/2025", "at", "10:30am",
    ]  # fmt: skip
    durations = {word["word"]: word["end"] - word["start"] for word in words}
    # "twelve dollars and fifty cents" and "March fourth, twenty twenty-five" take far longer
    # than "paid"; their shares follow what is said, not what is written.
    assert durations["$12.50"] > 3 * durations["paid"]
    assert durations["3/4/2025"] > 3 * durations["paid"]


async def test_an_admin_lexicon_entry_changes_what_is_spoken(connect):
    text = "Please reply ASAP."
    socket = await connect()
    before = recognized(pcm_of(await speak(socket, text, sample_rate=RATE)))
    assert "soon" not in before and "possible" not in before, before

    client = await sync_to_async(staff_client)()
    response = await sync_to_async(client.post)(
        "/admin/voices/pronunciation/add/",
        {"text": "ASAP", "replacement": "as soon as possible", "kind": "spelling", "voice": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    after = recognized(pcm_of(await speak(socket, text, sample_rate=RATE)))
    assert heard_in_order(["as", "soon", "as", "possible"], after) == [
        "as", "soon", "as", "possible",
    ], after  # fmt: skip


async def test_a_phoneme_entry_for_one_voice_is_said_by_that_voice(connect):
    joe = await Voice.objects.aget(voice_id="joe")
    # "Hello" said as "goodbye", for joe only.
    await Pronunciation.objects.acreate(
        voice=joe, text="hello", replacement="ɡʊdbˈaɪ", kind=Pronunciation.KIND_PHONEMES
    )
    socket = await connect()
    heard = recognized(pcm_of(await speak(socket, "I said hello to my friend.", sample_rate=RATE)))
    assert "goodbye" in heard and "hello" not in heard, heard


async def test_ssml_breaks_pause_for_as_long_as_asked(connect):
    socket = await connect()
    messages = await speak(
        socket,
        '<speak>First <break time="1200ms"/> second <break time="300ms"/> third.</speak>',
        word_timestamps=True,
        sample_rate=RATE,
    )
    assert messages[-1]["status"] == "complete"
    words = words_of(messages)
    assert [word["word"] for word in words] == ["First", "second", "third"]
    long_gap = words[1]["start"] - words[0]["end"]
    short_gap = words[2]["start"] - words[1]["end"]
    assert 1.1 <= long_gap <= 1.4, long_gap
    assert 0.2 <= short_gap <= 0.45, short_gap


async def test_ssml_sub_say_as_and_phoneme_are_heard(connect):
    socket = await connect()
    messages = await speak(
        socket,
        '<speak>Reply <sub alias="as soon as possible">ASAP</sub>, by '
        '<say-as interpret-as="date" format="mdy">12/25/2025</say-as>, to '
        '<say-as interpret-as="telephone">555-0199</say-as>. I said '
        '<phoneme ph="ɡʊdbˈaɪ">hello</phoneme> to my friend.</speak>',
        sample_rate=RATE,
    )
    heard = recognized(pcm_of(messages))
    expected = "soon possible december twenty fifth five five five zero one nine nine goodbye"
    found = heard_in_order(expected.split(), heard)
    assert len(found) >= len(expected.split()) - 2, heard
    assert "goodbye" in found and "hello" not in heard, heard


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "<speak><prosody rate='slow'>Hi</prosody></speak>",
            "SSML tag <prosody> is not supported; use <break>, <say-as>, <sub> or <phoneme>.",
        ),
        ("<speak>Hi <break time='20s'/></speak>", "out of range"),
        ("<speak>Hi <say-as interpret-as='currency'>$5</say-as></speak>", "currency"),
        ("<speak>Hi <phoneme ph='hɛl☃'>hell</phoneme></speak>", "'☃'"),
        ("<speak>Hi there", "not well-formed"),
    ],
)
async def test_ssml_that_cannot_be_spoken_is_refused_by_name_and_the_socket_goes_on(
    connect, text, message
):
    socket = await connect()
    await socket.send_json_to({"text": text, "voice_id": "joe", "request_id": "bad"})
    error = await socket.receive_json_from(timeout=10)
    assert error["status"] == "error" and error["code"] == "invalid_request"
    assert error["request_id"] == "bad"
    assert message in error["message"]
    messages = await speak(
        socket, "<speak>Still <break time='100ms'/> here.</speak>", sample_rate=RATE
    )
    assert messages[-1]["status"] == "complete"
    assert messages[-1]["data"]["audio_seconds"] > 0.5


async def test_bad_ssml_in_a_text_stream_loses_nothing_already_sent(connect):
    socket = await connect()
    send = socket.send_json_to
    await send(
        {"text": "Good morning everyone ", "voice_id": "joe", "request_id": "s", "continue": True}
        | {"sample_rate": RATE}
    )
    await send({"text": "<speak><emphasis>no</emphasis></speak>", "request_id": "s"})
    error = await socket.receive_json_from(timeout=10)
    assert error["code"] == "invalid_request" and "<emphasis>" in error["message"]
    await send({"text": "<speak>and thank you.</speak>", "request_id": "s", "flush": True})
    messages = await receive_until_end(socket)
    assert messages[-1]["status"] == "complete"
    heard = recognized(pcm_of(messages))
    expected = ["morning", "everyone", "thank", "you"]
    assert heard_in_order(expected, heard) == expected, heard


async def test_plain_text_with_angle_brackets_stays_plain_text(connect):
    socket = await connect()
    messages = await speak(socket, "If a < b and <b> is bold, then say so.", sample_rate=RATE)
    assert messages[-1]["status"] == "complete"
    assert messages[-1]["data"]["audio_seconds"] > 1.5
    heard = recognized(pcm_of(messages))
    assert heard_in_order(["bold", "then", "say", "so"], heard), heard


@pytest.mark.django_db(transaction=True)
def test_phonemize_shows_the_words_and_phonemes_a_voice_says():
    Pronunciation.objects.create(text="Nguyen", replacement="wˈɪn", kind="phonemes")
    out = StringIO()
    call_command("phonemize", "Dr. Nguyen paid $5.", stdout=out)
    said, phonemes = out.getvalue().splitlines()
    assert said == "said:     Doctor [[ wˈɪn ]] paid five dollars."
    assert phonemes.startswith("phonemes: dˈɑːktɚ wˈɪn pˈeɪd fˈaɪv dˈɑːlɚz")
