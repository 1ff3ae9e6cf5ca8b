"""Settings for the TTS server, read from the environment.

Every setting has a documented default (docs/operations.md) that gives the embedded mode:
one process, SQLite, the in-memory channel layer and synthesis workers on threads of their own.
A value that cannot be parsed stops the server at start with ImproperlyConfigured.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    return int(env_number(name, default, int, "an integer", minimum))


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    return env_number(name, default, float, "a number", minimum)


def env_number(
    name: str, default: float, parse: type, description: str, minimum: float | None
) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number: float = parse(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {description}, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# Off unless asked for: DEBUG pages show code and settings to whoever triggers an error.
DEBUG = env_bool("DEBUG", False)

# The state of this installation: the SQLite database, uploaded voices, the generated secret key.
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))


def secret_key_from_file(path: Path) -> str:
    """The key kept in `path`, made on first use; processes starting together agree on it."""
    from django.core.management.utils import get_random_secret_key

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(get_random_secret_key())
        try:
            os.link(draft, path)  # atomic, and fails if another process was first
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty; delete it to have a new key made")
    return key


# Signs sessions and the demo page's tokens. Several machines serving one site must share it,
# so set SECRET_KEY there; one machine can leave it to the file.
SECRET_KEY = os.environ.get("SECRET_KEY", "") or secret_key_from_file(
    Path(env_str("SECRET_KEY_FILE", str(DATA_DIR / "secret_key")))
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
# Other sites whose pages may open WebSockets here (https://app.example.com), besides pages
# served from ALLOWED_HOSTS; "*" allows every origin.
TTS_ALLOWED_ORIGINS = env_list("TTS_ALLOWED_ORIGINS", "")

# Production behind HTTPS (directly, or through a proxy that sets X-Forwarded-Proto):
# secure cookies, a redirect from http://, and HSTS. `check --deploy` is clean with it on.
HTTPS = env_bool("HTTPS", False)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
# Load balancers probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# The header only allows submitting the domain to browsers' preload lists; it submits nothing.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "daphne",
    # django.contrib.admin under the product's name (ttsproject/admin_site.py).
    "ttsproject.admin_site.SpeechAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "access",
    "voices",
    "synthesis",
]

MIDDLEWARE = [
    # Outermost, so that it counts the status the client gets (synthesis/metrics.py).
    "synthesis.metrics.count_http_requests",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ttsproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "ttsproject.asgi.application"


# SQLite as a server's database: Daphne serves many sockets from one process, so wait for the
# lock instead of failing, and take it when a transaction starts, so that two never deadlock.
# Readers do not wait for writers, and a commit costs no fsync (a power cut may lose the last
# commits, never the database). Open connections and usage are written all the time: recording
# a connection took two commits of about 8 ms each before, and takes about 3 ms in all now
# (benchmarks.md).
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
}
DATABASE_ENGINES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")


def database_from_url(url: str) -> dict[str, Any]:
    """DATABASE_URL as Django's settings, through dj-database-url: postgres://user:pass@host:
    port/name?sslmode=require (query parameters become OPTIONS, the password is decoded),
    sqlite:///relative/path or sqlite:////absolute/path (with SQLITE_OPTIONS)."""
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url))
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {error}") from None
    if config.get("ENGINE") not in DATABASE_ENGINES:
        scheme = urlsplit(url).scheme
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {scheme!r} is not supported; use postgres:// or sqlite://"
        )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["NAME"] = config.get("NAME") or ":memory:"
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    return config


