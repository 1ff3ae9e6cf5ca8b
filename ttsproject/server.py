"""Daphne as `manage.py serve` runs it: `python -m ttsproject.server [daphne's options] app`.

The same command line as `daphne`, with four differences:

- the web process starts before it serves (start_web_process): the voices load in the
  background, SIGUSR1 drains (synthesis/draining.py), and sockets can be closed with 1001;
- the access log leaves secrets out: `?token=` values and API keys (ttsproject/redaction.py),
  and with LOG_FORMAT=json it goes through logging as JSON like every other line;
- a frame or message over the WebSocket layer's limit gets a close frame with 1009, where
  plain Daphne drops the TCP connection and the client sees 1006;
- that limit is largest_frame(), above TTS_MAX_MESSAGE_BYTES, so that a frame over the
  application's own limit is answered (`message_too_large`) instead of cut off.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings

from synthesis.draining import drain

from .close_frames import patch_server_close
from .redaction import redact

APPLICATION = "ttsproject.asgi:application"
access_log = logging.getLogger("daphne.access")


def start_web_process() -> None:
    """Start what a web process runs besides serving: call once, in the main thread, with
    Django set up, before serving. Importing the application starts none of it."""
    # Imported here: it imports models, and Django is set up by importing the application.
    from synthesis.voice_loading import keep_voices_loaded

    patch_server_close()
    drain.install_signal_handler()
    # A web process whose workers run elsewhere (REDIS_URL) never synthesizes: loading the
    # voices would cost it hundreds of MB for nothing.
    if settings.TTS_PRELOAD_VOICES and settings.TTS_EMBEDDED_WORKERS:
        # In the background, so that the server accepts connections while the voices load;
        # then each voice imported or enabled later, as it is.
        keep_voices_loaded()


def largest_frame() -> int:
    """Frames the WebSocket layer reads at all: Daphne's 1 MiB, or more if the application's
    limit needs it, so a frame over that limit is answered (message_too_large), not cut off."""
    return max(1024 * 1024, 2 * settings.TTS_MAX_MESSAGE_BYTES)


def command(host: str, port: int) -> list[str]:
    """The command line that serves the application on `host`:`port`."""
    return [sys.executable, "-m", "ttsproject.server", "-b", host, "-p", str(port), APPLICATION]


class TTSServer(Server):
    """Daphne's server, starting the web process first, with a redacted access log and
    oversized frames closed with 1009."""

    def run(self) -> None:
        """Called to serve, once the application is imported: start the process, then Daphne."""
        start_web_process()
        super().run()

    def protocol_connected(self, protocol: Any) -> None:
        """Called when a connection opens (a WebSocket one once its handshake arrives)."""
        if isinstance(protocol, WebSocketProtocol):
            # autobahn fails a connection (a frame over the limit: 1009, a protocol error:
            # 1002) by dropping TCP unless told otherwise; a close frame tells the client why.
            protocol.failByDrop = False
        super().protocol_connected(protocol)

    def log_action(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        """Called for each access log line; HTTP paths carry their query string."""
        if "path" in details:
            details = {**details, "path": redact(details["path"])}
        if settings.LOG_FORMAT == "json":
            # Through logging, as JSON like every other line, instead of Daphne's stream.
            access_log.info(
                "%s %s %s",
                protocol,
                action,
                details.get("path", ""),
                extra={"fields": {"protocol": protocol, "action": action, **details}},
            )
            return
        super().log_action(protocol, action, details)


class TTSCommandLine(CommandLineInterface):
    """Daphne's command line, serving with TTSServer and the WebSocket limit raised."""

    server_class = TTSServer

    def __init__(self) -> None:
        super().__init__()
        self.parser.set_defaults(
            websocket_max_frame_size=largest_frame(),
            websocket_max_message_size=largest_frame(),
        )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ttsproject.settings")
    TTSCommandLine.entrypoint()
