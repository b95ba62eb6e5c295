"""Thumbnails of an archive: small pictures of chosen instants, fast enough for a timeline.

A timeline wants a picture every few minutes of an hour of video, now. The
frame a player shows at an instant needs decoding from the keyframe before
it, up to a GOP of frames; the keyframe itself needs one decode. So unless
``exact`` is asked, a thumbnail is the keyframe at or before the instant
(the segment's first, if the segment does not begin on one), and its own
time is returned with it, as AWS Kinesis Video's ``GetImages`` does. With
``exact`` it is the frame shown at the instant (``media/timeline.py``), as a
snapshot export would give.

The picture is scaled by PyAV's ``reformat`` (libswscale, area averaging)
straight to RGB and encoded by Pillow. An instant the archive does not cover
is not an error of the call: its entry says ``NO_MEDIA``, and one that cannot
be read or decoded says ``MEDIA_ERROR``, so one bad segment never hides the
rest of a timeline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from io import BytesIO
from typing import Any

import av

from vexport.errors import InvalidArgument
from vexport.media.archive_source import iter_archive_packets
from vexport.media.decoding import WallDecoder, codec_of
from vexport.media.packets import wall_datetime
from vexport.media.plan import ExportFailed
from vexport.media.snapshot import shown_frame
from vexport.sources.archive_index import ArchiveError, ArchiveIndex
from vexport.storage import StorageReader

__all__ = [
    "MAX_IMAGES",
    "MAX_SIDE",
    "MEDIA_ERROR",
    "NO_MEDIA",
    "ImageFormat",
    "ImageSpec",
    "Thumbnail",
    "render_thumbnail",
    "sample_times",
]

log = logging.getLogger(__name__)

MAX_IMAGES = 100
"""Images per call, as Kinesis Video's GetImages (``MaxResults`` up to 100)."""

MAX_SIDE = 3840
"""The largest width or height asked for: a thumbnail, not a snapshot export."""

NO_MEDIA = "NO_MEDIA"
MEDIA_ERROR = "MEDIA_ERROR"


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"

    @property
    def mime_type(self) -> str:
        return f"image/{self.value}"


@dataclass(frozen=True)
class ImageSpec:
    """What the picture should be: format, size (either side, both: fit inside), quality."""

    format: ImageFormat = ImageFormat.JPEG
    width: int | None = None
    height: int | None = None
    quality: int = 80

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_SIDE:
                raise InvalidArgument(f"must be between 1 and {MAX_SIDE} pixels", field=name)
        if not 1 <= self.quality <= 100:
            raise InvalidArgument("must be between 1 and 100", field="quality")


@dataclass(frozen=True)
class Thumbnail:
    """One asked instant: the picture and the time of the frame it shows, or why not."""

    time: datetime
    frame_time: datetime | None = None
    data: bytes | None = None
    mime_type: str = ""
    width: int = 0
    height: int = 0
    error: str = ""  # "", NO_MEDIA or MEDIA_ERROR
    message: str = ""


def sample_times(
    begin: datetime, end: datetime, interval: timedelta, limit: int = MAX_IMAGES
) -> tuple[list[datetime], datetime | None]:
    """``begin``, ``begin + interval``, ... up to ``end`` (inclusive), at most ``limit``.

    The second value is the next instant when ``limit`` cut the list short
    (pass it as the next call's ``begin``), else None.
    """
    if interval <= timedelta(0):
        raise InvalidArgument("must be positive", field="interval")
    if end < begin:
        raise InvalidArgument("must not be before begin", field="end")
    if not 1 <= limit <= MAX_IMAGES:
        raise InvalidArgument(f"must be between 1 and {MAX_IMAGES}", field="max_results")
    times: list[datetime] = []
    moment = begin
    while moment <= end and len(times) < limit:
        times.append(moment)
        moment = begin + interval * len(times)
    return times, (moment if moment <= end else None)


def scaled_size(width: int, height: int, spec: ImageSpec) -> tuple[int, int]:
    """The output size: one side asked keeps the aspect ratio; both ask for a box to fit."""
    if spec.width and spec.height:
        ratio = min(spec.width / width, spec.height / height)
    elif spec.width:
        ratio = spec.width / width
    elif spec.height:
        ratio = spec.height / height
    else:
        return width, height
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def _keyframe(index: ArchiveIndex, at: datetime, reader: StorageReader) -> Any:
    """The decoded keyframe at or before ``at`` (or the first after it in its segment)."""
    packets = iter_archive_packets(index, at, at, reader)
    try:
        first = next((p for p in packets if p.kind == "video"), None)
    finally:
        packets.close()
    if first is None:
        return None
    decoder = WallDecoder(*codec_of(first))
    decoded = decoder.decode(first) + decoder.decode(None)
    return decoded[0] if decoded else None


def _encode(frame: Any, spec: ImageSpec) -> tuple[bytes, int, int]:
    width, height = scaled_size(frame.width, frame.height, spec)
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
    image = rgb.to_image()
    out = BytesIO()
    if spec.format is ImageFormat.JPEG:
        image.save(out, format="JPEG", quality=spec.quality)
    else:
        image.save(out, format="PNG", compress_level=1)
    return out.getvalue(), width, height


def render_thumbnail(
    index: ArchiveIndex,
    at: datetime,
    reader: StorageReader,
    spec: ImageSpec,
    *,
    exact: bool = False,
    origin: str = "",
) -> Thumbnail:
    """The thumbnail of ``at``; CPU and I/O bound: call it from a worker thread."""
    if not index.segments_between(at, at):
        return Thumbnail(at, error=NO_MEDIA, message="no recorded video at this time")
    try:
        if exact:
            shown = shown_frame(iter_archive_packets(index, at, at, reader), at, origin=origin)
        else:
            shown = _keyframe(index, at, reader)
        if shown is None:
            return Thumbnail(at, error=NO_MEDIA, message="no decodable video at this time")
        data, width, height = _encode(shown.frame, spec)
    except ExportFailed:
        return Thumbnail(at, error=NO_MEDIA, message="no frame is shown at this time")
    except (ArchiveError, av.FFmpegError) as exc:
        log.warning("thumbnail of %s at %s failed: %s", origin, at.isoformat(), exc)
        return Thumbnail(at, error=MEDIA_ERROR, message="the recording cannot be decoded here")
    return Thumbnail(
        time=at,
        frame_time=wall_datetime(shown.wall),
        data=data,
        mime_type=spec.format.mime_type,
        width=width,
        height=height,
    )
