from __future__ import annotations

from django.apps import AppConfig


class SynthesisConfig(AppConfig):
    name = "synthesis"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ttsproject import checks  # noqa: F401  (registers the deployment's checks)
