"""JSON Schemas of the protobuf messages the REST mirror speaks, for ``/openapi.json``.

The REST bodies are the gRPC messages in protobuf's JSON mapping
(``json_format``, field names as in the ``.proto``), so their schemas are
derived from the message descriptors rather than written by hand: a field
added to the ``.proto`` appears in the OpenAPI document by itself, and the two
cannot disagree. The mapping follows protobuf's canonical JSON: 64-bit
integers as decimal strings (numbers accepted), enums by name (numbers
accepted), ``bytes`` as base64, ``Duration`` as ``"1.5s"``, ``map`` fields as
objects; unknown fields are refused (``ParseDict`` refuses them too). A
``oneof`` is described, not enforced: the contract validator names the field
when two members are set.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

__all__ = ["component_name", "message_schemas", "schema_ref", "use_message_schemas"]

_INT32 = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32)
_UINT32 = (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32)
_INT64 = (
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64,
)  # fmt: skip
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": "a duration in seconds with the unit: `5s`, `1.5s`",
        "examples": ["10s"],
    },
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
}


def schema_ref(message: Descriptor) -> dict[str, str]:
    """A reference to ``message``'s component schema."""
    return {"$ref": f"#/components/schemas/{component_name(message)}"}


def component_name(message: Descriptor) -> str:
    """``Options``, ``ArchiveMode_Source``: the name inside its package, dots as ``_``."""
    package = message.file.package
    name = message.full_name.removeprefix(f"{package}.") if package else message.full_name
    return name.replace(".", "_")


def _enum(enum: EnumDescriptor) -> dict[str, Any]:
    names = [value.name for value in enum.values]
    return {
        "anyOf": [{"type": "string", "enum": names}, {"type": "integer"}],
        "description": f"`{enum.full_name}`: " + ", ".join(f"`{n}`" for n in names),
    }


def _scalar(field: FieldDescriptor) -> dict[str, Any]:
    kind = field.type
    if kind in _INT32:
        return {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
    if kind in _UINT32:
        return {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
    if kind in _INT64:
        return {"anyOf": [{"type": "string", "pattern": r"^-?[0-9]+$"}, {"type": "integer"}]}
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return {"type": "number"}
    if kind == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    if kind == FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    if kind == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        return _enum(field.enum_type)
    raise ValueError(f"{field.full_name}: no JSON mapping for type {kind}")


def _field(field: FieldDescriptor, found: dict[str, Descriptor]) -> dict[str, Any]:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        return {
            "type": "object",
            "additionalProperties": _field(message.fields_by_name["value"], found),
        }
    if message is not None:
        if message.full_name in _WELL_KNOWN:
            single = dict(_WELL_KNOWN[message.full_name])
        else:
            found.setdefault(message.full_name, message)
            single = schema_ref(message)
    else:
        single = _scalar(field)
    if field.is_repeated:
        return {"type": "array", "items": single}
    return single


def _message(message: Descriptor, found: dict[str, Descriptor]) -> dict[str, Any]:
    properties = {field.name: _field(field, found) for field in message.fields}
    description = (
        f"`{message.full_name}` in protobuf's JSON mapping (field names as in the .proto)."
    )
    oneofs = [
        f"`{oneof.name}`: one of " + ", ".join(f"`{f.name}`" for f in oneof.fields)
        for oneof in message.oneofs
        if not (len(oneof.fields) == 1 and oneof.name.startswith("_"))  # proto3 optional
    ]
    if oneofs:
        description += " At most one of each group: " + "; ".join(oneofs) + "."
    return {
        "title": message.name,
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": False,
    }


def message_schemas(*roots: Descriptor) -> dict[str, dict[str, Any]]:
    """Component schemas of ``roots`` and of every message they contain, by component name."""
    found: dict[str, Descriptor] = {root.full_name: root for root in roots}
    schemas: dict[str, dict[str, Any]] = {}
    while len(schemas) < len(found):
        for descriptor in list(found.values()):
            if component_name(descriptor) not in schemas:
                schemas[component_name(descriptor)] = _message(descriptor, found)
    return schemas


def use_message_schemas(app: FastAPI, schemas: dict[str, dict[str, Any]]) -> None:
    """Add ``schemas`` to the app's OpenAPI components (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
