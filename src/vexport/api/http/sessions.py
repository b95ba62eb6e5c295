"""``/api/v1/sessions``: the gRPC ExportService as resources.

Each route makes the same ``JobService`` call as its gRPC method and
answers with the same message in JSON, so behaviour, validation and error
messages are shared. Job service calls touch the store: they run in threads.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from google.protobuf import json_format

from vexport.api.contract import ExportContract
from vexport.api.grpc.convert import session_info, state_message
from vexport.api.http.download import file_response
from vexport.api.http.models import (
    ERROR_RESPONSES,
    SessionInfo,
    SessionPage,
    StartedSession,
    message_json,
)
from vexport.errors import InvalidArgument
from vexport.jobs.service import JobService
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

MAX_PAGE_SIZE = 1000


def parse_options(body: dict[str, Any]) -> pb.Options:
    """The JSON body as the ``Options`` message, with the field at fault named."""
    try:
        return json_format.ParseDict(body, pb.Options())
    except json_format.ParseError as exc:
        raise InvalidArgument(
            f"not a valid Options message: {exc}", field="session_options"
        ) from None


def sessions_router(service: JobService, contract: ExportContract) -> APIRouter:
    router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"], responses=ERROR_RESPONSES)

    @router.post("", status_code=201, response_model=StartedSession)
    async def start_session(
        response: Response,
        options: Annotated[
            dict[str, Any],
            Body(
                description="`Options` in protobuf JSON, as gRPC StartSession's `session_options`"
            ),
        ],
    ) -> StartedSession:
        message = parse_options(options)
        export = contract.request(message)
        stored = contract.stored(message)
        session_id = await asyncio.to_thread(service.start, export, stored)
        response.headers["Location"] = f"/api/v1/sessions/{session_id}"
        return StartedSession(session_id=session_id)

    @router.get("", response_model=SessionPage)
    async def list_sessions(
        page_size: Annotated[int, Query(ge=0, le=MAX_PAGE_SIZE)] = 0,
        page_token: Annotated[str, Query(max_length=256)] = "",
    ) -> dict[str, Any]:
        page = await asyncio.to_thread(service.list_page, page_token, page_size)
        return {
            "sessions": [message_json(session_info(job)) for job in page.jobs],
            "next_page_token": page.next_page_token,
        }

    @router.get("/{session_id}", response_model=SessionInfo)
    async def get_session(session_id: str) -> dict[str, Any]:
        job = await asyncio.to_thread(service.get_state, session_id)
        return message_json(session_info(job))

    @router.post("/{session_id}/stop", response_model=dict[str, Any])
    async def stop_session(session_id: str) -> dict[str, Any]:
        job = await service.stop_and_wait(session_id)
        return message_json(state_message(job))

    @router.delete("/{session_id}", status_code=204)
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

    @router.get(file_route, response_class=Response, responses=file_responses)
    async def download_file(session_id: str, file_path: str, request: Request) -> Response:
        return await file_response(service, session_id, file_path, request)

    @router.head(file_route, response_class=Response, responses=file_responses)
    async def file_headers(session_id: str, file_path: str, request: Request) -> Response:
        return await file_response(service, session_id, file_path, request)

    return router
