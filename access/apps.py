from __future__ import annotations

from django.apps import AppConfig


class AccessConfig(AppConfig):
    """API keys, who may connect, and how much each key may do (docs/security.md)."""

    name = "access"
    verbose_name = "Access control"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (revocation closes open connections)
