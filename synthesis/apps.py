from __future__ import annotations

import sys

from django.apps import AppConfig


class SynthesisConfig(AppConfig):
    name = "synthesis"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `manage.py runworker tts-synthesize` has no start-up hook of its own: tell /readyz
        # that this process is a synthesis worker from the moment it runs.
        from django.conf import settings

        if "runworker" in sys.argv[1:2] and settings.TTS_WORKER_CHANNEL in sys.argv[2:]:
            from .heartbeat import start_heartbeat_thread, worker_name

            start_heartbeat_thread(worker_name())
