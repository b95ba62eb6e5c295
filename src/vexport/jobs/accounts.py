"""Session tokens and audit events in the job database, next to the sessions they guard.

The database (not a process's memory) holds them so that every replica
accepts a token any replica gave out, and the audit log outlives processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Engine

from vexport.auth.audit import AuditEvent
from vexport.auth.tokens import SessionRecord
from vexport.jobs.tables import AuditRow, AuthSessionRow

__all__ = ["SqlAuditSink", "SqlSessionTokens"]

_SESSIONS: Table = AuthSessionRow.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditRow.__table__  # type: ignore[assignment]


class SqlSessionTokens:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, record: SessionRecord) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                insert(_SESSIONS).values(
                    token_hash=record.token_hash,
                    user_name=record.user,
                    issued_at=record.issued_at,
                    expires_at=record.expires_at,
                    renewable_until=record.renewable_until,
                )
            )

    def get(self, token_hash: str) -> SessionRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(_SESSIONS).where(_SESSIONS.c.token_hash == token_hash)
            ).first()
        if row is None:
            return None
        return SessionRecord(
            token_hash=row.token_hash,
            user=row.user_name,
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            renewable_until=row.renewable_until,
        )

    def remove(self, token_hash: str) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(_SESSIONS).where(_SESSIONS.c.token_hash == token_hash)
            )
        return bool(result.rowcount)

    def purge(self, before: datetime) -> int:
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(_SESSIONS).where(_SESSIONS.c.renewable_until < before)
            )
        return int(result.rowcount or 0)


class SqlAuditSink:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, event: AuditEvent) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                insert(_AUDIT).values(
                    at=event.at,
                    user_name=event.user[:255],
                    action=event.action,
                    session_id=event.session_id[:64],
                    client=event.client[:255],
                    outcome=event.outcome,
                    details=event.details,
                )
            )

    def events(
        self, *, limit: int, session_id: str | None = None, user: str | None = None
    ) -> Sequence[AuditEvent]:
        """The newest ``limit`` events, oldest first."""
        query = select(_AUDIT).order_by(_AUDIT.c.seq.desc()).limit(limit)
        if session_id is not None:
            query = query.where(_AUDIT.c.session_id == session_id)
        if user is not None:
            query = query.where(_AUDIT.c.user_name == user)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            AuditEvent(
                at=row.at,
                user=row.user_name,
                action=row.action,
                session_id=row.session_id,
                client=row.client,
                outcome=row.outcome,
                details=dict(row.details or {}),
            )
            for row in reversed(rows)
        ]
