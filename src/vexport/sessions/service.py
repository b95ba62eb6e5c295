"""The session service: what every API adapter calls.

It owns the rules of the contract that are not about media: which agent
runs an export, when the queue is full, who may download what, the watchdog
and the retention clock, and what a restart does to sessions in flight.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vexport.agents.executor import Executor
from vexport.config import Settings
from vexport.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from vexport.media.decision import decided
from vexport.media.plan import ExportKind, ExportPlan
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.results.local import LocalResultStore
from vexport.sessions.model import ResultFile, Session, SessionState
from vexport.sessions.options import validate_options
from vexport.sessions.privacy_options import with_configured_fill
from vexport.sessions.store import SessionStore
from vexport.sources.catalog import Catalog
from vexport.timeutil import utcnow

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page:
    sessions: list[Session]
    next_page_token: str


class SessionService:
    def __init__(
        self,
        settings: Settings,
        store: SessionStore,
        results: LocalResultStore,
        catalog: Catalog,
    ) -> None:
        self.settings = settings
        self.store = store
        self.results = results
        self.catalog = catalog
        self.executors: dict[str, Executor] = {}

    @property
    def agent_names(self) -> list[str]:
        return [agent.access_point for agent in self.settings.agents]

    def add_executor(self, executor: Executor) -> None:
        self.executors[executor.access_point] = executor

    # -- the contract's calls -------------------------------------------------

    def start(self, options: pb.Options) -> str:
        request = validate_options(
            options,
            self.catalog,
            self.agent_names,
            cloud_store=self.settings.results.s3_bucket is not None,
        )
        executor = self.executors[request.agent]
        if not executor.has_room():
            raise ResourceExhausted(
                f"export agent {request.agent!r} has {executor.running_count()} exports "
                f"running and {executor.queued_count()} queued; try again later"
            )
        session_id = str(uuid.uuid4())
        plan = ExportPlan(
            kind=request.kind,
            sources=with_configured_fill(
                request.sources, self.settings.media.mask_fill, self.settings.media.mosaic_cell
            ),
            container=request.container,
            start=request.start,
            end=request.end,
            duration_seconds=request.duration_seconds,
            max_file_size=request.max_file_size,
            snapshot_wait_seconds=self.settings.sessions.snapshot_wait.total_seconds(),
            reconnect_delay_seconds=self.settings.sessions.reconnect_delay.total_seconds(),
            file_stem=request.file_stem,
            rendering=request.rendering,
            pdf=request.pdf,
            timezone_minutes=request.timezone_minutes,
            extra={"cloud_export": True} if request.cloud_export else {},
        )
        plan = decided(plan, self.settings.media.cut)
        now = utcnow()
        self.store.add(
            Session(
                id=session_id,
                seq=0,
                created_at=now,
                agent=request.agent,
                kind=request.kind,
                options=options.SerializeToString(),
                plan=plan.to_json(),
                timezone_minutes=request.timezone_minutes,
                last_poll_at=now,
            )
        )
        executor.submit(session_id)
        log.info("session %s: %s on %s queued", session_id, request.kind.value, request.agent)
        return session_id

    def get_state(self, session_id: str) -> Session:
        """The session's state; counts as the client's sign of life (watchdog, retention)."""
        session = self._get(session_id)
        now = utcnow()
        if session.is_active:
            self.store.update(session_id, last_poll_at=now)
        elif session.state is SessionState.COMPLETED:
            self.store.update(session_id, last_access_at=now)
        return session

    def stop(self, session_id: str) -> Session:
        session = self._get(session_id)
        if session.is_active:
            self._request_stop(session)
        return self._get(session_id)

    async def stop_and_wait(self, session_id: str, timeout: float = 15.0) -> Session:
        """Stop, then give the export a moment to finalise so the answer is S_COMPLETED."""
        session = self.stop(session_id)
        deadline = asyncio.get_running_loop().time() + timeout
        while session.is_active and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            session = self._get(session_id)
        return session

    def destroy(self, session_id: str) -> None:
        session = self._get(session_id)
        if session.is_active:
            self._request_stop(session)
        self._remove(session_id)

    def list_page(self, page_token: str, page_size: int) -> Page:
        if page_size < 0:
            raise InvalidArgument("must not be negative", field="page_size")
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        before = _decode_page_token(page_token) if page_token else None
        sessions = self.store.page(before_seq=before, limit=limit + 1)
        more = len(sessions) > limit
        sessions = sessions[:limit]
        token = _encode_page_token(sessions[-1].seq) if more and sessions else ""
        return Page(sessions=sessions, next_page_token=token)

    def open_download(self, session_id: str, file_id: str) -> tuple[ResultFile, Path]:
        """The listed file of a completed session, and where it is; resets retention."""
        session = self._get(session_id)
        if session.state is SessionState.REMOVED:
            raise NotFound(f"session {session_id} was removed; its files are deleted")
        if session.state is not SessionState.COMPLETED:
            raise FailedPrecondition(
                f"session {session_id} is {_state_name(session.state)}; "
                "files can be downloaded once it is S_COMPLETED"
            )
        for file in session.files:
            if file.file_id == file_id:
                self.store.update(session_id, last_access_at=utcnow())
                path = self.results.path_of(session_id, file)
                if not path.is_file():
                    raise NotFound(f"file {file_id!r} of session {session_id} is missing on disk")
                return file, path
        raise NotFound(f"session {session_id} has no file {file_id!r}", field="file_path")

    def touch_download(self, session_id: str) -> None:
        self.store.update(session_id, last_access_at=utcnow())

    # -- timers and recovery --------------------------------------------------

    def sweep(self, now: datetime | None = None) -> None:
        """Apply the watchdog, retention and forgetting; called periodically."""
        now = now or utcnow()
        config = self.settings.sessions
        for session in self.store.with_state(SessionState.NONE, SessionState.RUNNING):
            limit = (
                config.watchdog_live_clip
                if session.kind is ExportKind.LIVE_CLIP
                else config.watchdog
            )
            last_sign = session.last_poll_at or session.created_at
            if not session.stop_requested and now - last_sign > limit:
                log.info("session %s: no GetSessionState for %s, stopping", session.id, limit)
                self._request_stop(session)
        for session in self.store.with_state(SessionState.COMPLETED):
            last_access = session.last_access_at or session.completed_at or session.created_at
            if now - last_access > config.retention:
                log.info("session %s: retention of %s over, removing", session.id, config.retention)
                self._remove(session.id, now)
        for session in self.store.with_state(SessionState.REMOVED):
            if session.removed_at and now - session.removed_at > config.removed_kept:
                self.store.delete(session.id)

    def recover(self) -> None:
        """After a restart: fail what was running, queue again what was waiting."""
        now = utcnow()
        for session in self.store.with_state(SessionState.RUNNING):
            self.store.complete(
                session.id,
                succeeded=False,
                error="the server restarted while this export was running",
                files=[],
                now=now,
                last_frame=session.last_frame,
            )
            self.results.delete_session(session.id)
        for session in self.store.with_state(SessionState.NONE):
            executor = self.executors.get(session.agent)
            if executor is None:
                self.store.complete(
                    session.id,
                    succeeded=False,
                    error=f"export agent {session.agent!r} is no longer configured",
                    files=[],
                    now=now,
                    last_frame=None,
                )
                continue
            self.store.update(session.id, last_poll_at=now)
            executor.submit(session.id)

    def on_dequeued_stop(self, session_id: str) -> None:
        """A queued session was stopped before it ran: it completes without files."""
        self.store.complete(
            session_id,
            succeeded=False,
            error="stopped before the export started",
            files=[],
            now=utcnow(),
            last_frame=None,
        )

    # -- helpers --------------------------------------------------------------

    def _get(self, session_id: str) -> Session:
        if not session_id:
            raise InvalidArgument("is required", field="session_id")
        session = self.store.get(session_id)
        if session is None:
            raise NotFound(f"unknown session {session_id!r}", field="session_id")
        return session

    def _request_stop(self, session: Session) -> None:
        self.store.update(session.id, stop_requested=True)
        executor = self.executors.get(session.agent)
        if executor is None or not executor.stop(session.id):
            # Nobody holds it (its agent is gone): complete it here.
            self.on_dequeued_stop(session.id)

    def _remove(self, session_id: str, now: datetime | None = None) -> None:
        self.results.delete_session(session_id)
        self.store.mark_removed(session_id, now or utcnow())


def _state_name(state: SessionState) -> str:
    return f"S_{state.name}"


def _encode_page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def _decode_page_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        version, seq = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        if version != "v1":
            raise ValueError(version)
        return int(seq)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(
            "not a token this server gave out; start again without one", field="page_token"
        ) from None
