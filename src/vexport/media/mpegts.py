"""MPEG-TS at the level of 188-byte packets: just what passing segments through needs.

An HLS-TS archive's segments come from one muxer: laid end to end they are
one valid transport stream. A clip in MPEG-TS out of such an archive can
therefore copy the segments between its first and last ones as bytes, never
demuxing them; only the continuity counters of each PID must go on counting
across the joins with the parts vexport muxed itself. This module reads a
segment's layout (PAT/PMT: which PIDs carry what), the timestamps of its PES
packets, whether it starts on a keyframe, and renumbers continuity counters,
all with NumPy over the packet array (a 1080p segment is ~5,000 packets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from vexport.media import nal

__all__ = [
    "PACKET",
    "Layout",
    "packet_view",
    "renumber",
    "starts_with_keyframe",
    "video_timestamps",
]

PACKET = 188
_SYNC = 0x47
_PAT_PID = 0
_VIDEO_TYPES = {0x1B: "h264", 0x24: "hevc"}  # PMT stream_type -> codec

Packets = npt.NDArray[np.uint8]


class NotTransportStream(ValueError):
    """The bytes are not whole 188-byte TS packets."""


def packet_view(data: bytes | bytearray) -> Packets:
    """The packets of ``data`` as an (n, 188) array (writable if ``data`` is a bytearray)."""
    if len(data) % PACKET or not data:
        raise NotTransportStream(f"{len(data)} bytes are not whole {PACKET}-byte packets")
    view = np.frombuffer(data, dtype=np.uint8).reshape(-1, PACKET)
    if not (view[:, 0] == _SYNC).all():
        raise NotTransportStream("a packet does not start with the sync byte")
    return view


def _pids(view: Packets) -> npt.NDArray[np.int32]:
    return ((view[:, 1].astype(np.int32) & 0x1F) << 8) | view[:, 2]


def _payload_offsets(view: Packets) -> npt.NDArray[np.int32]:
    """Where each packet's payload starts (188 when it has none)."""
    control = (view[:, 3] >> 4) & 0x3
    offsets = np.full(len(view), 4, dtype=np.int32)
    adapted = (control & 0x2) != 0
    offsets[adapted] = 5 + view[adapted, 4].astype(np.int32)
    offsets[(control & 0x1) == 0] = PACKET
    return np.minimum(offsets, PACKET)


@dataclass(frozen=True)
class Layout:
    """A transport stream's program: the PMT's PID and each elementary stream's PID."""

    pmt_pid: int
    program: int
    video_pid: int
    video_codec: str
    streams: dict[int, int] = field(default_factory=dict)  # PID -> stream_type

    @classmethod
    def of(cls, view: Packets) -> Layout:
        """The first program of the PAT, and its PMT's streams."""
        pids = _pids(view)
        offsets = _payload_offsets(view)
        pat = _section(view, np.flatnonzero(pids == _PAT_PID), offsets)
        if pat is None or len(pat) < 12:
            raise NotTransportStream("no PAT")
        program = int.from_bytes(pat[8:10], "big")
        pmt_pid = int.from_bytes(pat[10:12], "big") & 0x1FFF
        pmt = _section(view, np.flatnonzero(pids == pmt_pid), offsets)
        if pmt is None:
            raise NotTransportStream("no PMT")
        length = ((pmt[1] & 0x0F) << 8) | pmt[2]
        info = ((pmt[10] & 0x0F) << 8) | pmt[11]
        position, end = 12 + info, 3 + length - 4
        streams: dict[int, int] = {}
        while position + 5 <= end:
            kind = pmt[position]
            pid = int.from_bytes(pmt[position + 1 : position + 3], "big") & 0x1FFF
            streams[pid] = kind
            position += 5 + (int.from_bytes(pmt[position + 3 : position + 5], "big") & 0x0FFF)
        video = [(pid, kind) for pid, kind in streams.items() if kind in _VIDEO_TYPES]
        if not video:
            raise NotTransportStream("no H.264 or H.265 video in the PMT")
        return cls(pmt_pid, program, video[0][0], _VIDEO_TYPES[video[0][1]], streams)


