"""Decoding wall-clock-timed packets: one decoder for packets from many segment files.

Snapshots, the smart cutter and its seam check all decode packets that came
from successive archive segments (or from one output file) as one stream.
The decoder is built from the codec name and extradata, copied while the
packet's demuxer was open (sources close demuxers as soon as their packets
are out), and frames come back with their wall-clock presentation time.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from vexport.media.packets import TimedPacket

__all__ = ["Decoded", "WallDecoder", "codec_of"]

_TICKS = 1_000_000  # decoder timestamps in µs from the first decoded packet


@dataclass(frozen=True)
class Decoded:
    wall: float
    frame: Any  # av.VideoFrame


def codec_of(tp: TimedPacket) -> tuple[str, bytes]:
    """The codec name and extradata of a packet's stream (the decoder's parameters)."""
    context = tp.stream.codec_context
    return str(context.name), bytes(context.extradata or b"")


class WallDecoder:
    """Decodes TimedPackets of one video stream; frames carry their wall times.

    ``threads`` > 1 decodes faster (frame threading) but holds frames back
    until the pipeline fills; a snapshot wants its frame now and uses 1.
    """

    def __init__(self, codec_name: str, extradata: bytes, *, threads: int = 1) -> None:
        self._ctx: Any = av.CodecContext.create(codec_name, "r")
        if extradata:
            self._ctx.extradata = extradata
        self._ctx.thread_count = threads
        if threads > 1:
            self._ctx.thread_type = "AUTO"
        self._base: float | None = None

    def decode(self, tp: TimedPacket | None) -> list[Decoded]:
        """Frames that came out for ``tp`` (None flushes the decoder)."""
        if tp is None:
            frames = self._ctx.decode(None)
        else:
            if self._base is None:
                self._base = tp.wall_dts
            packet = tp.packet
            saved = packet.time_base, packet.pts, packet.dts
            packet.time_base = Fraction(1, _TICKS)
            packet.pts = round((tp.wall_pts - self._base) * _TICKS)
            packet.dts = round((tp.wall_dts - self._base) * _TICKS)
            try:
                frames = self._ctx.decode(packet)
            finally:  # the packet may still be muxed: leave its timing as it was
                packet.time_base, packet.pts, packet.dts = saved
        base = self._base or 0.0
        return [
            Decoded(wall=base + frame.pts / _TICKS, frame=frame)
            for frame in frames
            if frame.pts is not None
        ]

    def decode_all(self, packets: list[TimedPacket]) -> list[Decoded]:
        """Every frame of ``packets`` (flushed at the end), in presentation order."""
        decoded = [d for tp in packets for d in self.decode(tp)] + self.decode(None)
        decoded.sort(key=lambda d: d.wall)
        return decoded
