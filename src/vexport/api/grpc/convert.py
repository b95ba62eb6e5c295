"""Jobs to the contract's messages."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from google.protobuf.message import DecodeError

from vexport.jobs.model import Job, JobState
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.timeutil import format_timestamp

log = logging.getLogger(__name__)


def state_message(job: Job) -> spb.State:
    state = spb.State()
    _fill_state(state, job)
    return state


def _fill_state(state: spb.State, job: Job) -> None:
    state.state = int(job.state)  # type: ignore[assignment]
    if job.last_frame:
        state.last_frame_timestamp = format_timestamp(job.last_frame)
    state.progress = job.progress
    state.error = job.error
    state.processing = job.processing
    state.evidence_locked = job.evidence_locked
    if job.state >= JobState.COMPLETED:  # S_COMPLETED or S_REMOVED carry a result
        state.result.succeeded = job.succeeded
        for file in job.files:
            state.result.files.add(
                path=file.file_id,
                size=file.size,
                min_timestamp=format_timestamp(file.first_frame),
                max_timestamp=format_timestamp(file.last_frame),
                mime_type=file.mime_type,
                timezone=job.timezone_minutes,
                sha256=file.sha256,
                cloud_id=file.cloud_id,
            )


def session_info(job: Job) -> spb.ListSessionsResponse.SessionInfo:
    """Built in place: a page of a hundred sessions would otherwise copy each message twice."""
    info = spb.ListSessionsResponse.SessionInfo()
    info.session.id = job.id
    info.session.options.MergeFromString(job.options)
    _fill_state(info.state, job)
    return info


def session_infos(jobs: Iterable[Job]) -> list[spb.ListSessionsResponse.SessionInfo]:
    """A page's sessions; one that cannot be shown is left out (and logged), never the page.

    A row written by another version (options it cannot parse, a time it cannot
    format) would otherwise fail every listing that includes it.
    """
    infos = []
    for job in jobs:
        try:
            infos.append(session_info(job))
        except (DecodeError, ValueError, TypeError, OverflowError) as exc:
            log.warning("session %s left out of the listing: %s", job.id[:64], type(exc).__name__)
    return infos
