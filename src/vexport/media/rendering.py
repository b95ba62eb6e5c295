"""How an export's pictures and sound are encoded: plain data, decided once.

A stream copy is the default and the fastest path; it is left only when a
setting needs new pixels (an overlay, a mask, a crop), another codec, another
frame rate or a time-lapse. ``vexport.media.decision`` is the one place that
decides, so the runner, the session log and the tests all agree on why an
export was re-encoded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class VideoCodec(StrEnum):
    COPY = "copy"
    H264 = "h264"
    H265 = "h265"
    MJPEG = "mjpeg"
    MPEG4 = "mpeg4"


class AudioCodec(StrEnum):
    COPY = "copy"
    AAC = "aac"
    G711 = "g711"  # mu-law
    MP2 = "mp2"
    OPUS = "opus"
    NONE = "none"  # reject_audio, or a time-lapse faster than 2x


class Quality(StrEnum):
    """The contract's EQuality levels; NORMAL means "copy unless forced, else MEDIUM"."""

    BEST_QUALITY = "best_quality"
    FINE = "fine"
    GOOD = "good"
    NORMAL = "normal"
    SMALL = "small"
    TINY = "tiny"
    BEST_SIZE = "best_size"
    MEDIUM = "medium"


@dataclass(frozen=True)
class VideoEncoding:
    codec: VideoCodec = VideoCodec.COPY
    quality: Quality = Quality.NORMAL
    # Keep one frame in ``frame_divisor`` (FF_HALF = 2, FF_QUARTER = 4, FF_OCTANT = 8).
    frame_divisor: int = 1


@dataclass(frozen=True)
class AudioEncoding:
    codec: AudioCodec = AudioCodec.COPY
    quality: Quality = Quality.NORMAL


@dataclass(frozen=True)
class TimeLapse:
    """``fps`` > 0: keyframes only, at most that many per second of output.

    ``speed`` > 1: the output plays that many times faster than real time.
    Overlaid timestamps and the result's min/max timestamps stay true to the
    original time.
    """

    fps: float = 0.0
    speed: float = 0.0


@dataclass(frozen=True)
class Rendering:
    video: VideoEncoding = field(default_factory=VideoEncoding)
    audio: AudioEncoding = field(default_factory=AudioEncoding)
    time_lapse: TimeLapse | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Rendering:
        if not data:
            return cls()
        video = data.get("video") or {}
        audio = data.get("audio") or {}
        lapse = data.get("time_lapse")
        return cls(
            video=VideoEncoding(
                codec=VideoCodec(video.get("codec", VideoCodec.COPY)),
                quality=Quality(video.get("quality", Quality.NORMAL)),
                frame_divisor=int(video.get("frame_divisor", 1)),
            ),
            audio=AudioEncoding(
                codec=AudioCodec(audio.get("codec", AudioCodec.COPY)),
                quality=Quality(audio.get("quality", Quality.NORMAL)),
            ),
            time_lapse=TimeLapse(**lapse) if lapse else None,
        )