# Voices uploaded in the admin are stored here, one folder each.
VOICES_DIR = Path(env_str("VOICES_DIR", str(DATA_DIR / "voices")))
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The admin's and the demo page's static files, served by the ASGI app itself through WhiteNoise
# from STATIC_ROOT, which `collectstatic` fills (`make run` does): compressed, under names with
# a hash of their content, cached for good (ttsproject/static_files.py). Behind a reverse proxy,
# set SERVE_STATIC=false and serve STATIC_ROOT there.
SERVE_STATIC = env_bool("SERVE_STATIC", True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Pages name each file by its hash (from STATIC_ROOT/staticfiles.json, without DEBUG), so a
    # new release's files never meet an old cached copy.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Only this server's own pages use its static files: no other site needs to read them.
WHITENOISE_ALLOW_ALL_ORIGINS = False

# The channel layer carries synthesis jobs to the workers and audio back to the sockets.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL and urlsplit(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
    raise ImproperlyConfigured(
        f"REDIS_URL must be a redis://, rediss:// or unix:// URL, not {REDIS_URL!r}"
    )
# Seconds a request may go without progress (beyond the audio its client still has to play)
# before its chunks in flight are sent to the workers again; as long again, and it ends with
# `synthesis_failed`.
TTS_CHUNK_DEADLINE = env_float("TTS_CHUNK_DEADLINE", 10.0, 0.1)
TTS_WORKER_CHANNEL = "tts-synthesize"
# Chunks that may wait on the worker channel (then `server_busy`); an embedded worker process
# also holds at most this many in its own queue.
TTS_WORKER_CAPACITY = env_int("TTS_WORKER_CAPACITY", 1000, 1)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis's layer, with the workers' channel in order of need rather than
            # first in, first out (synthesis/redis_layer.py).
            "BACKEND": "synthesis.redis_layer.DueOrderedRedisChannelLayer",
            "CONFIG": {
                "ordered_channels": [TTS_WORKER_CHANNEL],
                # redis-py 8 reads with a 5 s socket timeout by default, which is exactly how
                # long channels-redis's blocking receive (BZPOPMIN) waits: an idle consumer or
                # worker then dies with "Timeout reading". Allow longer than that wait, so
                # a dead connection is still noticed.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": 200,
                "channel_capacity": {TTS_WORKER_CHANNEL: TTS_WORKER_CAPACITY},
                # A message nobody took by the time its request has failed (no progress for
                # two chunk deadlines) is of no use to anyone.
                "expiry": max(1, math.ceil(2 * TTS_CHUNK_DEADLINE)),
            },
        }
    }
else:
    # channels 4.3.2's in-memory layer cannot read `channel_capacity` (it skips compiling the
    # patterns), so every channel gets the worker channel's capacity.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": TTS_WORKER_CAPACITY},
        }
    }

# Cached voice lookups must be cleared in every web process when an operator edits a voice, so
# with several processes (REDIS_URL) the cache is shared in Redis.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Synthesis workers inside the web process, on threads of their own. On by default without
# Redis (nobody else could serve the in-memory layer); with Redis, `synthesis_worker` does it.
TTS_EMBEDDED_WORKERS = env_bool("TTS_EMBEDDED_WORKERS", not REDIS_URL)
# Load every enabled voice when the process starts, rather than on its first request, and each
# voice imported or enabled later within TTS_VOICE_CHECK_SECONDS (synthesis/voice_loading.py).
TTS_PRELOAD_VOICES = env_bool("TTS_PRELOAD_VOICES", True)
TTS_VOICE_CHECK_SECONDS = env_float("TTS_VOICE_CHECK_SECONDS", 2.0, 0.1)
# How many chunks this process synthesizes at once (embedded workers, or a synthesis_worker).
TTS_SYNTHESIS_THREADS = env_int("TTS_SYNTHESIS_THREADS", 2, 1)
# Extra threads that start an urgent sentence (a new request's first one) at once when the
# others are busy with work that can wait, instead of after their current sentences.
TTS_EXPRESS_THREADS = env_int("TTS_EXPRESS_THREADS", 1, 0)
# How often each worker process says it is alive; three missed beats make it missing: /readyz
# says so, and the chunks it held are sent to other workers.
TTS_HEARTBEAT_SECONDS = env_float("TTS_HEARTBEAT_SECONDS", 1.0, 0.1)
# onnxruntime threads per synthesis; threads x this should not exceed the cores.
TTS_ENGINE_THREADS = env_int("TTS_ENGINE_THREADS", 1, 1)
# A request's first chunk decides how soon the client hears anything, and it is synthesized
# alone (see RequestStream), so it may use more threads: 2 cut a first clause from ~120 to ~75 ms
# on an idle server, but load a second copy of every voice model (about 125 MB more, at rest
# and at peak; docs/benchmarks.md, "Capacity"). Under load it gains nothing.
TTS_FIRST_CHUNK_ENGINE_THREADS = env_int("TTS_FIRST_CHUNK_ENGINE_THREADS", 1, 1)

