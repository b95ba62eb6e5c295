"""Snapshots: one decoded frame as a JPEG or PNG.

An archive snapshot is the frame a player shows at the requested instant: the
last frame presented at or before it, which needs decoding from the keyframe
before it. A live snapshot is simply the first frame the input can decode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import av

from vexport.media import nal
from vexport.media.decoding import Decoded, WallDecoder, codec_of
from vexport.media.packets import (
    DEFAULT_FRAME_SECONDS,
    WALL_EPSILON,
    TimedPacket,
    wall_datetime,
)
from vexport.media.plan import ContainerFormat, ExportFailed, ProducedFile
from vexport.media.timeline import shown_by, shown_index

SNAPSHOT_FORMATS = (ContainerFormat.JPEG, ContainerFormat.PNG, ContainerFormat.PDF)
JPEG_QUALITY = 90
_TICKS = 1_000_000  # decoder timestamps in µs from the first decoded packet


# (decoded frame, its wall time, where) -> the file; the runner swaps in drawing and PDF.
StillWriter = Callable[[Any, float, Path], None]


def write_image(frame: Any, path: Path, container: ContainerFormat) -> None:
    if container not in SNAPSHOT_FORMATS:
        raise ExportFailed(f"{container.value} is not a snapshot format")
    path.parent.mkdir(parents=True, exist_ok=True)
    image = frame.to_image()
    if container is ContainerFormat.JPEG:
        image.save(path, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(path, format="PNG")


def _write(
    write: StillWriter | None, frame: Any, wall: float, path: Path, container: ContainerFormat
) -> None:
    if write is None:
        write_image(frame, path, container)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(frame, wall, path)


def _produced(path: Path, origin: str, wall: float, container: ContainerFormat) -> ProducedFile:
    moment = wall_datetime(wall)
    return ProducedFile(
        path=path,
        origin=origin,
        first_frame=moment,
        last_frame=moment,
        mime_type=container.mime_type,
    )


def archive_snapshot(
    packets: Iterable[TimedPacket],
    at: datetime,
    *,
    origin: str,
    container: ContainerFormat,
    path: Path,
    write: StillWriter | None = None,
) -> ProducedFile:
    """The frame shown at ``at`` (``media/timeline.py``); ExportFailed when none is (a gap)."""
    shown = shown_frame(packets, at, origin=origin)
    _write(write, shown.frame, shown.wall, path, container)
    return _produced(path, origin, shown.wall, container)


def shown_frame(packets: Iterable[TimedPacket], at: datetime, *, origin: str) -> Decoded:
    """The decoded frame shown at ``at``, with its wall time; ExportFailed when none is."""
    target = at.timestamp()
    gop, next_shown = _packets_for(packets, target)
    if not gop:
        if next_shown is not None:  # video begins after the instant
            raise ExportFailed(f"no frame of {origin} is shown at {at.isoformat()}")
        raise ExportFailed(f"no video of {origin} at {at.isoformat()}")
    codec, extradata = codec_of(gop[0])
    # Frame threading: the whole run is decoded and flushed, so no frame is held back.
    decoder = WallDecoder(codec, extradata, threads=2)
    try:
        decoded = decoder.decode_all(_needed(gop, target, codec, nal.framing(codec, extradata)))
    except av.FFmpegError as exc:
        raise ExportFailed(
            f"cannot decode the video of {origin} at {at.isoformat()}: {exc}"
        ) from exc
    index = shown_index([d.wall for d in decoded], target)
    frame_duration = gop[-1].duration or DEFAULT_FRAME_SECONDS
    if index is None:
        first = decoded[0] if decoded else None
        # The archive starts within half a frame after the instant: that frame is it.
        if first is None or first.wall - target > frame_duration / 2 + WALL_EPSILON:
            raise ExportFailed(f"no frame of {origin} is shown at {at.isoformat()}")
        index = 0
    shown = decoded[index]
    shown_until = next_shown if next_shown is not None else shown.wall + frame_duration
    if target >= shown_until + WALL_EPSILON:
        raise ExportFailed(
            f"no frame of {origin} is shown at {at.isoformat()}: the archive has a gap there"
        )
    return shown


def _needed(gop: list[TimedPacket], target: float, codec: str, framing: int) -> list[TimedPacket]:
    """``gop`` without the frames nothing refers to, but the one shown at ``target``.

    A frame 37 frames into a B-pyramid GOP then costs about half the decoding: the
    non-reference B-frames before it are never decoded.
    """
    shown = max((tp for tp in gop if shown_by(tp.wall_pts, target)), key=lambda tp: tp.wall_pts)
    return [
        tp for tp in gop if tp is shown or not nal.is_disposable(codec, bytes(tp.packet), framing)
    ]


def _packets_for(
    packets: Iterable[TimedPacket], target: float
) -> tuple[list[TimedPacket], float | None]:
    """The video packets that decode the frame shown at ``target``, and when the next shows.

    They run, in decode order, from the last keyframe shown by ``target`` to the
    last packet shown by it. The next frame is the earliest one presented after
    ``target`` in the same run: it may have been decoded before the target frame
    (a reference) or come later, but never later than a packet decoded after it.
    """
    gop: list[TimedPacket] = []
    needed = 0  # packets of gop up to the last one shown by target
    next_shown: float | None = None
    for tp in packets:
        if tp.kind != "video":
            continue
        if gop and tp.run != gop[0].run:
            break
        if next_shown is not None and tp.wall_dts > next_shown + WALL_EPSILON:
            break
        if tp.is_keyframe and shown_by(tp.wall_pts, target):
            gop, needed, next_shown = [tp], 1, None
            continue
        if not gop and tp.is_keyframe:
            next_shown = tp.wall_pts  # video that starts after the instant
            break
        if not gop:
            continue  # before the first keyframe: cannot be decoded
        gop.append(tp)
        if shown_by(tp.wall_pts, target):
            needed = len(gop)
        elif next_shown is None or tp.wall_pts < next_shown:
            next_shown = tp.wall_pts
    return gop[:needed], next_shown


def live_snapshot(
    packets: Iterable[TimedPacket],
    *,
    origin: str,
    container: ContainerFormat,
    path: Path,
    wait_seconds: float,
    write: StillWriter | None = None,
) -> ProducedFile:
    """The first frame decodable from the live input within ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    decoder: WallDecoder | None = None
    for tp in packets:
        if time.monotonic() > deadline:
            break
        if tp.kind != "video":
            continue
        if decoder is None:
            if not tp.is_keyframe:
                continue
            decoder = WallDecoder(*codec_of(tp))
        try:
            decoded = decoder.decode(tp)
        except av.FFmpegError:
            decoder = None  # a damaged GOP: wait for the next keyframe
            continue
        if decoded:
            first = decoded[0]
            _write(write, first.frame, first.wall, path, container)
            return _produced(path, origin, first.wall, container)
    raise ExportFailed(f"no decodable frame from {origin} within {wait_seconds:g} s")
