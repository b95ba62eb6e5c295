"""Jobs to the contract's messages."""

from __future__ import annotations

from vexport.jobs.model import Job, JobState
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.timeutil import format_timestamp


def state_message(job: Job) -> spb.State:
    state = spb.State(
        state=int(job.state),  # type: ignore[arg-type]
        last_frame_timestamp=format_timestamp(job.last_frame) if job.last_frame else "",
        progress=job.progress,
        error=job.error,
        processing=job.processing,
    )
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
    return state


def session_info(job: Job) -> spb.ListSessionsResponse.SessionInfo:
    options = pb.Options()
    options.ParseFromString(job.options)
    return spb.ListSessionsResponse.SessionInfo(
        session=spb.Session(id=job.id, options=options),
        state=state_message(job),
    )
