"""Static files on a real server (SERVE_STATIC, the default): what is there, and nothing else."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from .servers import Deployment

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
    for path in CLIMBING_OUT:
        assert status_of(running.url + path) == 404, path
    assert status_of(f"{running.url}/healthz") == 200
    log = running.log(since=mark)
    assert "Traceback" not in log
    assert "Exception inside application" not in log
