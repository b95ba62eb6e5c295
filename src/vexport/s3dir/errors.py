"""The ``ErrorCode`` values of export-to-s3dir answers.

Positive codes are progress (1 processing, 5 ready); negative ones are
failures, one per thing a caller does differently to fix it. Messages never
carry a key or a SessionId.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    PROCESSING = 1
    READY = 5
    BAD_REQUEST = -1  # a field is missing or out of range; the message names it
    UNAUTHORIZED = -2  # SessionId unknown, or the call is not enabled here
    BAD_STORAGE_INFO = -3  # storage_info: not base64/JSON, unknown purpose, no usable S3 entry
    NO_ARCHIVE = -4  # no manifest at LivePath, or nothing recorded in the span
    ARCHIVE_ACCESS_DENIED = -5  # S3 refused reading the archive
    UPLOAD_FAILED = -6  # the destination refused the upload (key, bucket, region)
    EXPORT_FAILED = -7  # the archive could not be cut (corrupt segment, …)
    BUSY = -8  # the concurrent-export limit is reached; retry after TimeWait
    INTERNAL = -9  # a bug; the log has the details


class S3DirError(Exception):
    """A failure with its code; ``str()`` is the message for the caller."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.code = code
        self.field = field
