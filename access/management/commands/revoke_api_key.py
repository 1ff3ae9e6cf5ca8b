"""`manage.py revoke_api_key PREFIX`: revoke a key; its open connections close."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.keys import prefix_of, revoke
from access.models import APIKey


class Command(BaseCommand):
    help = "Revoke an API key, named by its prefix (as the admin lists it) or in full."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", help="the key's 8-character prefix, or the whole key")

    def handle(self, *args: Any, **options: Any) -> None:
        prefix = prefix_of(options["key"]) or options["key"]
        api_key = APIKey.objects.filter(prefix=prefix).first()
        if api_key is None:
            raise CommandError(f"There is no API key with the prefix {prefix!r}.")
        if api_key.revoked is not None:
            self.stdout.write(f"{api_key} was already revoked on {api_key.revoked:%Y-%m-%d}.")
            return
        revoke(api_key)
        self.stdout.write(f"Revoked {api_key}.")
