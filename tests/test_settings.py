"""Settings come from the environment; bad values stop the server from starting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .servers import ROOT


def read_settings(names: str, **environment: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
    clean.update(DJANGO_SETTINGS_MODULE="ttsproject.settings", **environment)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        f"print(*(getattr(s, name) for name in {names.split()!r}))"
    )
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True)


def test_the_product_defaults_are_20_seconds_within_20_to_60():
    result = read_settings("TTS_TIMEOUT_DEFAULT TTS_TIMEOUT_MIN TTS_TIMEOUT_MAX")
    assert result.stdout.split() == ["20", "20", "60"], result.stderr


def test_operators_can_change_the_timeout_bounds():
    result = read_settings(
        "TTS_TIMEOUT_DEFAULT TTS_TIMEOUT_MAX", TTS_TIMEOUT_DEFAULT="30", TTS_TIMEOUT_MAX="120"
    )
    assert result.stdout.split() == ["30", "120"], result.stderr


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
        ("DEBUG", "sometimes", "DEBUG must be true or false, not 'sometimes'"),
    ],
)
def test_a_bad_value_stops_the_start_with_a_clear_message(variable, value, complaint):
    result = read_settings("DEBUG", **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


def test_debug_is_off_and_keys_are_required_unless_asked(tmp_path):
    names = "DEBUG TTS_REQUIRE_API_KEY"
    assert read_settings(names, DATA_DIR=str(tmp_path)).stdout.split() == ["False", "True"]
    debugging = read_settings(names, DATA_DIR=str(tmp_path), DEBUG="true")
    assert debugging.stdout.split() == ["True", "False"]
    open_server = read_settings(names, DATA_DIR=str(tmp_path), TTS_REQUIRE_API_KEY="false")
    assert open_server.stdout.split() == ["False", "False"]


def test_the_secret_key_is_made_once_and_kept_private_in_the_data_dir(tmp_path):
    first = read_settings("SECRET_KEY", DATA_DIR=str(tmp_path))
    second = read_settings("SECRET_KEY", DATA_DIR=str(tmp_path))
    key_file = tmp_path / "secret_key"
    assert first.stdout.strip() == second.stdout.strip() == key_file.read_text()
    assert len(key_file.read_text()) == 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    other = read_settings("SECRET_KEY", DATA_DIR=str(tmp_path / "elsewhere"))
    assert other.stdout.strip() != first.stdout.strip()
    chosen = read_settings("SECRET_KEY", DATA_DIR=str(tmp_path), SECRET_KEY="x" * 60)
    assert chosen.stdout.strip() == "x" * 60


def test_check_deploy_is_clean_when_configured_for_production(tmp_path):
    production = {k: v for k, v in os.environ.items() if not k.startswith("TTS_") and k != "DEBUG"}
    production.update(
        DJANGO_SETTINGS_MODULE="ttsproject.settings",
        DATA_DIR=str(tmp_path),
        HTTPS="true",
        ALLOWED_HOSTS="tts.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
