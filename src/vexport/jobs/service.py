"""The job service: what the API adapters call for the contract's sessions.

It owns the rules that are not about media: which agent runs an export,
when its queue is full, who may download what, stopping and destroying, and
the clients' signs of life (noted in memory, written in batches by the
timers). Every method is synchronous and short: the adapters call them from
threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vexport import metrics
from vexport.auth.audit import AuditEvent, AuditLog
from vexport.auth.principal import Action, Principal, client_address, current, require
from vexport.config import AgentConfig, Settings
from vexport.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    shown,
)
from vexport.jobs.executors.base import Executor
from vexport.jobs.ledger import PollLedger
from vexport.jobs.model import Job, JobKind, JobState
from vexport.jobs.planning import plan_of, stored_plan
from vexport.jobs.requests import ExportRequest
from vexport.jobs.store import JobStore, NewJob
from vexport.media.decision import describe
from vexport.results.base import ResultFile, ResultReader, ResultStore
from vexport.timeutil import utcnow

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "JobService", "Page"]

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
STOPPED_QUEUED = "stopped before the export started"
DOWNLOAD_WINDOW = timedelta(minutes=10)
"""Reads of one file by one user within this long are one audited download."""
MAX_REMEMBERED_READS = 10_000


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    next_page_token: str


class JobService:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        results: ResultStore,
        executors: Mapping[str, Executor],
        ledger: PollLedger,
        *,
        pinned: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        audit: AuditLog | None = None,
    ) -> None:
        self.settings = settings
        self.audit = audit or AuditLog()
        self._reads: dict[tuple[str, str, str], datetime] = {}
        self._reads_lock = threading.Lock()
        self.store = store
        self.results = results
        self.executors = dict(executors)
        self.ledger = ledger
        self.pinned = dict(pinned or {})
        self.clock = clock
        self._agents = {agent.access_point: agent for agent in settings.agents}

    @property
    def agent_names(self) -> list[str]:
        return list(self._agents)

    # -- the contract's calls -------------------------------------------------

    def start(self, request: ExportRequest, options: bytes) -> str:
        """Store a new session and hand it to its agent's executor; its id."""
        principal = current()
        origins = [source.origin for source in request.sources]
        try:
            require(principal, Action.START, origins)
        except PermissionDenied:
            self._audit(Action.START, "", "denied", {"origins": origins})
            raise
        agent = self._agent_for(request)
        running_limit, queued_limit = self._limits(self._agents[agent])
        queued, running = self._counts(agent)
        if queued + running >= running_limit + queued_limit:
            raise ResourceExhausted(
                f"export agent {agent!r} has {running} exports running and {queued} queued;"
                " try again later"
            )
        plan = plan_of(request, self.settings)
        now = self.clock()
        job = self.store.add(
            NewJob(
                id=str(uuid.uuid4()),
                kind=JobKind(request.kind.value),
                agent=agent,
                created_at=now,
                request={"plan": stored_plan(plan)},
                options=options,
                timezone_minutes=request.timezone_minutes,
                processing=describe(plan),
                created_by=principal.name if principal is not None else None,
                evidence_locked=request.evidence_lock,
            )
        )
        self._audit(Action.START, job.id, "ok", _start_details(request, job.processing))
        metrics.export_started(job.kind.value)
        self.publish(job.id, agent)
        log.info("session %s: %s on %s queued", job.id, request.kind.value, agent)
        return job.id

    def publish(self, job_id: str, agent: str) -> bool:
        """Hand ``job_id`` to the agent's executor; False (the timers retry) if that failed."""
        executor = self.executors.get(agent)
        if executor is None:
            return False
        try:
            executor.submit(job_id)
        except Exception as exc:  # the broker is away: the job waits in the store
            log.warning("job %s: handing it to %s failed (%s); the timers will retry",
                        job_id, agent, type(exc).__name__)  # fmt: skip
            self.store.mark_unpublished(job_id)
            return False
        self.store.mark_published([job_id], self.clock())
        return True

    def get_state(self, job_id: str) -> Job:
        """The session's state; counts as the client's sign of life (watchdog, retention)."""
        job = self._visible(job_id, Action.STATE)
        now = self.clock()
        if job.is_active:
            self.ledger.poll(job_id, now)
        elif job.state is JobState.COMPLETED:
            self.ledger.access(job_id, now)
        return job

    def stop(self, job_id: str) -> Job:
        job = self._controlled(job_id, Action.STOP)
        if job.is_active:
            self.request_stop(job)
            job = self.get(job_id)
        return job

    async def stop_and_wait(self, job_id: str, timeout: float = 15.0) -> Job:
        """Stop, then give the export a moment to finalise so the answer is S_COMPLETED.

        The store is read from threads: the event loop only sleeps.
        """
        job = await asyncio.to_thread(self.stop, job_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while job.is_active and loop.time() < deadline:
            await asyncio.sleep(0.1)
            job = await asyncio.to_thread(self.get, job_id)
        return job

    def destroy(self, job_id: str) -> None:
        try:
            require(current(), Action.DESTROY)
        except PermissionDenied:
            self._audit(Action.DESTROY, job_id, "denied", {})
            raise
        if job_id and self.store.discard_unreadable(job_id):
            # A row this version cannot read: nothing to stop, nothing listed.
            self._audit(Action.DESTROY, job_id, "ok", {"unreadable": True})
            return
        job = self._controlled(job_id, Action.DESTROY)
        if job.evidence_locked:
            raise FailedPrecondition(
                f"session {shown(job_id)} is locked as evidence; an admin unlocks it before it"
                " can be destroyed",
                field="session_id",
            )
        if job.is_active:
            self.request_stop(job)
        self.remove(job_id)

    def set_evidence_lock(self, job_id: str, locked: bool) -> Job:
        """Lock a session as evidence (exempt from retention), or unlock it (admins only,
        once authentication exists); the session as it now is."""
        job = self.get(job_id)
        if job.state is JobState.REMOVED:
            raise FailedPrecondition(
                f"session {job_id} was removed; its files are deleted", field="session_id"
            )
        self.store.set_evidence_lock(job_id, locked)
        return self.get(job_id)

    def list_page(self, page_token: str, page_size: int) -> Page:
        if page_size < 0:
            raise InvalidArgument("must not be negative", field="page_size")
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        principal = current()
        require(principal, Action.LIST)
        before = _decode_page_token(page_token) if page_token else None
        own = None
        if principal is not None and not (principal.is_admin or principal.sees_all):
            own = principal.name
        jobs = self.store.page(before_seq=before, limit=limit + 1, created_by=own)
        more = len(jobs) > limit
        jobs = jobs[:limit]
        token = _encode_page_token(jobs[-1].seq) if more and jobs else ""
        if principal is not None:  # a page may come out short: the token still goes on
            jobs = [job for job in jobs if principal.sees(job.created_by, _origins(job))]
        return Page(jobs=jobs, next_page_token=token)

    def open_download(self, job_id: str, file_id: str) -> tuple[ResultFile, ResultReader]:
        """The listed file of a completed session, opened; resets its retention clock."""
        job = self._visible(job_id, Action.DOWNLOAD)
        if job.state is JobState.REMOVED:
            raise NotFound(f"session {shown(job_id)} was removed; its files are deleted")
        if job.state is not JobState.COMPLETED:
            raise FailedPrecondition(
                f"session {shown(job_id)} is S_{job.state.name}; "
                "files can be downloaded once it is S_COMPLETED"
            )
        for file in job.files:
            if file.file_id == file_id:
                self.ledger.access(job_id, self.clock())
                if self._first_read_lately(job_id, file.file_id):
                    self._audit(
                        Action.DOWNLOAD,
                        job_id,
                        "ok",
                        {"file": file.file_id, "size": file.size, "sha256": file.sha256},
                    )
                try:
                    return file, self.results.open(file)
                except NotFound:
                    raise NotFound(
                        f"file {shown(file_id)} of session {shown(job_id)}"
                        " is missing from the result store"
                    ) from None
        raise NotFound(f"session {shown(job_id)} has no file {shown(file_id)}", field="file_path")

    def touch_download(self, job_id: str) -> None:
        self.ledger.access(job_id, self.clock())

    # -- shared with the timers -----------------------------------------------

    def get(self, job_id: str) -> Job:
        if not job_id:
            raise InvalidArgument("is required", field="session_id")
        job = self.store.get(job_id)
        if job is None or not job.kind.is_session:
            if job is None and self.store.unreadable(job_id):
                raise NotFound(
                    f"session {shown(job_id)} is stored in a form this server cannot read;"
                    " DestroySession removes it",
                    field="session_id",
                )
            raise NotFound(f"unknown session {shown(job_id)}", field="session_id")
        return job

    def request_stop(self, job: Job, reason: str = "") -> None:
        """A queued job completes at once; a running one is told through the store.

        ``reason``: a stop nobody asked for (the watchdog's); the session then ends
        with ``succeeded = false`` and the reason, its files kept.
        """
        queued = job.state is JobState.NONE and job.owner is None
        if queued and self.store.complete(
            job.id,
            from_states=(JobState.NONE,),
            succeeded=False,
            error=reason or STOPPED_QUEUED,
            files=[],
            now=self.clock(),
        ):
            return
        self.store.request_stop(job.id, reason=reason)
        executor = self.executors.get(job.agent)
        if executor is not None:
            executor.wake(job.id)

    def remove(self, job_id: str, now: datetime | None = None) -> None:
        self.results.delete(job_id)
        self.store.mark_removed(job_id, now or self.clock())

    # -- permissions and audit ------------------------------------------------

    def _visible(self, job_id: str, action: Action) -> Job:
        """The session if the caller may ``action`` it; another user's is NOT_FOUND."""
        principal = current()
        require(principal, action)
        job = self.get(job_id)
        if principal is not None and not principal.sees(job.created_by, _origins(job)):
            raise NotFound(f"unknown session {shown(job_id)}", field="session_id")
        return job

    def _controlled(self, job_id: str, action: Action) -> Job:
        """The session if the caller may stop or destroy it (its own, or any for admins)."""
        principal = current()
        try:
            job = self._visible(job_id, action)
            if principal is not None and not principal.controls(job.created_by):
                raise PermissionDenied(
                    f"session {shown(job_id)} was started by another user; only an admin may "
                    f"{action.value} it"
                )
        except PermissionDenied:
            self._audit(action, job_id, "denied", {})
            raise
        self._audit(action, job_id, "ok", {"origins": _origins(job), "state": job.state.name})
        return job

    def _first_read_lately(self, job_id: str, file_id: str) -> bool:
        """Whether this caller's read of the file is its first in ``DOWNLOAD_WINDOW``.

        A player or a resuming client reads one file in many ranges or calls: the
        audit log records one download, not each piece of it.
        """
        principal = current()
        key = (principal.name if principal is not None else "-", job_id, file_id)
        now = self.clock()
        with self._reads_lock:
            last = self._reads.get(key)
            self._reads[key] = now
            if len(self._reads) > MAX_REMEMBERED_READS:
                horizon = now - DOWNLOAD_WINDOW
                self._reads = {k: t for k, t in self._reads.items() if t > horizon}
        return last is None or now - last > DOWNLOAD_WINDOW

    def _audit(self, action: Action, job_id: str, outcome: str, details: dict[str, Any]) -> None:
        principal: Principal | None = current()
        self.audit.record(
            AuditEvent(
                at=self.clock(),
                user=principal.name if principal is not None else "-",
                action=action.value,
                session_id=job_id,
                client=client_address(),
                outcome=outcome,
                details=details,
            )
        )

    # -- helpers --------------------------------------------------------------

    def _agent_for(self, request: ExportRequest) -> str:
        """The named agent, else the first source's pinned agent, else the first agent."""
        if request.agent is not None:
            return request.agent
        for source in request.sources:
            pinned = self.pinned.get(source.origin)
            if pinned is not None:
                return pinned
        return self.agent_names[0]

    def _limits(self, agent: AgentConfig) -> tuple[int, int]:
        sessions = self.settings.sessions
        running = agent.max_running or sessions.max_running
        queued = sessions.max_queued if agent.max_queued is None else agent.max_queued
        return running, queued

    def _counts(self, agent: str) -> tuple[int, int]:
        counts = self.store.count_by_state(agent)
        return counts.get(JobState.NONE, 0), counts.get(JobState.RUNNING, 0)


def _origins(job: Job) -> list[str]:
    sources = job.request.get("plan", {}).get("sources", [])
    return [str(source.get("origin", "")) for source in sources]


def _start_details(request: ExportRequest, processing: str) -> dict[str, Any]:
    """What was asked, summarised: names and times, never a URL, key or comment."""
    return {
        "origins": [source.origin for source in request.sources],
        "kind": request.kind.value,
        "format": request.container.value,
        "begin": request.start.isoformat() if request.start else None,
        "end": request.end.isoformat() if request.end else None,
        "duration_seconds": request.duration_seconds,
        "max_file_size": request.max_file_size,
        "cloud_export": request.cloud_export,
        "processing": processing,
    }


_MAX_SEQ = 2**63


def _encode_page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def _decode_page_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        version, seq = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        if version != "v1" or not 0 < int(seq) < _MAX_SEQ:  # a database integer holds it
            raise ValueError(version)
        return int(seq)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(
            "not a token this server gave out; start again without one", field="page_token"
        ) from None
