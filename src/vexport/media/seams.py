"""The seam check of a smart cut: the written files decode to exactly the frames planned.

A smart cut joins frames of two encoders; a parameter set the decoder lacks,
a reference it cannot find or a decode order it cannot follow shows up as
missing, repeated or garbled frames at the join, and nowhere else. So after
writing, each file is read back as a player would read it:

- every video packet is there, and each copied one carries the recording's
  picture data byte for byte (a CRC of its NAL units, whatever the framing);
- around each seam, from the file's start through the first copied frames
  and from the last copied keyframe to the end, the frames decode without a
  decoder error, one for each planned frame, at the planned times (AVI keeps
  no presentation times: there the whole file is decoded and counted).

Decoding the seams only (not the whole clip) keeps the check to a few GOPs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import av

from vexport.media import nal
from vexport.media.plan import ExportFailed, ProducedFile

__all__ = ["SeamCheckFailed", "verify_seams"]

log = logging.getLogger(__name__)

_AFTER_SEAM = 3  # frames checked past a seam
_REORDER = 16  # packets decoded past them, for frames the camera reordered
_ANNEX_B_FORMATS = ("mpegts", "avi")
"""Containers whose H.264/H.265 packets keep start codes (the rest use 4-byte lengths)."""
_TOLERANCE = 0.002  # seconds: container time bases round presentation times


class SeamCheckFailed(ExportFailed):
    """A smart-cut file does not decode to the frames it should; ``codec`` is the source's."""

    def __init__(self, message: str, codec: str) -> None:
        super().__init__(message)
        self.codec = codec


def verify_seams(files: Iterable[ProducedFile], codec: str) -> None:
    """Raise SeamCheckFailed unless every file holds and decodes its planned frames."""
    for file in files:
        if file.frames_reencoded:
            _verify(file, codec)


def _verify(file: ProducedFile, codec: str) -> None:
    planned = [wall for wall, _ in file.frames]
    flags = [again for _, again in file.frames]
    head = next((i for i, again in enumerate(flags) if not again), len(flags))
    tail = next((i for i, again in enumerate(reversed(flags)) if not again), len(flags))
    with av.open(str(file.path)) as container:
        stream = container.streams.video[0]
        time_base = float(stream.time_base or 1)
        counted = container.format.name == "avi"  # AVI keeps no presentation times
        framing = nal.ANNEX_B if container.format.name in _ANNEX_B_FORMATS else 4
        entries: list[tuple[float, bool]] = []  # (pts seconds, keyframe), decode order
        crcs: set[int] = set()
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            entries.append((float((packet.pts or 0) * time_base), bool(packet.is_keyframe)))
            crcs.add(nal.picture_crc(codec, bytes(packet), framing))
    if len(entries) != len(planned):
        raise SeamCheckFailed(
            f"{len(entries)} video packets written, {len(planned)} planned", codec
        )
    differing = sum(1 for crc in file.copied_crcs if crc not in crcs)
    if differing:
        raise SeamCheckFailed(f"{differing} copied packets differ from the recording", codec)
    offset = planned[0] - min(t for t, _ in entries)
    windows: list[tuple[int, int, list[float]]] = []  # packet range and the frames it shows
    if counted:
        windows.append((0, len(entries), planned))
    else:
        if head and head < len(planned):
            shown = planned[: min(len(planned), head + _AFTER_SEAM)]
            windows.append((0, min(len(entries), head + _AFTER_SEAM + _REORDER), shown))
        if tail and tail < len(planned):
            # The re-encoded tail starts a sequence of its own (a keyframe after the
            # copied frames, which need nothing after them): it must decode alone.
            first_tail = len(entries) - tail
            begin = entries[first_tail][0] + offset
            shown = [w for w in planned if w >= begin - _TOLERANCE]
            windows.append((first_tail, len(entries), shown))
        if not windows:  # every frame re-encoded: decode them all
            windows.append((0, len(entries), planned))
    for first, last, shown in windows:
        got = _decode(file, first, last, offset, counted, codec)
        if counted:
            if len(got) != len(shown):
                raise SeamCheckFailed(f"{len(got)} frames decode, {len(shown)} planned", codec)
            continue
        got = [w for w in got if w <= shown[-1] + _TOLERANCE]
        mismatch = any(abs(g - w) > _TOLERANCE for g, w in zip(got, shown, strict=False))
        if len(got) != len(shown) or mismatch:
            raise SeamCheckFailed(
                f"packets {first}..{last} decode as {len(got)} frames, {len(shown)} planned",
                codec,
            )


def _decode(
    file: ProducedFile, first: int, last: int, offset: float, counted: bool, codec: str
) -> list[float]:
    """Wall times of the frames packets ``first``..``last`` (decode order) decode to."""
    with av.open(str(file.path)) as container, av.logging.Capture() as logs:
        stream = container.streams.video[0]
        time_base = float(stream.time_base or 1)
        decoder: Any = av.CodecContext.create(stream.codec_context.name, "r")
        if stream.codec_context.extradata:
            decoder.extradata = stream.codec_context.extradata
        decoder.thread_count, decoder.thread_type = 2, "AUTO"  # flushed below: nothing held
        walls: list[float] = []
        index = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if first <= index < last:
                    frames = decoder.decode(packet)
                    walls += [_wall(f, time_base, offset, counted) for f in frames]
                index += 1
                if index >= last:
                    break
            walls += [_wall(f, time_base, offset, counted) for f in decoder.decode(None)]
        except av.FFmpegError as exc:
            raise SeamCheckFailed(f"a seam does not decode: {exc}", codec) from exc
    errors = [message for level, _, message in logs if level <= av.logging.ERROR]
    if errors:
        raise SeamCheckFailed(f"the decoder reported {errors[0].strip()!r} at a seam", codec)
    return sorted(walls)


def _wall(frame: Any, time_base: float, offset: float, counted: bool) -> float:
    return 0.0 if counted or frame.pts is None else frame.pts * time_base + offset