# The longest unit of speech the voice model is given at once, in phonemes at natural speed
# (fewer when slower); longer sentences are cut at a comma, else after a stressed word. The
# model's memory grows with it: 70 is about 3.3 s of speech and 60 MB while it runs, and no
# sentence step runs long enough to keep another listener waiting (docs/security.md).
TTS_MAX_UNIT_PHONEMES = env_int("TTS_MAX_UNIT_PHONEMES", 70, 20)
# Memory (MB) the voices' runs may keep for the next ones, over the process's size after its
# last voice loaded; past it, each long run gives back what it grew (speech/engine/arena.py).
# Keeping it made synthesis 5-10 % faster; 0: keep nothing from long runs.
TTS_KEEP_MEMORY_MB = env_float("TTS_KEEP_MEMORY_MB", 80.0, 0.0)
# Seconds without synthesis after which a process gives back the memory its voices keep for
# the next runs (speech/engine/registry.py release_memory); 0: never.
TTS_RELEASE_MEMORY_AFTER = env_float("TTS_RELEASE_MEMORY_AFTER", 5.0, 0.0)

# The WebSocket protocol (docs/protocol.md). The timeout defaults are the product's contract.
TTS_TIMEOUT_DEFAULT = env_int("TTS_TIMEOUT_DEFAULT", 20, 1)
TTS_TIMEOUT_MIN = env_int("TTS_TIMEOUT_MIN", 20, 1)
TTS_TIMEOUT_MAX = env_int("TTS_TIMEOUT_MAX", 60, 1)
if not TTS_TIMEOUT_MIN <= TTS_TIMEOUT_DEFAULT <= TTS_TIMEOUT_MAX:
    raise ImproperlyConfigured("TTS_TIMEOUT_DEFAULT must lie between TTS_TIMEOUT_MIN and _MAX")
TTS_MAX_TEXT_CHARS = env_int("TTS_MAX_TEXT_CHARS", 5000, 1)
# Text of an open stream waiting for its sentence to end (`continue: true`).
TTS_MAX_BUFFER_CHARS = env_int("TTS_MAX_BUFFER_CHARS", 5000, 1)
# The most audio one request may make, in seconds; past it the request ends with text_too_long.
TTS_MAX_REQUEST_AUDIO_SECONDS = env_float("TTS_MAX_REQUEST_AUDIO_SECONDS", 600.0, 1.0)
# The most silence the SSML breaks of one request may add up to, in seconds.
TTS_MAX_REQUEST_PAUSE_SECONDS = env_float("TTS_MAX_REQUEST_PAUSE_SECONDS", 60.0, 0.0)
# Bytes sent to a client that it has not read and this process holds: past this, its requests
# synthesize nothing more until it reads; a client that reads nothing for its inactivity
# timeout is closed with 4408. In-flight chunks still arrive: with 4 requests of 2 chunks at
# 48 kHz, a client that reads nothing costs the process at most about 16 MB.
TTS_CLIENT_BACKLOG_BYTES = env_int("TTS_CLIENT_BACKLOG_BYTES", 1024 * 1024, 64 * 1024)
# Admission: a new request gets server_busy (with retry_after) while this many of the process's
# requests wait for their first audio, or while a chunk it sent to the workers is this many
# seconds overdue (its listener ran out of audio): past either, another request only makes
# everyone wait longer.
TTS_ADMISSION_MAX_WAITING = env_int("TTS_ADMISSION_MAX_WAITING", 8, 1)
TTS_ADMISSION_MAX_LATE_SECONDS = env_float("TTS_ADMISSION_MAX_LATE_SECONDS", 1.0, 0.1)
TTS_MAX_REQUESTS_PER_CONNECTION = env_int("TTS_MAX_REQUESTS_PER_CONNECTION", 4, 1)
# Chunks of one request being synthesized at once: enough to keep audio ahead of playback,
# few enough that one long text cannot starve other sockets.
TTS_CHUNKS_IN_FLIGHT = env_int("TTS_CHUNKS_IN_FLIGHT", 2, 1)
TTS_CHUNK_MAX_CHARS = env_int("TTS_CHUNK_MAX_CHARS", 240, 20)
TTS_FIRST_CHUNK_MAX_CHARS = env_int("TTS_FIRST_CHUNK_MAX_CHARS", 30, 10)
# The second chunk is kept short as well, so it is ready before the first has been played even
# when other requests' chunks are queued ahead of it (docs/benchmarks.md, "Stalls").
TTS_SECOND_CHUNK_MAX_CHARS = env_int("TTS_SECOND_CHUNK_MAX_CHARS", 100, 10)

