"""The ExportService servicer: translate messages to job service calls, errors to statuses.

One instance serves both service names (the compatibility one and ours).
Every call into the job service runs in a thread: the store is a database
(and, scaled out, a network away), and the event loop also serves HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

import grpc

from vexport import metrics
from vexport.api.contract import ExportContract
from vexport.api.grpc.convert import session_infos, state_message
from vexport.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    VexportError,
)
from vexport.jobs.service import JobService
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc

log = logging.getLogger(__name__)

DEFAULT_CHUNK_KB = 1024
# gRPC's default message limit is 4 MiB; leave room for the envelope.
MAX_CHUNK_KB = 4 * 1024 - 64

_STATUS: dict[type[VexportError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}

T = TypeVar("T")


def status_of(error: VexportError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return grpc.StatusCode.INTERNAL


async def _abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> None:
    """Answer with ``code``, counted in ``vexport_errors_total``."""
    metrics.error("grpc", code.name)
    await context.abort(code, message)


def _unary(
    method: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]]:
    @wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except VexportError as exc:
            await _abort(context, status_of(exc), str(exc))
            raise  # abort raises; this line is for type checkers

    return wrapper


class ExportServicer(spb_grpc.ExportServiceServicer):
    def __init__(self, service: JobService, contract: ExportContract) -> None:
        self.service = service
        self.contract = contract

    @_unary
    async def StartSession(
        self, request: spb.StartSessionRequest, context: grpc.aio.ServicerContext
    ) -> spb.StartSessionResponse:
        if not request.HasField("session_options"):
            raise InvalidArgument("is required", field="session_options")
        options = request.session_options
        export = self.contract.request(options)  # CPU only: no I/O
        session_id = await asyncio.to_thread(
            self.service.start, export, self.contract.stored(options)
        )
        return spb.StartSessionResponse(started_session_id=session_id)

    @_unary
    async def GetSessionState(
        self, request: spb.GetSessionStateRequest, context: grpc.aio.ServicerContext
    ) -> spb.GetSessionStateResponse:
        job = await asyncio.to_thread(self.service.get_state, request.session_id)
        return spb.GetSessionStateResponse(session_state=state_message(job))

    @_unary
    async def StopSession(
        self, request: spb.StopSessionRequest, context: grpc.aio.ServicerContext
    ) -> spb.StopSessionResponse:
        job = await self.service.stop_and_wait(request.session_id)
        return spb.StopSessionResponse(session_state=state_message(job))

    @_unary
    async def DestroySession(
        self, request: spb.DestroySessionRequest, context: grpc.aio.ServicerContext
    ) -> spb.DestroySessionResponse:
        await asyncio.to_thread(self.service.destroy, request.session_id)
        return spb.DestroySessionResponse()

    async def ListSessions(
        self, request: spb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[spb.ListSessionsResponse]:
        try:
            page = await asyncio.to_thread(
                self.service.list_page, request.page_token, request.page_size
            )
        except VexportError as exc:
            await _abort(context, status_of(exc), str(exc))
            return
        yield spb.ListSessionsResponse(
            sessions=session_infos(page.jobs),
            next_page_token=page.next_page_token,
        )

    async def DownloadFile(
        self, request: spb.DownloadFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[spb.FileChunk]:
        try:
            if not request.file_path:
                raise InvalidArgument("is required", field="file_path")
            chunk_kb = request.chunk_size_kb or DEFAULT_CHUNK_KB
            chunk_size = min(chunk_kb, MAX_CHUNK_KB) * 1024
            file, reader = await asyncio.to_thread(
                self.service.open_download, request.session_id, request.file_path
            )
            chunks = max(1, -(-file.size // chunk_size))
            if request.start_from_chunk_index >= chunks and file.size > 0:
                reader.close()
                raise InvalidArgument(
                    f"chunk {request.start_from_chunk_index} is past the end: the file has "
                    f"{chunks} chunks of {chunk_size // 1024} KiB",
                    field="start_from_chunk_index",
                )
        except VexportError as exc:
            await _abort(context, status_of(exc), str(exc))
            return
        first = index = request.start_from_chunk_index
        blocks = reader.chunks(index * chunk_size, chunk_size)
        # One chunk ahead: the next read runs in a thread while this chunk is serialised
        # and sent, so the loop never sits waiting for the disk or the object store.
        reading = asyncio.ensure_future(asyncio.to_thread(next, blocks, None))
        try:
            while True:
                data = await reading
                if data is None:
                    if index == first:
                        yield spb.FileChunk(index=index, data=b"")  # an empty file: one chunk
                    break
                reading = asyncio.ensure_future(asyncio.to_thread(next, blocks, None))
                yield spb.FileChunk(index=index, data=data)
                metrics.downloaded("grpc", len(data))
                index += 1
        except VexportError as exc:
            await _abort(context, status_of(exc), str(exc))
        except Exception as exc:  # the result store broke off (S3 away): the client resumes
            log.warning("download of %s broke off: %s", request.session_id, type(exc).__name__)
            await _abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"reading the file failed at chunk {index}; resume with start_from_chunk_index",
            )
        finally:
            if not reading.done():  # a client gone mid-file: let the read end first
                with contextlib.suppress(Exception):
                    await asyncio.shield(reading)
            await asyncio.to_thread(reader.close)
        await asyncio.to_thread(self.service.touch_download, request.session_id)
