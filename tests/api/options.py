"""Building export Options the way a client would."""

from __future__ import annotations

from datetime import datetime, timedelta

from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.timeutil import format_timestamp


def archive_clip(
    origin: str | list[str],
    start: datetime,
    end: datetime,
    fmt: int = pb.StreamType.MP4,
    max_file_size: int = 0,
) -> pb.Options:
    options = pb.Options(max_file_size=max_file_size)
    for name in [origin] if isinstance(origin, str) else origin:
        options.archive.sources.add(origin=name)
    options.archive.start_timestamp = format_timestamp(start)
    options.archive.end_timestamp = format_timestamp(end)
    options.stream.format = fmt  # type: ignore[assignment]
    return options


def archive_snapshot(origin: str, at: datetime, fmt: int = pb.SnapshotType.JPEG) -> pb.Options:
    options = pb.Options()
    options.archive.sources.add(origin=origin)
    options.archive.start_timestamp = format_timestamp(at)
    options.snapshot.format = fmt  # type: ignore[assignment]
    return options


def live_clip(origin: str, seconds: float | None, fmt: int = pb.StreamType.MP4) -> pb.Options:
    options = pb.Options()
    options.live.sources.add(origin=origin)
    if seconds is not None:
        options.live.duration.FromTimedelta(timedelta(seconds=seconds))
    options.stream.format = fmt  # type: ignore[assignment]
    return options


def live_snapshot(origin: str, fmt: int = pb.SnapshotType.JPEG) -> pb.Options:
    options = pb.Options()
    options.live.sources.add(origin=origin)
    options.snapshot.format = fmt  # type: ignore[assignment]
    return options
