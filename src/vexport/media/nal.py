"""H.264 and H.265 bitstreams at the level of NAL units: just what a smart cut needs.

A smart cut joins frames re-encoded by x264/x265 to frames copied from the
camera, in one stream that one decoder reads. That works when the decoder
has both encoders' parameter sets (SPS/PPS, and VPS for H.265) and each
frame refers to its own. These helpers split packets into NAL units in
either framing (Annex B start codes, as in MPEG-TS; or length prefixes, as
in MP4 and Matroska), read a parameter set's id, build the ``avcC`` record
that lists several of them, and reduce a packet to the NAL units that carry
the picture, so copied packets can be compared with the recording byte for
byte whatever the container did to their framing.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Sequence

__all__ = [
    "ANNEX_B",
    "H264_PPS",
    "H264_SPS",
    "HEVC_PARAMETER_SETS",
    "annexb",
    "avcc_with",
    "framing",
    "h264_sps_id",
    "is_annexb",
    "is_picture",
    "length_prefixed",
    "nal_type",
    "parameter_sets",
    "picture_crc",
    "picture_digest",
    "split",
]

H264_SPS, H264_PPS = 7, 8
HEVC_VPS, HEVC_SPS, HEVC_PPS = 32, 33, 34
HEVC_PARAMETER_SETS = (HEVC_VPS, HEVC_SPS, HEVC_PPS)


def nal_type(codec: str, nal: bytes) -> int:
    """The NAL unit type of ``nal`` (``codec``: "h264" or "hevc")."""
    if not nal:
        return -1
    return (nal[0] >> 1) & 0x3F if codec == "hevc" else nal[0] & 0x1F


ANNEX_B = 0
"""A framing: NAL units after start codes (MPEG-TS, AVI, raw streams). Any other framing
is the size in bytes of the length before each NAL unit (MP4, Matroska: usually 4)."""


def is_annexb(data: bytes) -> bool:
    """Whether ``data`` starts with an Annex B start code (00 00 01 or 00 00 00 01).

    Only for extradata: a length-prefixed packet can start with those bytes too (a NAL
    unit of 256 to 511 bytes), so packets are split by their stream's ``framing``.
    """
    return data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01"


def framing(codec: str, extradata: bytes) -> int:
    """How a stream with this extradata frames NAL units in its packets (``ANNEX_B`` or a
    length size): avcC and hvcC records say their length size; anything else is Annex B."""
    if not extradata or is_annexb(extradata):
        return ANNEX_B
    return length_size(codec, extradata)


def split(data: bytes, framing: int) -> list[bytes]:
    """The NAL units of one packet (or Annex B extradata) in the given framing."""
    if framing == ANNEX_B:
        return _split_annexb(data)
    length_size = framing
    nals = []
    position = 0
    while position + length_size <= len(data):
        size = int.from_bytes(data[position : position + length_size], "big")
        position += length_size
        nals.append(data[position : position + size])
        position += size
    return nals


def _split_annexb(data: bytes) -> list[bytes]:
    nals = []
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        following = data.find(b"\x00\x00\x01", begin)
        end = len(data) if following < 0 else following
        nal = data[begin:end]
        if following >= 0:
            nal = nal.rstrip(b"\x00")  # the next start code's leading zero (or trailing zeros)
        if nal:
            nals.append(nal)
        start = following
    return nals


def annexb(nals: Iterable[bytes]) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + nal for nal in nals)


def length_prefixed(nals: Iterable[bytes], length_size: int = 4) -> bytes:
    return b"".join(len(nal).to_bytes(length_size, "big") + nal for nal in nals)


def parameter_sets(codec: str, extradata: bytes) -> list[bytes]:
    """The parameter-set NAL units in a stream's extradata (avcC, hvcC or Annex B)."""
    if not extradata:
        return []
    if is_annexb(extradata):
        wanted = HEVC_PARAMETER_SETS if codec == "hevc" else (H264_SPS, H264_PPS)
        return [n for n in _split_annexb(extradata) if nal_type(codec, n) in wanted]
    if codec == "hevc":
        return _hvcc_nals(extradata)
    return _avcc_nals(extradata)[0] + _avcc_nals(extradata)[1]


def length_size(codec: str, extradata: bytes) -> int:
    """Bytes of each NAL length prefix in packets of a stream with this avcC/hvcC."""
    if not extradata or is_annexb(extradata):
        return 4
    if codec == "hevc":
        return (extradata[21] & 0x03) + 1 if len(extradata) > 21 else 4
    return (extradata[4] & 0x03) + 1 if len(extradata) > 4 else 4


