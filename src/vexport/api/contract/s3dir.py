"""The export-to-s3dir request: the contract's fields, checked into a typed request.

Callers are broadcast systems that send the same JSON on every poll, so every
field is accepted in the contract's spelling and checked here, one error per
field with its name, rather than by the web framework's generic validation:
the answer to a bad request must still be a contract answer (``ErrorCode``).

Where the clip comes from: ``storage_info`` lists the caller's storages; the
enabled ``S3`` entry whose ``storage_purpose`` matches the manifest named by
``LivePath`` (``.mpd`` is DASH, purpose ``mp4``; ``.m3u8`` is HLS, purpose
``ts``) gives the bucket, region and root folder. The archive is then
``s3://<storage_name>/<storage_root_folder>/<LivePath>``, each part checked by
``safe_key`` so no request can climb out of its root folder.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from vexport.config import ExportToS3DirConfig
from vexport.media.formats import ContainerFormat
from vexport.media.rendering import VideoCodec
from vexport.s3.client import parse_key_pair, safe_key, split_s3_url
from vexport.s3dir.errors import ErrorCode, S3DirError
from vexport.s3dir.request import S3DirRequest
from vexport.timeutil import EARLIEST, LATEST

__all__ = [
    "ExportToS3DirBody",
    "authenticate",
    "body_of",
    "parse_request",
    "s3dir_request",
    "s3dir_request_of_bytes",
]

CONTAINERS = {
    ".ts": ContainerFormat.MPEG_TS,
    ".mp4": ContainerFormat.MP4,
    ".mkv": ContainerFormat.MKV,
    ".mov": ContainerFormat.MOV,
    ".avi": ContainerFormat.AVI,
}
EXPORT_CODECS = {0: VideoCodec.COPY, 1: VideoCodec.H264, 2: VideoCodec.H265}
PURPOSE_OF_MANIFEST = {".mpd": "mp4", ".m3u8": "ts"}


def _number(value: Any) -> Any:
    """A JSON number, strictly: ``true`` is not 1 and ``"1"`` is not 1.

    The contract's numbers are JSON numbers; a caller sending a boolean or a
    string has a bug that coercion would hide (``"Duration": true`` would cut
    1 ms). An integral float (``30000.0``) is the same number and is accepted.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a JSON number, not {type(value).__name__}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be a whole number")
    return int(value)


_Number = Annotated[int, BeforeValidator(_number)]


class ExportToS3DirBody(BaseModel):
    """The JSON body, as the contract spells it (DESIGN.md section 3)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    SessionId: str = Field(
        default="", description="the caller's id, from `[export_to_s3dir] session_ids`"
    )
    LivePath: str = Field(default="", description="manifest path under the storage's root folder")
    StartPos: _Number = Field(
        default=0, description="start of the clip, ms since the Unix epoch (UTC)"
    )
    Duration: _Number = Field(default=0, description="length of the clip in ms")
    storage_info: str = Field(default="", description="base64 of a JSON list of storages")
    export_type: _Number = Field(default=0, description="0 keep the codec, 1 H.264, 2 H.265")
    ExportS3Bucket: str = Field(default="", description="destination bucket")
    ExportS3Region: str = Field(default="", description="destination region")
    ExportS3Key: str = Field(default="", description="destination key pair `ACCESS:SECRET`")
    FileName: str = Field(
        default="", description="destination key of the clip; extension picks the container"
    )


def s3dir_request_of_bytes(raw: bytes, config: ExportToS3DirConfig) -> S3DirRequest:
    """The request body's bytes as a checked request; raises ``S3DirError`` (never another
    exception: the answer to any body is a contract answer)."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise S3DirError(ErrorCode.BAD_REQUEST, "the body is not JSON") from None
    except RecursionError:  # [[[[...]]]] 100,000 deep
        raise S3DirError(ErrorCode.BAD_REQUEST, "the body is nested too deeply") from None
    return s3dir_request(data, config)