# Access control and limits (docs/security.md).
# API keys: required unless the operator says otherwise, or DEBUG is on.
TTS_REQUIRE_API_KEY = env_bool("TTS_REQUIRE_API_KEY", not DEBUG)
# Defaults for keys that set no limits of their own; 0 means no limit.
TTS_MAX_CONNECTIONS_PER_KEY = env_int("TTS_MAX_CONNECTIONS_PER_KEY", 16, 0)
# The token a Prometheus scraper sends to read /metrics; unset, only staff users can read it.
TTS_METRICS_TOKEN = env_str("TTS_METRICS_TOKEN", "")
TTS_MAX_REQUESTS_PER_MINUTE = env_int("TTS_MAX_REQUESTS_PER_MINUTE", 120, 0)
# One client frame, in bytes. The default leaves room for TTS_MAX_TEXT_CHARS of any text in JSON,
# even with every character escaped (12 bytes for one outside the BMP).
TTS_MAX_MESSAGE_BYTES = env_int("TTS_MAX_MESSAGE_BYTES", 12 * TTS_MAX_TEXT_CHARS + 4096, 1024)
# How often an open connection's record is refreshed; a record three times older is stale.
TTS_CONNECTION_REFRESH_SECONDS = env_float("TTS_CONNECTION_REFRESH_SECONDS", 30.0, 0.1)
# How often an open socket checks that its key is still active, for revocations the channel
# layer cannot carry to it (another process with the in-memory layer).
TTS_KEY_CHECK_SECONDS = env_float("TTS_KEY_CHECK_SECONDS", 2.0, 0.1)
# How long a staff user's demo page token opens connections for.
TTS_PAGE_TOKEN_SECONDS = env_int("TTS_PAGE_TOKEN_SECONDS", 300, 1)
# Demo page connections open at once per staff user; 0 means no limit.
TTS_MAX_PAGE_CONNECTIONS_PER_USER = env_int("TTS_MAX_PAGE_CONNECTIONS_PER_USER", 4, 0)
# Failed password logins (the admin's) allowed per username and per client address (IPv6: per
# /64) within TTS_LOGIN_WINDOW_SECONDS of the first; past either, logins are refused, without
# checking the password, until the window ends. 0 means no limit.
TTS_LOGIN_FAILURES_PER_USERNAME = env_int("TTS_LOGIN_FAILURES_PER_USERNAME", 5, 0)
TTS_LOGIN_FAILURES_PER_ADDRESS = env_int("TTS_LOGIN_FAILURES_PER_ADDRESS", 20, 0)
TTS_LOGIN_WINDOW_SECONDS = env_int("TTS_LOGIN_WINDOW_SECONDS", 900, 1)

# plain: one readable line per record; json: one JSON object per line (ttsproject/log_format.py).
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
# Every record goes through the one handler, whose filter takes `?token=` values and API keys out
# (ttsproject/redaction.py); Daphne's access log is redacted by ttsproject/server.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "ttsproject.redaction.RedactSecrets"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "ttsproject.log_format.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Django's default handlers (a console one with DEBUG) would print its records past the
    # filter; without them they reach the root's handler like everyone else's.
    # piper logs each sentence's text and phonemes at DEBUG: the text of a request is the
    # client's, and no log line carries it, whatever LOG_LEVEL says.
    "loggers": {
        "django": {"handlers": [], "level": "INFO"},
        "piper": {"level": "INFO"},
    },
}
