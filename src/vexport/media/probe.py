"""What a media file holds, as a player would see it.

Tests and the results layer need the same answers (container, codecs, the
times of the frames a player shows), so they come from one place. Frame times
are read by decoding, not from packet headers, because edit lists and
discarded pre-roll frames only show up there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.video.stream import VideoStream


@dataclass(frozen=True)
class StreamInfo:
    kind: str  # "video", "audio", ...
    codec: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    sample_rate: int | None = None


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    duration: float | None  # seconds, None when the container does not say
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)


def probe(path: Path | str) -> MediaInfo:
    """Container and stream parameters of ``path``."""
    with av.open(str(path)) as container:
        streams: list[StreamInfo] = []
        for stream in container.streams:
            ctx = stream.codec_context
            codec = ctx.name if ctx is not None else "unknown"
            if isinstance(stream, VideoStream):
                rate = stream.average_rate or stream.guessed_rate
                streams.append(
                    StreamInfo(
                        kind="video",
                        codec=codec,
                        width=stream.width,
                        height=stream.height,
                        fps=float(rate) if rate else None,
                    )
                )
            elif isinstance(stream, AudioStream):
                streams.append(
                    StreamInfo(kind="audio", codec=codec, sample_rate=stream.sample_rate)
                )
            else:
                streams.append(StreamInfo(kind=stream.type, codec=codec))
        duration = container.duration / av.time_base if container.duration is not None else None
        return MediaInfo(
            format_name=container.format.name, duration=duration, streams=tuple(streams)
        )


def video_frame_times(path: Path | str) -> list[float]:
    """Presentation times (seconds) of the video frames a player shows, in display order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(frame.time) for frame in container.decode(stream) if frame.time is not None]
    return sorted(times)
