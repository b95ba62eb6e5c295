"""Snapshots: one decoded frame as a JPEG or PNG.

An archive snapshot is the frame a player shows at the requested instant: the
last frame presented at or before it, which needs decoding from the keyframe
before it. A live snapshot is simply the first frame the input can decode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vexport.media.packets import (
    DEFAULT_FRAME_SECONDS,
    WALL_EPSILON,
    TimedPacket,
    wall_datetime,
)
from vexport.media.plan import ContainerFormat, ExportFailed, ProducedFile

SNAPSHOT_FORMATS = (ContainerFormat.JPEG, ContainerFormat.PNG, ContainerFormat.PDF)
JPEG_QUALITY = 90
_TICKS = 1_000_000  # decoder timestamps in µs from the first decoded packet


@dataclass(frozen=True)
class _Decoded:
    wall: float
    frame: Any  # av.VideoFrame


class _Decoder:
    """A decoder of its own, so packets from successive segment files decode as one stream.

    It is built from the codec name and extradata, copied while the packet's
    demuxer is open: sources close demuxers as soon as their packets are out.
    """

    def __init__(self, codec_name: str, extradata: bytes) -> None:
        self._ctx: Any = av.CodecContext.create(codec_name, "r")
        if extradata:
            self._ctx.extradata = extradata
        self._ctx.thread_count = 1  # frames out as soon as possible, not after a thread pipeline
        self._base: float | None = None

    def decode(self, tp: TimedPacket | None) -> list[_Decoded]:
        if tp is None:
            frames = self._ctx.decode(None)
        else:
            if self._base is None:
                self._base = tp.wall_dts
            packet = tp.packet
            packet.time_base = Fraction(1, _TICKS)
            packet.pts = round((tp.wall_pts - self._base) * _TICKS)
            packet.dts = round((tp.wall_dts - self._base) * _TICKS)
            frames = self._ctx.decode(packet)
        base = self._base or 0.0
        return [
            _Decoded(wall=base + frame.pts / _TICKS, frame=frame)
            for frame in frames
            if frame.pts is not None
        ]


def _codec_of(tp: TimedPacket) -> tuple[str, bytes]:
    context = tp.stream.codec_context
    return str(context.name), bytes(context.extradata or b"")


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
    """The frame displayed at ``at``; ExportFailed when no frame is shown then (a gap)."""
    target = at.timestamp()
    gop: list[TimedPacket] = []  # video from the last keyframe at or before target
    codec = ("", b"")
    following: TimedPacket | None = None  # first packet decoded after the target, if any
    for tp in packets:
        if tp.kind != "video":
            continue
        if gop and (tp.run != gop[0].run or tp.wall_dts > target + WALL_EPSILON):
            following = tp
            break
        if tp.is_keyframe and (not gop or tp.wall_pts <= target + WALL_EPSILON):
            gop = [tp]
            codec = _codec_of(tp)
        elif gop:
            gop.append(tp)
    if not gop:
        raise ExportFailed(f"no video of {origin} at {at.isoformat()}")

    decoder = _Decoder(*codec)
    shown: _Decoded | None = None
    next_wall: float | None = None
    frame_duration = gop[-1].duration or DEFAULT_FRAME_SECONDS
    try:
        decoded = [d for tp in gop for d in decoder.decode(tp)] + decoder.decode(None)
    except av.FFmpegError as exc:
        raise ExportFailed(
            f"cannot decode the video of {origin} at {at.isoformat()}: {exc}"
        ) from exc
    for item in sorted(decoded, key=lambda d: d.wall):
        if item.wall <= target + WALL_EPSILON:
            shown = item
        elif next_wall is None:
            next_wall = item.wall
    if following is not None and following.run == gop[0].run and next_wall is None:
        next_wall = following.wall_pts
    if shown is None:
        first = min(decoded, key=lambda d: d.wall, default=None)
        # The archive starts within half a frame after the instant: that frame is it.
        if first is not None and first.wall - target <= frame_duration / 2 + WALL_EPSILON:
            shown = first
    if shown is None:
        raise ExportFailed(f"no frame of {origin} is shown at {at.isoformat()}")
    shown_until = next_wall if next_wall is not None else shown.wall + frame_duration
    if target >= shown_until + WALL_EPSILON:
        raise ExportFailed(
            f"no frame of {origin} is shown at {at.isoformat()}: the archive has a gap there"
        )
    _write(write, shown.frame, shown.wall, path, container)
    return _produced(path, origin, shown.wall, container)


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
    decoder: _Decoder | None = None
    for tp in packets:
        if time.monotonic() > deadline:
            break
        if tp.kind != "video":
            continue
        if decoder is None:
            if not tp.is_keyframe:
                continue
            decoder = _Decoder(*_codec_of(tp))
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
