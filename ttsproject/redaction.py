"""Secrets out of log lines: `?token=` values, bearer tokens and API keys, whoever logs them.

Browsers cannot set headers on a WebSocket, so clients may send their API key (or a demo page
token) as `?token=`; the query string then travels into access logs, warnings and tracebacks.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

REDACTED = "[redacted]"

# A query string inside a log line: from "?" to the next space or quote.
QUERY = re.compile(r"\?([^\s\"'<>]*)")
# `token=` anywhere else: a query string logged on its own, a scope's b'token=...' in a dump.
TOKEN_PARAMETER = re.compile(r"(?i)\btoken=[^&\s\"'<>]*")
BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"'<>,]+")
# The shape of access/keys.py's keys, repeated because logging is configured before the apps
# load (access.keys imports models). The prefix stays: it is how log lines name a key.
API_KEY = re.compile(r"(tts_[a-z0-9]{8}_)[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    """`text` with every token and API key secret in it replaced by [redacted]."""
    text = QUERY.sub(lambda match: "?" + redact_query(match.group(1)), text)
    text = TOKEN_PARAMETER.sub(f"token={REDACTED}", text)
    text = BEARER.sub(rf"\g<1>{REDACTED}", text)
    return API_KEY.sub(rf"\g<1>{REDACTED}", text)


def redact_query(query: str) -> str:
    """`query` with the value of each `token` parameter replaced.

    Names are compared decoded, as the server reads them: `%74oken=` is a token too.
    """
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        if equals and unquote_plus(name).lower() == "token":
            pair = f"{name}={REDACTED}"
        pairs.append(pair)
    return "&".join(pairs)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and traceback without their secrets, for every handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # the handler reports a record that cannot be formatted
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text once it is set, so the redacted text is what they print.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
