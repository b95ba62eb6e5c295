"""Text on exported video: timestamps, comments and subtitles (skeleton; see issue 3).

Interface contract used by the transcoder (``media/transcode.py``):

- ``TextOverlay`` is plain, JSON-serialisable data carried by ``SourcePlan.text``.
- ``text_graph`` returns FFmpeg filtergraph text that reads the video pad
  ``[src]`` and writes ``[dst]``. A frame's ``pts`` in seconds plus
  ``epoch_base`` is that frame's wall-clock POSIX time, so each frame shows
  its own real time.
- ``add_soft_subtitles`` adds a subtitle track to a finished clip in place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vexport.media.plan import ContainerFormat


@dataclass(frozen=True)
class TextOverlay:
    comment: str = ""
    timestamp_format: str | None = None  # None: no timestamp drawn
    timezone_minutes: int = 0
    burn: bool = True  # draw into the pixels
    soft_subtitles: bool = False  # add a subtitle track instead / as well

    @property
    def burns_pixels(self) -> bool:
        return self.burn and bool(self.comment or self.timestamp_format)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextOverlay:
        return cls(**data)


def text_graph(
    overlay: TextOverlay,
    *,
    width: int,
    height: int,
    epoch_base: float,
    workdir: Path,
    src: str,
    dst: str,
) -> str:
    """Filtergraph text drawing ``overlay`` from pad ``[src]`` to pad ``[dst]``."""
    raise NotImplementedError


def format_wall(wall: float, timestamp_format: str, timezone_minutes: int) -> str:
    """A wall-clock POSIX time as text, exactly as ``text_graph`` draws it."""
    raise NotImplementedError


def add_soft_subtitles(
    path: Path,
    container: ContainerFormat,
    overlay: TextOverlay,
    *,
    first_frame: float,
    last_frame: float,
    ffmpeg: str,
) -> None:
    """Add a subtitle track (one cue per second or per change) to the clip at ``path``."""
    raise NotImplementedError
