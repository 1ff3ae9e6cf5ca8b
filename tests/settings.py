"""Settings for the test suite: the product's settings with shorter clocks."""

import os
import tempfile
from pathlib import Path

from ttsproject.settings import *  # noqa: F403

# Tests load the voice once, on first use, in the test process.
TTS_PRELOAD_VOICES = False
# Operator-settable bounds, shortened so that timeout tests take seconds (the product's defaults
# are checked in test_settings.py).
TTS_TIMEOUT_DEFAULT = 2
TTS_TIMEOUT_MIN = 2
TTS_TIMEOUT_MAX = 4

# The test client's host.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # noqa: F405
# Most tests speak without a key; tests/test_access.py turns keys on.
TTS_REQUIRE_API_KEY = False

# A file, as in production, rather than SQLite's shared in-memory database: the server's
# database calls run on threads of their own (ttsproject/database.py), and the in-memory
# database's table locks fail concurrent calls at once where a file in WAL mode lets readers
# read and has writers wait their turn.
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": str(Path(tempfile.gettempdir()) / f"tts-test-{os.getpid()}.sqlite3")
}

# Static files as with DEBUG: under their own names, from the source folders. Pages then render
# without the manifest that `collectstatic` writes, so the in-process tests need none (the real
# servers have one: tests/servers.py).
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
