"""PDF snapshots: the frame and its text on an A4 page (skeleton; see issue 3).

The frame is embedded at full resolution; comment and timestamp are real
(searchable) text in the places the request gives, in normalised page areas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vexport.media.privacy import Area


@dataclass(frozen=True)
class PdfLayout:
    landscape: bool = False
    snapshot_place: Area | None = None  # None: documented defaults
    comment_place: Area | None = None
    timestamp_place: Area | None = None
    text_color: tuple[float, float, float] = (0.0, 0.0, 0.0)
    font_size: float = 0.0  # points; 0: default
    font_style: int = 0  # vexport.fonts BOLD | ITALIC

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PdfLayout:
        def area(key: str) -> Area | None:
            value = data.get(key)
            return Area(**value) if value else None

        return cls(
            landscape=bool(data.get("landscape", False)),
            snapshot_place=area("snapshot_place"),
            comment_place=area("comment_place"),
            timestamp_place=area("timestamp_place"),
            text_color=tuple(data.get("text_color", (0.0, 0.0, 0.0))),
            font_size=float(data.get("font_size", 0.0)),
            font_style=int(data.get("font_style", 0)),
        )


def write_pdf(
    image: Path, out: Path, layout: PdfLayout, *, comment: str, timestamp_text: str
) -> None:
    """Write a one-page PDF of the still ``image`` (PNG) with its comment and timestamp."""
    raise NotImplementedError
