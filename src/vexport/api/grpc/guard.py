"""The last line of the gRPC server: no call ends UNKNOWN, whatever its bytes or its bug.

gRPC answers UNKNOWN, with the Python exception's text, for two kinds of
failure that never reach a servicer's own error handling: a request whose
bytes are not the method's message (the deserialiser raises inside gRPC),
and an exception no handler expected. This interceptor wraps every unary
request method: malformed bytes become INVALID_ARGUMENT naming the message,
an unexpected exception INTERNAL with a reference that the server log
carries next to the traceback (docs/design/robustness.md).
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc.aio import AbortError

__all__ = ["GuardInterceptor"]

log = logging.getLogger(__name__)


class _Malformed:
    """What the lenient deserialiser hands on for bytes that are not the message."""

    __slots__ = ()


_MALFORMED = _Malformed()


def _lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:
            return _MALFORMED

    return parse


def _message_name(method: str) -> str:
    return method.rsplit("/", 1)[-1] + " request"


async def _internal(context: grpc.aio.ServicerContext, method: str, exc: Exception) -> None:
    reference = uuid.uuid4().hex[:12]
    log.error("%s failed unexpectedly (ref %s)", method, reference, exc_info=exc)
    await context.abort(
        grpc.StatusCode.INTERNAL,
        f"internal error (ref {reference}); the server log has the details",
    )


def _guarded_unary(
    behavior: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]], method: str
) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request is _MALFORMED:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the bytes sent are not a valid {_message_name(method)} message",
            )
        try:
            return await behavior(request, context)
        except AbortError:
            raise
        except Exception as exc:
            await _internal(context, method, exc)

    return call


def _guarded_stream(
    behavior: Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]], method: str
) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        if request is _MALFORMED:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the bytes sent are not a valid {_message_name(method)} message",
            )
        try:
            async for item in behavior(request, context):
                yield item
        except AbortError:
            raise
        except Exception as exc:
            await _internal(context, method, exc)

    return call


class GuardInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        method = handler_call_details.method
        deserializer = _lenient(handler.request_deserializer)
        if not handler.response_streaming and inspect.iscoroutinefunction(handler.unary_unary):
            return grpc.unary_unary_rpc_method_handler(
                _guarded_unary(handler.unary_unary, method),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.response_streaming and inspect.isasyncgenfunction(handler.unary_stream):
            return grpc.unary_stream_rpc_method_handler(
                _guarded_stream(handler.unary_stream, method),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler
