"""The audit log: who started, downloaded, stopped and destroyed what, from where.

Each event goes to two places: the database (``audit_events``, only ever
inserted; ``vexport audit`` lists it) and the ``vexport.audit`` logger as one
JSON object per line, for a log pipeline. Events hold names, times, counts
and hashes, never a URL, key, token or password: what a client sent is
summarised, not copied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = ["AuditEvent", "AuditLog", "AuditSink"]

log = logging.getLogger("vexport.audit")


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    user: str
    action: str  # start, download, stop, destroy
    session_id: str
    client: str = ""
    outcome: str = "ok"  # ok, denied
    # origins, begin/end of the range, the options summary, file hashes
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "user": self.user,
            "action": self.action,
            "session_id": self.session_id,
            "client": self.client,
            "outcome": self.outcome,
            **self.details,
        }


class AuditSink(Protocol):
    def append(self, event: AuditEvent) -> None: ...

    def events(
        self, *, limit: int, session_id: str | None = None, user: str | None = None
    ) -> Sequence[AuditEvent]: ...


class AuditLog:
    """Records events in the sink and the JSON log; a failing sink never fails the call."""

    def __init__(self, sink: AuditSink | None = None) -> None:
        self.sink = sink

    def record(self, event: AuditEvent) -> None:
        log.info(json.dumps(event.to_json(), sort_keys=True))
        if self.sink is None:
            return
        try:
            self.sink.append(event)
        except Exception as exc:  # the database is away: the log line above still holds it
            log.warning("audit event not stored (%s)", type(exc).__name__)