def _avcc_nals(record: bytes) -> tuple[list[bytes], list[bytes], bytes]:
    """SPS list, PPS list and the trailing extension bytes of an avcC record."""
    position = 5
    count = record[position] & 0x1F
    position += 1
    sps = []
    for _ in range(count):
        size = int.from_bytes(record[position : position + 2], "big")
        sps.append(record[position + 2 : position + 2 + size])
        position += 2 + size
    count = record[position]
    position += 1
    pps = []
    for _ in range(count):
        size = int.from_bytes(record[position : position + 2], "big")
        pps.append(record[position + 2 : position + 2 + size])
        position += 2 + size
    return sps, pps, record[position:]


def _hvcc_nals(record: bytes) -> list[bytes]:
    nals = []
    position = 22
    arrays = record[position]
    position += 1
    for _ in range(arrays):
        position += 1  # array_completeness, NAL unit type
        count = int.from_bytes(record[position : position + 2], "big")
        position += 2
        for _ in range(count):
            size = int.from_bytes(record[position : position + 2], "big")
            nals.append(record[position + 2 : position + 2 + size])
            position += 2 + size
    return nals


def avcc_with(record: bytes, extra: Sequence[bytes]) -> bytes:
    """The avcC ``record`` with the SPS and PPS units of ``extra`` added to its lists."""
    sps, pps, tail = _avcc_nals(record)
    sps += [n for n in extra if nal_type("h264", n) == H264_SPS and n not in sps]
    pps += [n for n in extra if nal_type("h264", n) == H264_PPS and n not in pps]
    out = bytearray(record[:5])
    out.append(0xE0 | len(sps))
    for nal in sps:
        out += len(nal).to_bytes(2, "big") + nal
    out.append(len(pps))
    for nal in pps:
        out += len(nal).to_bytes(2, "big") + nal
    return bytes(out + tail)


def h264_sps_id(nal: bytes) -> int:
    """``seq_parameter_set_id`` of an SPS, or the SPS id a PPS refers to, or a PPS's own id.

    For an SPS it is the first ue(v) after profile, constraints and level; for a
    PPS this returns ``pic_parameter_set_id`` (the first ue(v)).
    """
    payload = _unescape(nal[1:])
    if nal_type("h264", nal) == H264_SPS:
        payload = payload[3:]
    return _read_ue(payload)


def _unescape(data: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    return data.replace(b"\x00\x00\x03", b"\x00\x00")


def _read_ue(data: bytes) -> int:
    bits = "".join(f"{byte:08b}" for byte in data[:8])
    zeros = len(bits) - len(bits.lstrip("0"))
    return int(bits[zeros : 2 * zeros + 1], 2) - 1


def is_picture(codec: str, nal: bytes) -> bool:
    """Whether ``nal`` is a coded slice (VCL NAL unit) of a picture."""
    kind = nal_type(codec, nal)
    return 0 <= kind <= 31 if codec == "hevc" else 1 <= kind <= 5


def is_disposable(codec: str, data: bytes, framing: int) -> bool:
    """Whether no other picture refers to this packet's: H.264 slices with nal_ref_idc 0.

    Such a frame (most B-frames of a B-pyramid) can be left undecoded when only a
    later frame is wanted. H.265 says "not a reference" only within a temporal
    sub-layer, so its pictures are never called disposable here.
    """
    if codec != "h264":
        return False
    slices = picture_nals(codec, data, framing)
    return bool(slices) and all((n[0] >> 5) & 3 == 0 for n in slices)


def picture_nals(codec: str, data: bytes, framing: int) -> list[bytes]:
    """The coded slices of a packet: what the camera encoded, whatever a muxer or a cut adds
    around them (parameter sets, SEI copied from the extradata, delimiters, end of sequence)."""
    return [n for n in split(data, framing) if is_picture(codec, n)]


def picture_digest(codec: str, data: bytes, framing: int) -> str:
    """A digest of ``picture_nals``: equal for a packet and its copy in any container."""
    digest = hashlib.sha256()
    for nal in picture_nals(codec, data, framing):
        digest.update(len(nal).to_bytes(4, "big"))
        digest.update(nal)
    return digest.hexdigest()


def picture_crc(codec: str, data: bytes, framing: int) -> int:
    """A CRC-32 of ``picture_nals``: cheap enough for every copied packet."""
    crc = 0
    for nal in picture_nals(codec, data, framing):
        crc = zlib.crc32(nal, zlib.crc32(len(nal).to_bytes(4, "big"), crc))
    return crc
