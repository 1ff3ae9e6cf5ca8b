"""Settings come from the environment; bad values stop the server from starting."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured

from .servers import ROOT, collected_static, free_port


def read_settings(**environment: str) -> dict[str, Any]:
    """ttsproject/settings.py run afresh, as a starting server runs it, in this environment
    (with none of ours TTS_ settings); its names and values."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
    with mock.patch.dict(os.environ, {**clean, **environment}, clear=True):
        return runpy.run_path(str(ROOT / "ttsproject" / "settings.py"))


def test_the_product_defaults_are_20_seconds_within_20_to_60():
    s = read_settings()
    assert (s["TTS_TIMEOUT_DEFAULT"], s["TTS_TIMEOUT_MIN"], s["TTS_TIMEOUT_MAX"]) == (20, 20, 60)


def test_operators_can_change_the_timeout_bounds():
    s = read_settings(TTS_TIMEOUT_DEFAULT="30", TTS_TIMEOUT_MAX="120")
    assert (s["TTS_TIMEOUT_DEFAULT"], s["TTS_TIMEOUT_MAX"]) == (30, 120)


@pytest.mark.parametrize(
    "variable, value, complaint",
    [
        ("TTS_TIMEOUT_DEFAULT", "abc", "TTS_TIMEOUT_DEFAULT must be an integer, not 'abc'"),
        ("TTS_TIMEOUT_DEFAULT", "90", "TTS_TIMEOUT_DEFAULT must lie between"),
        ("TTS_SYNTHESIS_THREADS", "0", "TTS_SYNTHESIS_THREADS must be at least 1, not 0"),
        ("TTS_CHUNK_DEADLINE", "soon", "TTS_CHUNK_DEADLINE must be a number, not 'soon'"),
        ("TTS_PRELOAD_VOICES", "maybe", "TTS_PRELOAD_VOICES must be true or false"),
        ("DATABASE_URL", "mysql://db/tts", "DATABASE_URL scheme 'mysql' is not supported"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a redis://, rediss:// or unix://"),
        ("TTS_HEARTBEAT_SECONDS", "0", "TTS_HEARTBEAT_SECONDS must be at least 0.1"),
        ("TTS_VOICE_CHECK_SECONDS", "0", "TTS_VOICE_CHECK_SECONDS must be at least 0.1"),
        ("DEBUG", "sometimes", "DEBUG must be true or false, not 'sometimes'"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be plain or json, not 'xml'"),
    ],
)
def test_a_bad_value_is_refused_with_a_clear_message(variable, value, complaint):
    with pytest.raises(ImproperlyConfigured) as refused:
        read_settings(**{variable: value})
    assert complaint in str(refused.value)


def database(url: str) -> dict[str, Any]:
    return read_settings(DATABASE_URL=url)["DATABASES"]["default"]


def test_database_url_query_parameters_reach_postgres_and_the_password_is_decoded():
    db = database("postgres://tts:p%40ss%2Fw0rd@db.internal:5433/tts?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"]) == ("tts", "p@ss/w0rd")
    assert (db["HOST"], int(db["PORT"]), db["NAME"]) == ("db.internal", 5433, "tts")
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_database_url_reads_absolute_and_relative_sqlite_paths():
    absolute = database("sqlite:////srv/tts/db.sqlite3")
    assert absolute["NAME"] == "/srv/tts/db.sqlite3"
    assert database("sqlite:///var/db.sqlite3")["NAME"] == "var/db.sqlite3"
    # The server's SQLite settings apply to a database named by URL too.
    assert absolute["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in absolute["OPTIONS"]["init_command"]


def test_a_bad_value_stops_the_start(tmp_path):
    # What an operator sees: the process stops, and says why.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
    environment.update(
        DJANGO_SETTINGS_MODULE="ttsproject.settings",
        DATA_DIR=str(tmp_path),
        TTS_TIMEOUT_DEFAULT="abc",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "TTS_TIMEOUT_DEFAULT must be an integer, not 'abc'" in result.stderr


def test_debug_is_off_and_keys_are_required_unless_asked(tmp_path):
    def debug_and_keys(**environment: str) -> tuple[bool, bool]:
        s = read_settings(DATA_DIR=str(tmp_path), **environment)
        return s["DEBUG"], s["TTS_REQUIRE_API_KEY"]

    assert debug_and_keys() == (False, True)
    assert debug_and_keys(DEBUG="true") == (True, False)
    assert debug_and_keys(TTS_REQUIRE_API_KEY="false") == (False, False)


def test_the_secret_key_is_made_once_and_kept_private_in_the_data_dir(tmp_path):
    first = read_settings(DATA_DIR=str(tmp_path))["SECRET_KEY"]
    second = read_settings(DATA_DIR=str(tmp_path))["SECRET_KEY"]
    key_file = tmp_path / "secret_key"
    assert first == second == key_file.read_text()
    assert len(key_file.read_text()) == 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    other = read_settings(DATA_DIR=str(tmp_path / "elsewhere"))["SECRET_KEY"]
    assert other != first
    chosen = read_settings(DATA_DIR=str(tmp_path), SECRET_KEY="x" * 60)["SECRET_KEY"]
    assert chosen == "x" * 60


def production(data_dir: Path, **environment: str) -> dict[str, str]:
    """The environment of a server configured for production, DEBUG off, in `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_") and k != "DEBUG"}
    env.update(
        DJANGO_SETTINGS_MODULE="ttsproject.settings",
        DATA_DIR=str(data_dir),
        HTTPS="true",
        ALLOWED_HOSTS="tts.example.com",
        **environment,
    )
    return env


def manage(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_when_configured_for_production(tmp_path):
    # The static files as `make run` collects them (tests/servers.py collects them once).
    env = production(tmp_path, STATIC_ROOT=str(collected_static()))
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_collectstatic_check_deploy_and_serve_say_to_run_it(tmp_path):
    env = production(tmp_path)
    for command in (["check", "--deploy"], ["serve", "--port", str(free_port())]):
        result = manage(env, *command)
        assert result.returncode != 0, command
        assert "have not been collected into STATIC_ROOT" in result.stderr, command
        assert "Run `python manage.py collectstatic`" in result.stderr, command
    # Commands run before collectstatic, such as migrate, carry on.
    assert manage(env, "check").returncode == 0
