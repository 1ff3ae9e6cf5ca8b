"""`manage.py create_api_key NAME`: make an API key and print it, the only time it is shown."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from access.keys import create_key


class Command(BaseCommand):
    help = "Create an API key and print it (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who or what will use the key")
        parser.add_argument(
            "--max-connections",
            type=int,
            default=None,
            help="connections open at once (default: TTS_MAX_CONNECTIONS_PER_KEY; 0: no limit)",
        )
        parser.add_argument(
            "--requests-per-minute",
            type=int,
            default=None,
            help="requests started per minute (default: TTS_MAX_REQUESTS_PER_MINUTE; 0: no limit)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for option in ("max_connections", "requests_per_minute"):
            if options[option] is not None and options[option] < 0:
                self.stderr.write(f"--{option.replace('_', '-')} cannot be negative.")
                raise SystemExit(2)
        api_key, key = create_key(
            options["name"],
            max_connections=options["max_connections"],
            requests_per_minute=options["requests_per_minute"],
        )
        if options["verbosity"] >= 1:
            self.stderr.write(
                f"Created API key {api_key.prefix} for {api_key.name!r}. It is printed below, "
                "once; only its hash is stored."
            )
        self.stdout.write(key)
