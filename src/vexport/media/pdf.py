"""PDF snapshots: the frame and its text on an A4 page.

The frame is embedded at full resolution and losslessly (its PNG pixels,
Flate-compressed: a PDF is evidence, and JPEG artefacts are not). Comment
and timestamp are real, searchable text in the shipped DejaVu font, each in
its normalised area of the page, wrapped at word boundaries and shrunk
until it fits (down to ``MIN_FONT_SIZE``; below that, lines that still do
not fit are cut and the last kept line ends with an ellipsis). The image is
scaled to fit its area, keeping its aspect ratio, centred.

Places the request leaves out take the defaults below: picture on top,
timestamp under it, comment under that, in both layouts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vexport.fonts import BOLD, ITALIC, font_path
from vexport.media.privacy import Area

DEFAULT_FONT_SIZE = 12.0  # points
MIN_FONT_SIZE = 4.0
MAX_FONT_SIZE = 200.0
LINE_SPACING = 1.25  # line height / font size
# Page areas (normalised, origin top-left) used when the request gives none.
DEFAULT_PLACES = {
    False: {  # portrait
        "snapshot_place": Area(0.06, 0.05, 0.94, 0.62),
        "timestamp_place": Area(0.06, 0.64, 0.94, 0.68),
        "comment_place": Area(0.06, 0.70, 0.94, 0.95),
    },
    True: {  # landscape
        "snapshot_place": Area(0.05, 0.05, 0.95, 0.76),
        "timestamp_place": Area(0.05, 0.78, 0.95, 0.84),
        "comment_place": Area(0.05, 0.85, 0.95, 0.96),
    },
}
_FAMILY = "DejaVu"


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


def place(layout: PdfLayout, name: str) -> Area:
    """The page area of ``snapshot_place``, ``comment_place`` or ``timestamp_place``."""
    given: Area | None = getattr(layout, name)
    return given or DEFAULT_PLACES[layout.landscape][name]


def write_pdf(
    image: Path, out: Path, layout: PdfLayout, *, comment: str, timestamp_text: str
) -> None:
    """Write a one-page PDF of the still ``image`` (PNG) with its comment and timestamp."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF(orientation="L" if layout.landscape else "P", unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_creator("vexport")
    pdf.set_margins(0, 0, 0)
    pdf.c_margin = 0
    for style, flags in (("", 0), ("B", BOLD), ("I", ITALIC), ("BI", BOLD | ITALIC)):
        pdf.add_font(_FAMILY, style=style, fname=str(font_path(flags)))
    pdf.add_page()
    page_w, page_h = pdf.w, pdf.h

    with Image.open(image) as still:
        width, height = still.size
    x, y, w, h = _box(place(layout, "snapshot_place"), page_w, page_h)
    scale = min(w / width, h / height)
    shown_w, shown_h = width * scale, height * scale
    pdf.image(str(image), x=x + (w - shown_w) / 2, y=y + (h - shown_h) / 2, w=shown_w, h=shown_h)

    red, green, blue = (round(c * 255) for c in layout.text_color)
    pdf.set_text_color(red, green, blue)
    style = ("B" if layout.font_style & BOLD else "") + ("I" if layout.font_style & ITALIC else "")
    size = layout.font_size or DEFAULT_FONT_SIZE
    for name, text in (("timestamp_place", timestamp_text), ("comment_place", comment)):
        if text:
            _text(pdf, text, _box(place(layout, name), page_w, page_h), style, size)
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))


def _box(area: Area, page_w: float, page_h: float) -> tuple[float, float, float, float]:
    return (
        area.left * page_w,
        area.top * page_h,
        (area.right - area.left) * page_w,
        (area.bottom - area.top) * page_h,
    )


def _text(
    pdf: Any, text: str, box: tuple[float, float, float, float], style: str, size: float
) -> None:
    """``text`` wrapped into ``box``, shrunk until it fits, cut below the smallest size."""
    x, y, w, h = box
    while True:
        pdf.set_font(_FAMILY, style=style, size=size)
        line_h = size * LINE_SPACING
        lines: list[str] = []
        for paragraph in text.split("\n"):
            lines += pdf.multi_cell(w, line_h, paragraph, dry_run=True, output="LINES") or [""]
        if len(lines) * line_h <= h or size <= MIN_FONT_SIZE:
            break
        size = max(MIN_FONT_SIZE, size * 0.9)
    fitting = max(1, int(h // line_h))
    if len(lines) > fitting:
        lines = lines[:fitting]
        lines[-1] = lines[-1].rstrip()[:-1] + "…" if len(lines[-1]) > 1 else "…"
    for number, line in enumerate(lines):
        pdf.set_xy(x, y + number * line_h)
        pdf.cell(w, line_h, line)
