"""Domain sessions to the contract's messages."""

from __future__ import annotations

from vexport.media.decision import describe
from vexport.media.plan import ExportPlan
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.sessions.model import Session
from vexport.timeutil import format_timestamp


def state_message(session: Session) -> spb.State:
    state = spb.State(
        state=int(session.state),  # type: ignore[arg-type]
        last_frame_timestamp=format_timestamp(session.last_frame) if session.last_frame else "",
        progress=session.progress,
        error=session.error,
        processing=describe(ExportPlan.from_json(dict(session.plan))),
    )
    if session.state >= 2:  # S_COMPLETED or S_REMOVED carry a result
        state.result.succeeded = session.succeeded
        for file in session.files:
            state.result.files.add(
                path=file.file_id,
                size=file.size,
                min_timestamp=format_timestamp(file.first_frame),
                max_timestamp=format_timestamp(file.last_frame),
                mime_type=file.mime_type,
                timezone=session.timezone_minutes,
                sha256=file.sha256,
                cloud_id=file.cloud_id,
            )
    return state


def session_info(session: Session) -> spb.ListSessionsResponse.SessionInfo:
    options = pb.Options()
    options.ParseFromString(session.options)
    return spb.ListSessionsResponse.SessionInfo(
        session=spb.Session(id=session.id, options=options),
        state=state_message(session),
    )
