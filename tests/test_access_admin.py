"""API keys in the Django admin: made with the key shown once, revoked, usage visible."""

from __future__ import annotations

import datetime
import re

import pytest

from access.keys import create_key, hash_key
from access.models import APIKey, KeyUsage, OpenConnection

from .conftest import staff_client

pytestmark = pytest.mark.django_db


def test_adding_a_key_shows_it_once_and_stores_only_its_hash():
    client = staff_client()
    response = client.post(
        "/admin/access/apikey/add/",
        {"name": "mobile app", "max_connections": "3", "requests_per_minute": ""},
    )
    assert response.status_code == 200
    page = response.content.decode()
    shown = re.search(r"tts_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", page)
    assert shown is not None
    key = shown.group(0)
    assert "not shown again" in page
    api_key = APIKey.objects.get()
    assert (api_key.name, api_key.max_connections, api_key.requests_per_minute) == (
        "mobile app",
        3,
        None,
    )
    assert api_key.secret_hash == hash_key(key)
    assert key[4:12] == api_key.prefix
    # Nowhere to be seen again: not in the list, not on the key's page.
    for url in ("/admin/access/apikey/", f"/admin/access/apikey/{api_key.pk}/change/"):
        later = client.get(url).content.decode()
        assert api_key.prefix in later
        assert key not in later


def test_the_list_shows_usage_and_the_key_page_shows_it_by_day():
    api_key, _ = create_key("call centre")
    today = datetime.date(2026, 11, 26)
    KeyUsage.objects.create(key=api_key, day=today, requests=3, characters=120, audio_seconds=9.5)
    KeyUsage.objects.create(
        key=api_key,
        day=today - datetime.timedelta(days=1),
        requests=2,
        characters=80,
        audio_seconds=6.25,
    )
    for number in range(2):
        OpenConnection.objects.create(key=api_key, channel_name=f"specific.{number}")
    client = staff_client()
    listing = client.get("/admin/access/apikey/").content.decode()
    row = listing[listing.index("call centre") :]
    # open connections of the key's limit, then requests, characters and audio over both days
    assert re.search(r">2 of 16<.*>5<.*>200<.*>15\.8 s<", row, re.S)
    page = client.get(f"/admin/access/apikey/{api_key.pk}/change/").content.decode()
    assert "usage by day" in page.lower()
    assert "Nov. 26, 2026" in page and "9.5" in page and "6.2" in page


def test_the_list_shortens_big_numbers_and_shows_the_exact_ones_on_hover():
    api_key, _ = create_key("busy", max_connections=0)
    KeyUsage.objects.create(
        key=api_key,
        day=datetime.date(2026, 11, 26),
        requests=12_345,
        characters=29_629_629,
        audio_seconds=123_456.7,
    )
    listing = staff_client().get("/admin/access/apikey/").content.decode()
    assert '<span title="12,345 requests">12.3k</span>' in listing
    assert '<span title="29,629,629 characters">29.6M</span>' in listing
    assert '<span title="123,456.7 seconds of audio">34.3 h</span>' in listing
    assert "0 (no limit)" in listing


def test_the_revoke_action_revokes_the_selected_keys():
    kept, _ = create_key("kept")
    gone, _ = create_key("gone")
    response = staff_client().post(
        "/admin/access/apikey/",
        {"action": "revoke_keys", "_selected_action": [gone.pk]},
        follow=True,
    )
    assert "Revoked 1 key" in response.content.decode()
    gone.refresh_from_db()
    kept.refresh_from_db()
    assert gone.revoked is not None and kept.revoked is None
    listing = staff_client().get("/admin/access/apikey/").content.decode()
    assert "revoked" in listing and "active" in listing
