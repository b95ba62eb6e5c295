"""Privacy masks and crop areas (skeleton; see issue 3).

Interface contract used by the transcoder (``media/transcode.py``):

- ``Privacy`` is plain, JSON-serialisable data carried by ``SourcePlan.privacy``.
- ``privacy_graph`` returns FFmpeg filtergraph text that reads the video pad
  ``[src]`` (the source's full frame, ``width`` x ``height``) and writes
  ``[dst]``: masks applied in source coordinates first, then the crop.
- ``output_size`` is the frame size after the crop (even numbers), which the
  text overlay uses for placement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

Point = tuple[float, float]  # normalised x, y; origin top-left


@dataclass(frozen=True)
class Area:
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Privacy:
    masks: tuple[tuple[Point, ...], ...] = ()  # polygons, applied when non-empty
    invert: bool = False  # mask the outside of the polygons instead
    fill: str = "mosaic"  # "mosaic" or a colour "#RRGGBB" (from [media] mask_fill)
    crop: Area | None = None

    @property
    def changes_pixels(self) -> bool:
        return bool(self.masks) or self.crop is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Privacy:
        crop = data.get("crop")
        return cls(
            masks=tuple(tuple((float(x), float(y)) for x, y in poly) for poly in data["masks"]),
            invert=bool(data.get("invert", False)),
            fill=str(data.get("fill", "mosaic")),
            crop=Area(**crop) if crop else None,
        )


def output_size(privacy: Privacy | None, width: int, height: int) -> tuple[int, int]:
    """Frame size after the crop (even, at least 2x2)."""
    raise NotImplementedError


def privacy_graph(
    privacy: Privacy, *, width: int, height: int, workdir: Path, src: str, dst: str
) -> str:
    """Filtergraph text applying masks then crop from pad ``[src]`` to pad ``[dst]``."""
    raise NotImplementedError
