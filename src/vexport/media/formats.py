"""The leaf of the media layer: export kinds, output formats, the user-facing failure.

Everything in ``media/`` (and the job engine above it) names these; keeping
them in a module that imports nothing of vexport lets ``plan.py`` import the
overlay, privacy, PDF and decision types at the top without a circle.
"""

from __future__ import annotations

import errno
from enum import StrEnum

__all__ = ["DISK_FULL", "ContainerFormat", "ExportFailed", "ExportKind", "error_text"]


class ExportKind(StrEnum):
    ARCHIVE_CLIP = "archive_clip"
    ARCHIVE_SNAPSHOT = "archive_snapshot"
    LIVE_CLIP = "live_clip"
    LIVE_SNAPSHOT = "live_snapshot"

    @property
    def is_live(self) -> bool:
        return self in (ExportKind.LIVE_CLIP, ExportKind.LIVE_SNAPSHOT)

    @property
    def is_clip(self) -> bool:
        return self in (ExportKind.ARCHIVE_CLIP, ExportKind.LIVE_CLIP)


class ContainerFormat(StrEnum):
    """Output file formats; the value is the file extension."""

    MP4 = "mp4"
    MKV = "mkv"
    MPEG_TS = "ts"
    AVI = "avi"
    MOV = "mov"
    JPEG = "jpg"
    PNG = "png"
    PDF = "pdf"

    @property
    def mime_type(self) -> str:
        return _MIME[self]

    @property
    def muxer(self) -> str:
        """The libavformat muxer name."""
        return _MUXER[self]


_MIME = {
    ContainerFormat.MP4: "video/mp4",
    ContainerFormat.MKV: "video/x-matroska",
    ContainerFormat.MPEG_TS: "video/mp2t",
    ContainerFormat.AVI: "video/x-msvideo",
    ContainerFormat.MOV: "video/quicktime",
    ContainerFormat.JPEG: "image/jpeg",
    ContainerFormat.PNG: "image/png",
    ContainerFormat.PDF: "application/pdf",
}
_MUXER = {
    ContainerFormat.MP4: "mp4",
    ContainerFormat.MKV: "matroska",
    ContainerFormat.MPEG_TS: "mpegts",
    ContainerFormat.AVI: "avi",
    ContainerFormat.MOV: "mov",
    ContainerFormat.JPEG: "image2",
    ContainerFormat.PNG: "image2",
    ContainerFormat.PDF: "pdf",
}


class ExportFailed(Exception):
    """The export could not produce a usable result; the message says why, for the user."""


DISK_FULL = "the server's disk is full: no space left for the result files"


def error_text(exc: BaseException) -> str:
    """An OS or FFmpeg error for a user: the reason without the file it names.

    ``str()`` of an ``OSError`` (and of PyAV's errors)
    ends with the file's path: a server path no client may see. A full disk is
    said in words (docs/design/robustness.md).
    """
    number, reason = getattr(exc, "errno", None), getattr(exc, "strerror", None)
    if number == errno.ENOSPC:
        return DISK_FULL
    if reason and getattr(exc, "filename", None):
        return str(reason)  # the message without the path
    return str(exc)