def _section(
    view: Packets, rows: npt.NDArray[np.intp], offsets: npt.NDArray[np.int32]
) -> bytes | None:
    """The first PSI section on the packets ``rows`` (one packet is enough for PAT/PMT)."""
    for row in rows:
        if not view[row, 1] & 0x40:  # payload_unit_start_indicator
            continue
        payload = bytes(view[row, offsets[row] :])
        if not payload:
            continue
        pointer = payload[0]
        return payload[1 + pointer :]
    return None


def _pes_starts(view: Packets, pid: int) -> npt.NDArray[np.intp]:
    return np.flatnonzero((_pids(view) == pid) & ((view[:, 1] & 0x40) != 0))


def video_timestamps(view: Packets, layout: Layout) -> list[tuple[int, int]]:
    """(PTS, DTS) of each video PES (access unit), in stream order, 90 kHz, 33 bits."""
    offsets = _payload_offsets(view)
    stamps = []
    for row in _pes_starts(view, layout.video_pid):
        header = bytes(view[row, offsets[row] : offsets[row] + 19])
        if len(header) < 14 or header[:3] != b"\x00\x00\x01":
            continue
        flags = header[7] >> 6
        if not flags & 0x2:
            continue
        pts = _timestamp(header[9:14])
        dts = _timestamp(header[14:19]) if flags == 0x3 and len(header) >= 19 else pts
        stamps.append((pts, dts))
    return stamps


def _timestamp(field: bytes) -> int:
    return (
        ((field[0] >> 1) & 0x07) << 30
        | field[1] << 22
        | (field[2] >> 1) << 15
        | field[3] << 7
        | field[4] >> 1
    )


def starts_with_keyframe(view: Packets, layout: Layout) -> bool:
    """Whether the stream's first video access unit is a keyframe that starts at the
    segment's first video packet: an IDR or recovery-point I-frame (H.264), an IRAP
    picture (H.265). Its leading pictures, if any, refer to the segment before, which a
    passthrough writes whole before it."""
    offsets = _payload_offsets(view)
    starts = _pes_starts(view, layout.video_pid)
    pids = _pids(view)
    if not len(starts) or (pids[: starts[0]] == layout.video_pid).any():
        return False  # video before the first access unit's start: a continued one
    first, following = int(starts[0]), int(starts[1]) if len(starts) > 1 else len(view)
    rows = [r for r in range(first, following) if pids[r] == layout.video_pid]
    payload = b"".join(bytes(view[r, offsets[r] :]) for r in rows)
    header_length = payload[8] if len(payload) > 8 else 0
    units = nal.split(payload[9 + header_length :], nal.ANNEX_B)
    codec = layout.video_codec
    if codec == "hevc":
        return any(16 <= nal.nal_type(codec, n) <= 23 for n in units)
    if any(nal.nal_type(codec, n) == 5 for n in units):
        return True
    return any(nal.nal_type(codec, n) == 6 and _recovery_point(n) for n in units)


def _recovery_point(sei: bytes) -> bool:
    """Whether an H.264 SEI NAL unit holds a recovery point (payload type 6)."""
    position = 1
    while position < len(sei) and sei[position] != 0x80:  # rbsp trailing bits
        kind = 0
        while position < len(sei) and sei[position] == 0xFF:
            kind += 255
            position += 1
        if position >= len(sei):
            return False
        kind += sei[position]
        position += 1
        size = 0
        while position < len(sei) and sei[position] == 0xFF:
            size += 255
            position += 1
        if position >= len(sei):
            return False
        size += sei[position]
        position += 1
        if kind == 6:
            return True
        position += size
    return False


def renumber(view: Packets, counters: dict[int, int]) -> None:
    """Rewrite the continuity counters of ``view`` (in place) to go on from ``counters``
    (PID -> the last counter written), and leave the last ones in ``counters``."""
    pids = _pids(view)
    with_payload = ((view[:, 3] >> 4) & 0x1) != 0
    for pid in np.unique(pids):
        if pid == 0x1FFF:
            continue
        rows = np.flatnonzero((pids == pid) & with_payload)
        if not len(rows):
            continue
        start = counters.get(int(pid))
        if start is None:
            counters[int(pid)] = int(view[rows[-1], 3] & 0x0F)
            continue
        numbers = (start + 1 + np.arange(len(rows))) & 0x0F
        view[rows, 3] = (view[rows, 3] & 0xF0) | numbers.astype(np.uint8)
        counters[int(pid)] = int(numbers[-1])
