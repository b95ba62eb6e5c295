"""Session tokens, audit events and session owners in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.jobs.test_store import new
from vexport.auth.audit import AuditEvent
from vexport.auth.tokens import SessionRecord, token_hash
from vexport.jobs.accounts import SqlAuditSink, SqlSessionTokens
from vexport.jobs.store import JobStore

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_session_tokens_are_kept_by_hash_and_purged(store: JobStore) -> None:
    tokens = SqlSessionTokens(store.engine)
    record = SessionRecord(
        token_hash=token_hash("vxs_a"),
        user="alice",
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
        renewable_until=NOW + timedelta(hours=1),
    )
    tokens.add(record)
    tokens.add(SessionRecord(token_hash("vxs_b"), "bob", NOW, NOW, NOW + timedelta(minutes=1)))
    assert tokens.get(record.token_hash) == record
    assert tokens.get(token_hash("vxs_c")) is None
    assert tokens.purge(NOW + timedelta(minutes=2)) == 1
    assert tokens.get(token_hash("vxs_b")) is None
    assert tokens.remove(record.token_hash) and not tokens.remove(record.token_hash)


def test_audit_events_are_listed_oldest_first_by_session_and_user(store: JobStore) -> None:
    sink = SqlAuditSink(store.engine)
    for minute, (user, action) in enumerate(
        [("alice", "start"), ("alice", "download"), ("bob", "start"), ("alice", "destroy")]
    ):
        session = "s2" if user == "bob" else "s1"
        sink.append(
            AuditEvent(
                at=NOW + timedelta(minutes=minute),
                user=user,
                action=action,
                session_id=session,
                details={"origins": ["cam"], "sha256": "0" * 64},
            )
        )
    assert [e.action for e in sink.events(limit=10, session_id="s1")] == [
        "start", "download", "destroy",
    ]  # fmt: skip
    (bobs,) = sink.events(limit=10, user="bob")
    assert bobs.at == NOW + timedelta(minutes=2) and bobs.details["origins"] == ["cam"]
    assert [e.action for e in sink.events(limit=2)] == ["start", "destroy"]  # the newest two


def test_pages_of_one_users_sessions(store: JobStore) -> None:
    for index in range(5):
        store.add(new(f"j{index}", created_by="alice" if index % 2 == 0 else "bob"))
    assert [j.id for j in store.page(before_seq=None, limit=10, created_by="alice")] == [
        "j4", "j2", "j0",
    ]  # fmt: skip
    first = store.page(before_seq=None, limit=1, created_by="bob")
    assert [j.id for j in first] == ["j3"] and first[0].created_by == "bob"
    rest = store.page(before_seq=first[0].seq, limit=10, created_by="bob")
    assert [j.id for j in rest] == ["j1"]
    assert len(store.page(before_seq=None, limit=10)) == 5
