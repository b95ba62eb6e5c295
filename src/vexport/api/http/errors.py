"""Domain errors as HTTP answers with one JSON body shape.

Every error a client sees is ``{"error": {"code", "message", "field"}}``, where
``code`` is the gRPC status name the same failure gets on the gRPC API, so a
client handling both APIs needs one table. FastAPI's own 422 validation answers
are reshaped into it as ``INVALID_ARGUMENT`` with a 400.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from vexport import metrics
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

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
"""What a client told 429 (queue full) should wait; sessions take seconds to minutes."""

_HTTP: dict[type[VexportError], tuple[int, str]] = {
    InvalidArgument: (400, "INVALID_ARGUMENT"),
    NotFound: (404, "NOT_FOUND"),
    FailedPrecondition: (409, "FAILED_PRECONDITION"),
    Unimplemented: (501, "UNIMPLEMENTED"),
    ResourceExhausted: (429, "RESOURCE_EXHAUSTED"),
    PermissionDenied: (403, "PERMISSION_DENIED"),
    Unauthenticated: (401, "UNAUTHENTICATED"),
    Unavailable: (503, "UNAVAILABLE"),
}

_CODE_OF_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "FAILED_PRECONDITION",
    413: "INVALID_ARGUMENT",
    416: "OUT_OF_RANGE",
    429: "RESOURCE_EXHAUSTED",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The one error shape; every error answer is built here, so it is counted here too."""
    metrics.error("http", code)
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(
    status: int, code: str, message: str, field: str | None = None, **headers: str
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def http_status_of(error: VexportError) -> tuple[int, str]:
    for cls in type(error).__mro__:
        if cls in _HTTP:
            return _HTTP[cls]
    return 500, "INTERNAL"


async def _vexport_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VexportError)
    status, code = http_status_of(exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status in (429, 503) else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(status, code, str(exc), exc.field, **headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(location) or None
    message = str(first.get("msg", "invalid request"))
    return error_response(
        400, "INVALID_ARGUMENT", f"{field}: {message}" if field else message, field
    )


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _CODE_OF_STATUS.get(exc.status_code, "INTERNAL" if exc.status_code >= 500 else "UNKNOWN")
    return JSONResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug is still a JSON answer: no traceback, no path, a reference the log carries."""
    reference = uuid.uuid4().hex[:12]
    log.error("%s %s failed unexpectedly (ref %s)", request.method, request.url.path[:200],
              reference, exc_info=exc)  # fmt: skip
    return error_response(
        500, "INTERNAL", f"internal error (ref {reference}); the server log has the details"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(VexportError, _vexport_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_exception)
