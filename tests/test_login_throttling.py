"""The admin's login: a budget of failed attempts per username and per address, and no
password hashed past it."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import time
import urllib.parse
import urllib.request

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from .servers import Deployment

pytestmark = pytest.mark.e2e

PASSWORD = "a long test password 7"
TOO_MANY = "Too many failed login attempts"


class CountingHasher(MD5PasswordHasher):
    """A fast hasher that counts the passwords it hashes, and how many it hashes at once."""

    algorithm = "counting"
    calls = 0
    running = 0
    most_at_once = 0
    lock = threading.Lock()

    def encode(self, password: str, salt: str) -> str:
        cls = type(self)
        with cls.lock:
            cls.calls += 1
            cls.running += 1
            cls.most_at_once = max(cls.most_at_once, cls.running)
        time.sleep(0.02)  # long enough for logins on other threads to overlap, if they may
        with cls.lock:
            cls.running -= 1
        return super().encode(password, salt)

    @classmethod
    def reset(cls) -> None:
        cls.calls = cls.running = cls.most_at_once = 0


@pytest.fixture(autouse=True)
def counting_hasher(settings) -> type[CountingHasher]:
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.reset()
    return CountingHasher


def staff_user(username: str = "operator") -> User:
    return User.objects.create_user(username, password=PASSWORD, is_staff=True)


def log_in(username: str, password: str, address: str = "127.0.0.1") -> tuple[bool, str]:
    """Post the admin's login form from `address`: whether it logged in, and the page."""
    response = Client(REMOTE_ADDR=address).post(
        "/admin/login/", {"username": username, "password": password, "next": "/admin/"}
    )
    return response.status_code == 302, response.content.decode()


def fail_times(count: int, username: str, address: str = "127.0.0.1") -> None:
    for _ in range(count):
        logged_in, page = log_in(username, "wrong password", address)
        assert not logged_in
        assert "Please enter the correct username and password" in page


@pytest.mark.django_db
def test_it_refuses_the_right_password_after_five_wrong_ones():
    staff_user()
    fail_times(5, "operator")
    logged_in, page = log_in("operator", PASSWORD)
    assert not logged_in
    assert f"{TOO_MANY} for this username. Try again in 15 minutes." in page


@pytest.mark.django_db
def test_it_does_not_hold_back_another_user_or_another_address(settings):
    staff_user()
    staff_user("colleague")
    fail_times(5, "operator")
    assert log_in("colleague", PASSWORD)[0]
    # Twenty failures from one address, over several usernames, close that address only.
    for number in range(5):
        fail_times(3, f"guess{number}", "203.0.113.9")
    fail_times(5, "guess5", "203.0.113.9")
    logged_in, page = log_in("colleague", PASSWORD, "203.0.113.9")
    assert not logged_in
    assert f"{TOO_MANY} from your address." in page
    assert log_in("colleague", PASSWORD, "198.51.100.4")[0]


@pytest.mark.django_db
def test_it_lets_the_right_password_in_once_the_window_has_passed(settings):
    settings.TTS_LOGIN_WINDOW_SECONDS = 2
    staff_user()
    fail_times(5, "operator")
    logged_in, page = log_in("operator", PASSWORD)
    assert not logged_in
    assert re.search(r"Try again in [12] seconds?\.", page)
    time.sleep(2.1)
    assert log_in("operator", PASSWORD)[0]


@pytest.mark.django_db
def test_it_hashes_no_password_past_the_budget(counting_hasher):
    staff_user()
    counting_hasher.reset()
    fail_times(5, "operator")
    assert counting_hasher.calls == 5
    for password in (PASSWORD, "wrong password", "another guess"):
        assert TOO_MANY in log_in("operator", password)[1]
    assert counting_hasher.calls == 5


@pytest.mark.django_db(transaction=True)
def test_it_hashes_one_password_at_a_time(counting_hasher, settings):
    settings.TTS_LOGIN_FAILURES_PER_ADDRESS = 0
    pages: list[str] = []

    def guess(number: int) -> None:
        try:
            pages.append(log_in(f"nobody{number}", "wrong password", f"192.0.2.{number}")[1])
        finally:
            connection.close()  # this thread's own

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pages) == 6 and all("Please enter the correct" in page for page in pages)
    assert counting_hasher.calls == 6
    assert counting_hasher.most_at_once == 1


# An operator of the shared server's own, whom no other test logs in as.
OVER_HTTP = "http-operator"


@pytest.fixture(scope="module")
def server(open_server: Deployment) -> Deployment:
    open_server.create_superuser(OVER_HTTP, PASSWORD)
    return open_server


def log_in_over_http(server: Deployment, password: str) -> tuple[str, str]:
    """Log in through the admin's form over HTTP, as a browser does: the page, and its URL."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    form = opener.open(f"{server.url}/admin/login/").read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert csrf is not None
    fields = {
        "csrfmiddlewaretoken": csrf.group(1),
        "username": OVER_HTTP,
        "password": password,
        "next": "/admin/",
    }
    with opener.open(f"{server.url}/admin/login/", urllib.parse.urlencode(fields).encode()) as page:
        return page.read().decode(), page.url


def test_it_refuses_the_right_password_after_five_wrong_ones_over_http(server):
    for _ in range(5):
        page, url = log_in_over_http(server, "wrong password")
        assert "Please enter the correct username and password" in page
    page, url = log_in_over_http(server, PASSWORD)
    assert url.endswith("/admin/login/")
    assert f"{TOO_MANY} for this username. Try again in 15 minutes." in page
