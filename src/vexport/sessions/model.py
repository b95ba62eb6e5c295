"""The session as the domain sees it: state, progress, result files.

States follow the contract: S_NONE (queued) -> S_RUNNING -> S_COMPLETED ->
S_REMOVED. ``S_COMPLETED`` is not success; ``succeeded`` says, and ``error``
says why not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from vexport.media.plan import ExportKind


class SessionState(IntEnum):
    NONE = 0
    RUNNING = 1
    COMPLETED = 2
    REMOVED = 3


@dataclass(frozen=True)
class ResultFile:
    """One downloadable file. ``file_id`` is the contract's opaque ``path``."""

    file_id: str
    origin: str
    size: int
    first_frame: datetime
    last_frame: datetime
    mime_type: str
    sha256: str
    # s3://bucket/key of the uploaded copy (cloud_export), else empty.
    cloud_id: str = ""


@dataclass
class Session:
    id: str
    seq: int
    created_at: datetime
    agent: str
    kind: ExportKind
    options: bytes  # the Options message as the client sent it (secrets removed)
    plan: dict[str, object]
    timezone_minutes: int = 0
    state: SessionState = SessionState.NONE
    progress: float = 0.0
    last_frame: datetime | None = None
    succeeded: bool = False
    error: str = ""
    stop_requested: bool = False
    last_poll_at: datetime | None = None
    completed_at: datetime | None = None
    last_access_at: datetime | None = None
    removed_at: datetime | None = None
    files: list[ResultFile] = field(default_factory=list)

    @property
    def is_active(self) -> bool:
        return self.state in (SessionState.NONE, SessionState.RUNNING)
