"""System checks of a deployment, run by `check --deploy` and before `manage.py serve` serves."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.checks import CheckMessage, Error, Tags, register


# A deployment check, so that `migrate` and the other commands run before `collectstatic`
# (or where static files do not matter) are not stopped by it.
@register(Tags.staticfiles, deploy=True)
def check_static_files_collected(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """An error when pages would name static files that `collectstatic` has not made."""
    # Without DEBUG, `{% static %}` takes each file's hashed name from the manifest that
    # `collectstatic` writes, and raises without one: every page would answer 500.
    if settings.DEBUG or not isinstance(staticfiles_storage, ManifestFilesMixin):
        return []
    if staticfiles_storage.read_manifest() is not None:
        return []
    return [
        Error(
            f"The static files have not been collected into STATIC_ROOT ({settings.STATIC_ROOT}).",
            hint="Run `python manage.py collectstatic` before serving (`make run` does).",
            id="ttsproject.E001",
        )
    ]
