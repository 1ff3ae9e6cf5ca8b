from __future__ import annotations

import sys

from django.apps import AppConfig


class SynthesisConfig(AppConfig):
    name = "synthesis"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `manage.py runworker tts-synthesize` has no start-up hook of its own: load the voices
        # and then tell /readyz that this process is a synthesis worker.
        from django.conf import settings

        if "runworker" in sys.argv[1:2] and settings.TTS_WORKER_CHANNEL in sys.argv[2:]:
            import threading

            from .heartbeat import start_heartbeat_thread, worker_name

            def warm_up_then_beat() -> None:
                # Report in only once the voices are loaded, so that a ready worker is a warm
                # one: its first chunk does not pay a second of loading.
                if settings.TTS_PRELOAD_VOICES:
                    from .workers import preload_voices

                    preload_voices()
                start_heartbeat_thread(worker_name())

            threading.Thread(target=warm_up_then_beat, name="tts-warm-up", daemon=True).start()
