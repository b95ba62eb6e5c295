"""Logging for the service processes: text or JSON lines, and quiet libraries.

``configure`` is called once by ``vexport serve`` / ``vexport agent``
(``--log-format``, ``[server] log_format``). JSON lines carry ``time``,
``level``, ``logger``, ``message`` and the record's structured fields (the
access log's ``method``, ``path``, ``status``, ``duration_ms``, ``client``), so a
log pipeline needs no parsing rules. Libraries that narrate their work at INFO
(fontTools writes ~150 lines for one PDF, botocore one per request) are held
at WARNING whatever the level, so the service's own lines stay readable.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["FIELDS", "JsonFormatter", "LogFormat", "configure"]

LogFormat = Literal["text", "json"]

QUIET = (
    "fontTools", "PIL", "botocore", "boto3", "s3transfer", "urllib3", "fpdf",
    "multipart", "httpx", "httpcore", "asyncio", "uvicorn.error", "celery.redirected",
    "alembic.runtime.plugins",
)  # fmt: skip
"""Held at WARNING: they log every step of their work at INFO or DEBUG."""

FIELDS = ("method", "path", "status", "duration_ms", "client", "session_id")
"""Structured ``extra`` fields a record may carry; the JSON format writes them as keys."""

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "info", fmt: LogFormat = "text") -> None:
    """Set up the root logger for a service process (replacing earlier handlers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
