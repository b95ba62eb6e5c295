"""Output streams made from input streams that may already be closed.

Sources close demuxers as soon as their packets are out (one per archive
segment, one per live connection); an output stream made later from the
input stream itself would read freed memory. A ``StreamTemplate`` copies the
stream's codec parameters at first sight into a stream of a never-written
in-memory muxer, which output streams can be made from, and keeps what the
encoders of a smart cut must match (size, pixel format, profile, level,
aspect and colour).

A smart cut may change what the output stream must declare: more parameter
sets in the extradata (H.264's avcC lists the re-encoded frames' SPS/PPS
beside the camera's) or a sample entry that allows in-band parameter sets
(H.265 ``hev1``). Those are ``extradata`` and ``codec_tag`` overrides, set
by whoever re-encoded and applied by the writers when they open a file.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

import av

from vexport.media.plan import ExportFailed

__all__ = ["StreamTemplate"]


class StreamTemplate:
    """An input stream's codec parameters, copied while its demuxer is still open."""

    def __init__(self, stream: Any) -> None:
        context = stream.codec_context
        self.kind: str = stream.type
        self.rate: Fraction | None = None
        self.width = self.height = 0
        self.pix_fmt: str | None = None
        self.profile: str | None = None
        self.level: int | None = None
        self.sample_aspect_ratio: Fraction | None = None
        self.color: tuple[int, int, int, int] = (0, 2, 2, 2)  # range, matrix, primaries, trc
        self.has_b_frames = False
        if stream.type == "video":
            rate = stream.average_rate or stream.guessed_rate
            self.rate = Fraction(rate) if rate else None
            self.width = int(context.width or 0)
            self.height = int(context.height or 0)
            self.pix_fmt = context.pix_fmt
            self.profile = context.profile
            self.level = context.level if context.level and context.level > 0 else None
            sar = context.sample_aspect_ratio
            self.sample_aspect_ratio = Fraction(sar) if sar else None
            self.color = (
                int(context.color_range),
                int(context.colorspace),
                int(context.color_primaries),
                int(context.color_trc),
            )
            self.has_b_frames = bool(context.has_b_frames)
        self.codec_name: str = context.name
        self.extradata = bytes(context.extradata or b"")
        # Overrides for the output stream, set by a smart cut (see the module docstring).
        self.output_extradata: bytes | None = None
        self.output_codec_tag: str | None = None
        last_error: Exception | None = None
        for holder_format in ("nut", "matroska", "mov"):
            holder = av.open(io.BytesIO(), "w", format=holder_format)
            try:
                self.stream: Any = holder.add_stream_from_template(stream, opaque=True)
            except ValueError as exc:  # this muxer does not know the codec
                last_error = exc
                continue
            self._holder = holder
            return
        raise ExportFailed(f"cannot copy {self.codec_name} streams: {last_error}")

    @property
    def frame_seconds(self) -> float:
        return float(1 / self.rate) if self.rate else 0.04
