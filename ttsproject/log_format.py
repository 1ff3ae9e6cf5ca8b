"""Log lines as JSON objects, one per line, for log shippers (LOG_FORMAT=json).

Every line has `time` (UTC, ISO 8601), `level`, `logger` and `message`; a record logged with
`extra={"fields": {...}}` adds those fields at the top level (the request line of
synthesis/session.py, the access log of ttsproject/server.py), and a traceback goes into
`exception`. Secrets are taken out before a formatter sees a record (ttsproject/redaction.py).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Names a record's fields may not take: they would hide the line's own.
_RESERVED = frozenset({"time", "level", "logger", "message", "exception"})


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k not in _RESERVED})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str)
