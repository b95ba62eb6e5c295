"""``/api/v1/sessions``: the gRPC ExportService as resources.

Each route makes the same ``JobService`` call as its gRPC method and
answers with the same message in JSON, so behaviour, validation and error
messages are shared. Job service calls touch the store: they run in threads.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format

from vexport.api.contract import ExportContract
from vexport.api.grpc.convert import session_info, session_infos, state_message
from vexport.api.http.download import file_response
from vexport.api.http.models import (
    ERROR_RESPONSES,
    StartedSession,
    json_content,
    message_json,
)
from vexport.api.http.schema import message_schemas, schema_ref
from vexport.errors import InvalidArgument
from vexport.jobs.service import JobService
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

MAX_PAGE_SIZE = 1000

SCHEMAS = message_schemas(
    pb.Options.DESCRIPTOR, spb.State.DESCRIPTOR, spb.ListSessionsResponse.DESCRIPTOR
)
"""The OpenAPI component schemas of the messages these routes take and answer with."""

_OPTIONS_BODY = {
    "required": True,
    **json_content(
        schema_ref(pb.Options.DESCRIPTOR),
        "`Options` in protobuf JSON (field names as in the .proto), as gRPC StartSession's "
        "`session_options`",
    ),
}
_SESSION_INFO = json_content(
    schema_ref(spb.ListSessionsResponse.SessionInfo.DESCRIPTOR),
    "the session: `session` (`id` and the `options` it started with) and its `state`",
)
_PAGE = json_content(
    schema_ref(spb.ListSessionsResponse.DESCRIPTOR),
    "a page of sessions, newest first; pass `next_page_token` as `page_token` for the next "
    "(empty at the end)",
)
_STATE = json_content(schema_ref(spb.State.DESCRIPTOR), "the session's state after the stop")


async def _json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or the field and reason it is not one."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"the body is not JSON: {exc}", field="session_options") from None
    except RecursionError:
        raise InvalidArgument("the body is nested too deeply", field="session_options") from None
    if not isinstance(body, dict):
        raise InvalidArgument("must be a JSON object (Options)", field="session_options")
    return body


def parse_options(body: dict[str, Any]) -> pb.Options:
    """The JSON body as the ``Options`` message, with the field at fault named."""
    try:
        return json_format.ParseDict(body, pb.Options())
    except json_format.ParseError as exc:
        raise InvalidArgument(
            f"not a valid Options message: {exc}", field="session_options"
        ) from None
    except RecursionError:
        raise InvalidArgument(
            "not a valid Options message: nested too deeply", field="session_options"
        ) from None


def sessions_router(service: JobService, contract: ExportContract) -> APIRouter:
    router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"], responses=ERROR_RESPONSES)

    @router.post(
        "",
        status_code=201,
        response_model=StartedSession,
        openapi_extra={"requestBody": _OPTIONS_BODY},
        summary="Start an export session (gRPC StartSession)",
    )
    async def start_session(request: Request, response: Response) -> StartedSession:
        message = parse_options(await _json_object(request))
        export = contract.request(message)
        stored = contract.stored(message)
        session_id = await asyncio.to_thread(service.start, export, stored)
        response.headers["Location"] = f"/api/v1/sessions/{session_id}"
        return StartedSession(session_id=session_id)

    @router.get(
        "",
        response_class=JSONResponse,
        responses={200: _PAGE},
        summary="List sessions, newest first (gRPC ListSessions)",
    )
    async def list_sessions(
        page_size: Annotated[int, Query(ge=0, le=MAX_PAGE_SIZE)] = 0,
        page_token: Annotated[str, Query(max_length=256)] = "",
    ) -> JSONResponse:
        page = await asyncio.to_thread(service.list_page, page_token, page_size)
        return JSONResponse(
            {
                "sessions": [message_json(info) for info in session_infos(page.jobs)],
                "next_page_token": page.next_page_token,
            }
        )

    @router.get(
        "/{session_id}",
        response_class=JSONResponse,
        responses={200: _SESSION_INFO},
        summary="A session's options and state (gRPC GetSessionState)",
    )
    async def get_session(session_id: str) -> JSONResponse:
        job = await asyncio.to_thread(service.get_state, session_id)
        return JSONResponse(message_json(session_info(job)))

    @router.post(
        "/{session_id}/stop",
        response_class=JSONResponse,
        responses={200: _STATE},
        summary="Stop a session; what was exported so far is kept (gRPC StopSession)",
    )
    async def stop_session(session_id: str) -> JSONResponse:
        job = await service.stop_and_wait(session_id)
        return JSONResponse(message_json(state_message(job)))

    @router.delete(
        "/{session_id}",
        status_code=204,
        response_class=Response,
        summary="Stop a session if needed and delete its files (gRPC DestroySession)",
    )
    async def destroy_session(session_id: str) -> Response:
        await asyncio.to_thread(service.destroy, session_id)
        return Response(status_code=204)

    file_route = "/{session_id}/files/{file_path:path}"
    file_responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "the whole file"},
        206: {"description": "the requested byte range"},
        304: {"description": "unchanged (If-None-Match)"},
        416: {"description": "range outside the file"},
    }

    @router.get(
        file_route,
        response_class=Response,
        responses=file_responses,
        summary="Download a result file (Range, If-None-Match, If-Range)",
    )
    async def download_file(session_id: str, file_path: str, request: Request) -> Response:
        return await file_response(service, session_id, file_path, request)

    @router.head(
        file_route,
        response_class=Response,
        responses=file_responses,
        summary="A result file's headers",
    )
    async def file_headers(session_id: str, file_path: str, request: Request) -> Response:
        return await file_response(service, session_id, file_path, request)

    return router
