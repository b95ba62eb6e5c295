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
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from vexport.config import AgentConfig, Settings
from vexport.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from vexport.jobs.executors.base import Executor
from vexport.jobs.ledger import PollLedger
from vexport.jobs.model import Job, JobKind, JobState
from vexport.jobs.planning import plan_of
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
    ) -> None:
        self.settings = settings
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
                request={"plan": plan.to_json()},
                options=options,
                timezone_minutes=request.timezone_minutes,
                processing=describe(plan),
                evidence_locked=request.evidence_lock,
            )
        )
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
        job = self.get(job_id)
        now = self.clock()
        if job.is_active:
            self.ledger.poll(job_id, now)
        elif job.state is JobState.COMPLETED:
            self.ledger.access(job_id, now)
        return job

    def stop(self, job_id: str) -> Job:
        job = self.get(job_id)
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
        job = self.get(job_id)
        if job.evidence_locked:
            raise FailedPrecondition(
                f"session {job_id} is locked as evidence; an admin unlocks it before it can"
                " be destroyed",
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
        before = _decode_page_token(page_token) if page_token else None
        jobs = self.store.page(before_seq=before, limit=limit + 1)
        more = len(jobs) > limit
        jobs = jobs[:limit]
        token = _encode_page_token(jobs[-1].seq) if more and jobs else ""
        return Page(jobs=jobs, next_page_token=token)

    def open_download(self, job_id: str, file_id: str) -> tuple[ResultFile, ResultReader]:
        """The listed file of a completed session, opened; resets its retention clock."""
        job = self.get(job_id)
        if job.state is JobState.REMOVED:
            raise NotFound(f"session {job_id} was removed; its files are deleted")
        if job.state is not JobState.COMPLETED:
            raise FailedPrecondition(
                f"session {job_id} is S_{job.state.name}; "
                "files can be downloaded once it is S_COMPLETED"
            )
        for file in job.files:
            if file.file_id == file_id:
                self.ledger.access(job_id, self.clock())
                try:
                    return file, self.results.open(file)
                except NotFound:
                    raise NotFound(
                        f"file {file_id!r} of session {job_id} is missing from the result store"
                    ) from None
        raise NotFound(f"session {job_id} has no file {file_id!r}", field="file_path")

    def touch_download(self, job_id: str) -> None:
        self.ledger.access(job_id, self.clock())

    # -- shared with the timers -----------------------------------------------

    def get(self, job_id: str) -> Job:
        if not job_id:
            raise InvalidArgument("is required", field="session_id")
        job = self.store.get(job_id)
        if job is None or not job.kind.is_session:
            raise NotFound(f"unknown session {job_id!r}", field="session_id")
        return job

    def request_stop(self, job: Job) -> None:
        """A queued job completes at once; a running one is told through the store."""
        queued = job.state is JobState.NONE and job.owner is None
        if queued and self.store.complete(
            job.id,
            from_states=(JobState.NONE,),
            succeeded=False,
            error=STOPPED_QUEUED,
            files=[],
            now=self.clock(),
        ):
            return
        self.store.request_stop(job.id)
        executor = self.executors.get(job.agent)
        if executor is not None:
            executor.wake(job.id)

    def remove(self, job_id: str, now: datetime | None = None) -> None:
        self.results.delete(job_id)
        self.store.mark_removed(job_id, now or self.clock())

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