def s3dir_request(data: Any, config: ExportToS3DirConfig) -> S3DirRequest:
    """The JSON body as a checked request of an authenticated caller; raises ``S3DirError``."""
    body = body_of(data)
    authenticate(body, config)
    return parse_request(body, config)


def body_of(data: Any) -> ExportToS3DirBody:
    if not isinstance(data, dict):
        raise S3DirError(ErrorCode.BAD_REQUEST, "the body must be a JSON object")
    try:
        return ExportToS3DirBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise S3DirError(
            ErrorCode.BAD_REQUEST, str(first["msg"]).removeprefix("Value error, "), field=field
        ) from None


def authenticate(body: ExportToS3DirBody, config: ExportToS3DirConfig) -> None:
    if not config.session_ids:
        raise S3DirError(ErrorCode.UNAUTHORIZED, "export-to-s3dir is not enabled on this server")
    given = body.SessionId.encode()
    # Compare with every id so the time taken says nothing about which one nearly matched.
    matches = [
        hmac.compare_digest(given, known.get_secret_value().encode())
        for known in config.session_ids
    ]
    if not body.SessionId or not any(matches):
        raise S3DirError(ErrorCode.UNAUTHORIZED, "unknown SessionId", field="SessionId")


def parse_request(body: ExportToS3DirBody, config: ExportToS3DirConfig) -> S3DirRequest:
    """Every field checked; the first problem found is the error."""
    live_path = _key(body.LivePath, "LivePath")
    suffix = PurePosixPath(live_path).suffix.lower()
    if suffix not in PURPOSE_OF_MANIFEST:
        raise S3DirError(
            ErrorCode.BAD_REQUEST,
            "must name an HLS playlist (.m3u8) or a DASH manifest (.mpd), "
            f"not {suffix or 'no extension'!r}",
            field="LivePath",
        )
    storage = _storage(body.storage_info, PURPOSE_OF_MANIFEST[suffix])
    bucket = _bucket(str(storage.get("storage_name", "")), "storage_info.storage_name")
    if "*" not in config.archive_buckets and bucket not in config.archive_buckets:
        raise S3DirError(
            ErrorCode.BAD_STORAGE_INFO,
            f"bucket {bucket!r} is not one this server may read archives from",
            field="storage_info.storage_name",
        )
    root = str(storage.get("storage_root_folder") or "").strip("/")
    archive_key = _key(
        f"{root}/{live_path}" if root else live_path, "storage_info.storage_root_folder"
    )

    if body.StartPos <= 0:
        raise S3DirError(
            ErrorCode.BAD_REQUEST, "must be a positive time in ms since the epoch", field="StartPos"
        )
    try:
        start = datetime.fromtimestamp(body.StartPos / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        start = LATEST + timedelta(days=1)  # refused just below
    if not EARLIEST <= start <= LATEST:
        raise S3DirError(
            ErrorCode.BAD_REQUEST,
            "is out of range: times from 1900-01-01 to 9999-12-29 (UTC) can be exported",
            field="StartPos",
        )
    if body.Duration <= 0:
        raise S3DirError(ErrorCode.BAD_REQUEST, "must be a positive number of ms", field="Duration")
    limit_ms = int(config.max_duration.total_seconds() * 1000)
    if body.Duration > limit_ms:
        raise S3DirError(
            ErrorCode.BAD_REQUEST, f"is longer than the {limit_ms} ms allowed", field="Duration"
        )
    if start + timedelta(milliseconds=body.Duration) > LATEST:
        raise S3DirError(
            ErrorCode.BAD_REQUEST,
            "StartPos + Duration ends past 9999-12-29 (UTC), the last time that can be exported",
            field="Duration",
        )
    if body.export_type not in EXPORT_CODECS:
        raise S3DirError(
            ErrorCode.BAD_REQUEST,
            "must be 0 (keep the codec), 1 (H.264) or 2 (H.265)",
            field="export_type",
        )

    destination = _bucket(body.ExportS3Bucket, "ExportS3Bucket")
    if "*" not in config.destination_buckets and destination not in config.destination_buckets:
        raise S3DirError(
            ErrorCode.BAD_REQUEST,
            f"bucket {destination!r} is not an allowed destination",
            field="ExportS3Bucket",
        )
    file_name = body.FileName or f"export_{body.StartPos}_{body.Duration}.ts"
    destination_key = _key(file_name, "FileName")
    extension = PurePosixPath(destination_key).suffix.lower() or ".ts"
    if not PurePosixPath(destination_key).suffix:
        destination_key += ".ts"
    if extension not in CONTAINERS:
        raise S3DirError(
            ErrorCode.BAD_REQUEST,
            f"extension {extension!r} is not a clip container ({', '.join(CONTAINERS)})",
            field="FileName",
        )
    try:
        credentials = parse_key_pair(body.ExportS3Key, field="ExportS3Key")
    except ValueError as exc:
        raise S3DirError(
            ErrorCode.BAD_REQUEST, str(exc).removeprefix("ExportS3Key: "), field="ExportS3Key"
        ) from None
    return S3DirRequest(
        archive_bucket=bucket,
        archive_key=archive_key,
        archive_region=str(storage.get("storage_location") or "") or None,
        start=start,
        duration_ms=body.Duration,
        codec=EXPORT_CODECS[body.export_type],
        container=CONTAINERS[extension],
        destination_bucket=destination,
        destination_region=body.ExportS3Region.strip() or None,
        destination_key=destination_key,
        credentials=credentials,
        caller=body.SessionId,
    )


def _key(text: str, field: str) -> str:
    if not text.strip():
        raise S3DirError(ErrorCode.BAD_REQUEST, "is required", field=field)
    try:
        return safe_key(text)
    except ValueError as exc:
        raise S3DirError(ErrorCode.BAD_REQUEST, str(exc), field=field) from None


def _bucket(name: str, field: str) -> str:
    if not name:
        raise S3DirError(
            ErrorCode.BAD_STORAGE_INFO
            if field.startswith("storage_info")
            else ErrorCode.BAD_REQUEST,
            "is required",
            field=field,
        )
    try:
        split_s3_url(f"s3://{name}/k")
    except ValueError:
        code = (
            ErrorCode.BAD_STORAGE_INFO
            if field.startswith("storage_info")
            else ErrorCode.BAD_REQUEST
        )
        raise S3DirError(code, f"{name[:80]!r} is not a valid bucket name", field=field) from None
    return name


def _storage(encoded: str, purpose: str) -> dict[str, Any]:
    """The enabled S3 storage for ``purpose`` out of ``storage_info``."""
    field = "storage_info"
    if not encoded:
        raise S3DirError(ErrorCode.BAD_STORAGE_INFO, "is required", field=field)
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise S3DirError(ErrorCode.BAD_STORAGE_INFO, "is not valid base64", field=field) from None
    try:
        storages = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise S3DirError(
            ErrorCode.BAD_STORAGE_INFO, "does not decode to JSON", field=field
        ) from None
    if isinstance(storages, dict):
        storages = [storages]
    if not isinstance(storages, list) or not all(isinstance(s, dict) for s in storages):
        raise S3DirError(
            ErrorCode.BAD_STORAGE_INFO, "must be a JSON list of storage objects", field=field
        )
    for index, storage in enumerate(storages):
        if storage.get("storage_purpose") not in PURPOSE_OF_MANIFEST.values():
            raise S3DirError(
                ErrorCode.BAD_STORAGE_INFO,
                f"unknown storage_purpose {str(storage.get('storage_purpose'))[:40]!r} "
                "(expected 'ts' or 'mp4')",
                field=f"{field}[{index}].storage_purpose",
            )
    for storage in storages:
        if (
            storage.get("storage_purpose") == purpose
            and str(storage.get("storage_type", "")).upper() == "S3"
            and _enabled(storage.get("storage_enable", True))
        ):
            return dict(storage)
    raise S3DirError(
        ErrorCode.BAD_STORAGE_INFO,
        f"lists no enabled S3 storage with storage_purpose {purpose!r}, "
        "which LivePath's manifest needs",
        field=field,
    )


def _enabled(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
