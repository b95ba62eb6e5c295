"""The job as the engine sees it: kind, state, lease, outcome; and the one state machine.

States follow the export contract: S_NONE (queued) -> S_RUNNING ->
S_COMPLETED -> S_REMOVED. ``COMPLETED`` is not success: ``succeeded`` says,
and ``error`` says why not. Every kind of export, the contract's sessions and
export-to-s3dir alike, is a job with these states; the store only ever moves
a job along ``TRANSITIONS``, with a compare-and-set on the state it expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from vexport.media.formats import ExportKind
from vexport.results.base import ResultFile

__all__ = [
    "TRANSITIONS",
    "Job",
    "JobKind",
    "JobState",
    "ResultFile",
    "can_move",
    "sources_of",
]


class JobState(IntEnum):
    NONE = 0
    RUNNING = 1
    COMPLETED = 2
    REMOVED = 3


TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    # claimed by a worker; stopped or refused before it ran; destroyed
    JobState.NONE: frozenset({JobState.RUNNING, JobState.COMPLETED, JobState.REMOVED}),
    # queued again after its worker was lost; finished (or failed); destroyed
    JobState.RUNNING: frozenset({JobState.NONE, JobState.COMPLETED, JobState.REMOVED}),
    # retention over, or destroyed
    JobState.COMPLETED: frozenset({JobState.REMOVED}),
    JobState.REMOVED: frozenset(),
}
"""Where a job in each state may go next; nothing moves a job backwards past S_RUNNING."""

ACTIVE = (JobState.NONE, JobState.RUNNING)


def can_move(current: JobState, target: JobState) -> bool:
    return target in TRANSITIONS[current]


def sources_of(target: JobState) -> tuple[JobState, ...]:
    """The states a job may be in to move to ``target`` (the store's compare-and-set)."""
    return tuple(state for state, targets in TRANSITIONS.items() if target in targets)


class JobKind(StrEnum):
    ARCHIVE_CLIP = ExportKind.ARCHIVE_CLIP.value
    ARCHIVE_SNAPSHOT = ExportKind.ARCHIVE_SNAPSHOT.value
    LIVE_CLIP = ExportKind.LIVE_CLIP.value
    LIVE_SNAPSHOT = ExportKind.LIVE_SNAPSHOT.value
    S3DIR = "s3dir"

    @property
    def is_session(self) -> bool:
        """A session of the export contract (listed, polled, downloaded, watched)."""
        return self is not JobKind.S3DIR

    @property
    def rerunnable(self) -> bool:
        """Whether a run cut short (a lost worker, a restart) may simply run again.

        Archive exports give the same files the second time. A live clip cannot
        (the minutes it was recording are gone), and an export-to-s3dir job
        holds the caller's key only in the memory of the process that took it.
        """
        return self not in (JobKind.LIVE_CLIP, JobKind.S3DIR)

    @property
    def export_kind(self) -> ExportKind:
        return ExportKind(self.value)


@dataclass
class Job:
    id: str
    seq: int
    kind: JobKind
    agent: str
    created_at: datetime
    # The kind's own data: {"plan": ...} for exports, the public request for s3dir.
    request: dict[str, Any]
    # The Options message as the client sent it (ListSessions shows it); empty for s3dir.
    options: bytes = b""
    timezone_minutes: int = 0
    state: JobState = JobState.NONE
    progress: float = 0.0
    last_frame: datetime | None = None
    succeeded: bool = False
    error: str = ""
    # What was (or will be) done to the video: the plan's intent, then what the files say.
    processing: str = ""
    stop_requested: bool = False
    # The node running (or holding) the job, and until when its lease holds.
    owner: str | None = None
    lease_expires_at: datetime | None = None
    attempts: int = 0
    published_at: datetime | None = None
    publishes: int = 0
    last_poll_at: datetime | None = None
    completed_at: datetime | None = None
    last_access_at: datetime | None = None
    removed_at: datetime | None = None
    # export-to-s3dir: the keyed fingerprint of the request, and the answer's data.
    fingerprint: str | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    # The user who started it (None: started with authentication off).
    created_by: str | None = None
    # Locked as evidence: retention keeps it until an admin unlocks it.
    evidence_locked: bool = False
    files: list[ResultFile] = field(default_factory=list)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE
