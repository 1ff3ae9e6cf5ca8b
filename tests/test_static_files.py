"""Static files on a real server (SERVE_STATIC, the default): what is there, and nothing else;
under hashed names that are cached for good, and compressed for clients that accept it."""

from __future__ import annotations

import gzip
import re
import urllib.error
import urllib.request
from email.message import Message

import pytest

from .servers import ROOT, Deployment

pytestmark = pytest.mark.e2e

# Each of these decodes to a path outside the static folders (the server's secret key among them).
CLIMBING_OUT = [
    "/static/..%2fvar%2fsecret_key",
    "/static/%2e%2e/var/secret_key",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/admin/..%2f..%2f..%2fttsproject%2fsettings.py",
    "/static/%2fetc%2fpasswd",
]


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_it_answers_404_to_a_path_that_climbs_out_of_the_static_folders(open_server: Deployment):
    running = open_server
    mark = running.log_mark()
    assert status_of(f"{running.url}/static/admin/css/base.css") == 200
    assert status_of(f"{running.url}/static/admin/css/nothing.css") == 404
    for path in CLIMBING_OUT:
        assert status_of(running.url + path) == 404, path
    assert status_of(f"{running.url}/healthz") == 200
    log = running.log(since=mark)
    assert "Traceback" not in log
    assert "Exception inside application" not in log


def fetch(url: str, method: str = "GET", **headers: str) -> tuple[int, Message, bytes]:
    """The status, headers and body (as sent: still compressed) of a request to `url`;
    `headers` named with underscores (`accept_encoding`)."""
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    request = urllib.request.Request(url, headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def named_in(running: Deployment, page: str, pattern: str) -> str:
    """The path of the static file that `page` names, matching `pattern`."""
    status, _, body = fetch(running.url + page)
    assert status == 200, page
    found = re.search(pattern, body.decode())
    assert found, f"{page} names no {pattern}"
    return found.group()


def test_it_names_the_pages_static_files_by_their_content_and_has_them_cached_for_good(
    open_server: Deployment,
):
    running = open_server
    script = named_in(running, "/", r"/static/demo/demo\.[0-9a-f]{12}\.js")
    style = named_in(running, "/", r"/static/demo/demo\.[0-9a-f]{12}\.css")
    admin_style = named_in(running, "/admin/login/", r"/static/admin/css/base\.[0-9a-f]{12}\.css")
    for path in (script, style, admin_style):
        status, headers, _ = fetch(running.url + path)
        assert status == 200, path
        assert "max-age=315360000" in headers["Cache-Control"], path
        assert "immutable" in headers["Cache-Control"], path
    _, headers, body = fetch(running.url + script)
    assert body == (ROOT / "static" / "demo" / "demo.js").read_bytes()
    assert headers["Content-Type"].startswith("text/javascript")
    # Read as what it says it is, and by this server's pages only.
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Access-Control-Allow-Origin" not in headers


def test_it_sends_a_file_gzipped_to_a_client_that_accepts_it(open_server: Deployment):
    running = open_server
    script = named_in(running, "/", r"/static/demo/demo\.[0-9a-f]{12}\.js")
    _, _, plain = fetch(running.url + script)
    status, headers, compressed = fetch(running.url + script, accept_encoding="gzip")
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert len(compressed) < len(plain)
    assert gzip.decompress(compressed) == plain


def test_it_serves_a_file_under_its_own_name_too_with_a_short_cache(open_server: Deployment):
    status, headers, body = fetch(f"{open_server.url}/static/demo/demo.js")
    assert status == 200
    assert body == (ROOT / "static" / "demo" / "demo.js").read_bytes()
    assert headers["Cache-Control"] == "max-age=60, public"


def test_it_answers_304_to_a_copy_still_current_and_head_without_a_body(
    open_server: Deployment,
):
    url = f"{open_server.url}/static/admin/css/base.css"
    _, headers, body = fetch(url)
    status, _, unchanged = fetch(url, if_none_match=headers["ETag"])
    assert (status, unchanged) == (304, b"")
    status, head, nothing = fetch(url, method="HEAD")
    assert (status, nothing) == (200, b"")
    assert head["Content-Length"] == str(len(body))
