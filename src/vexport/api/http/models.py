"""JSON shapes of the REST mirror.

Sessions, states and options are the gRPC messages in protobuf's canonical
JSON mapping (field names as in the ``.proto``), so the two APIs cannot drift:
``json_format`` does the conversion, and their schemas in the OpenAPI document
come from the message descriptors (``schema.py``). The models here are the
REST mirror's own shapes: the started session and the error body.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import BaseModel, Field


def message_json(message: Message) -> dict[str, Any]:
    """A protobuf message as the JSON the REST API answers with."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An OpenAPI response or request body of ``application/json`` with ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class StartedSession(BaseModel):
    session_id: str


class ErrorDetail(BaseModel):
    code: str = Field(description="the gRPC status name of the same failure")
    message: str
    field: str | None = Field(default=None, description="the request field at fault, if one is")


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "invalid request: the message names the field"),
        (404, "no such session or file"),
        (409, "not in a state that allows it (for example a download of an unfinished session)"),
        (429, "queue full; retry after `Retry-After` seconds"),
        (501, "an option vexport does not support"),
    )
}
