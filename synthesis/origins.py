"""Which WebSocket connections may come in, judged by their Origin header."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """Browsers must come from an allowed host; clients that send no Origin are let through.

    Channels' AllowedHostsOriginValidator refuses connections without an Origin header, which
    shuts out every SDK and server-side client. Only browsers send Origin (and cannot fake it),
    so the check that protects users of a page only applies to them.
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, settings.ALLOWED_HOSTS)

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))
