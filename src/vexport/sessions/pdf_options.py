"""Snapshot settings of export ``Options`` (protobuf) into a ``PdfLayout``.

The page settings (``pdf_layout``, the three places, ``pdf_text_color``,
``pdf_font``) describe a PDF page; for JPEG and PNG snapshots they are
validated and have nothing to act on. ``face_info``, ``plate_info`` and an
external ``snapshot`` frame are refused: vexport has no detector results and
renders only frames of its own sources.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vexport.errors import InvalidArgument, Unimplemented
from vexport.media.pdf import MAX_FONT_SIZE, PdfLayout

__all__ = ["PdfLayout", "pdf_layout_from_settings"]
from vexport.media.privacy import Area
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

_REFUSED = {
    "face_info": "face focus needs detector results, which vexport does not have",
    "plate_info": "plate focus needs detector results, which vexport does not have",
    "snapshot": "external frames are not supported; the frame comes from the source",
}


def pdf_layout_from_settings(settings: Sequence[pb.SnapshotSetting], *, field: str) -> PdfLayout:
    """The page layout; ``field`` is the list's path (``session_options.snapshot.settings``)."""
    values: dict[str, object] = {}
    seen: dict[str, str] = {}
    for index, setting in enumerate(settings):
        which = setting.WhichOneof("setting")
        path = f"{field}[{index}]"
        if which is None:
            raise InvalidArgument("empty setting: set one of its fields", field=path)
        path = f"{path}.{which}"
        if which in _REFUSED:
            raise Unimplemented(_REFUSED[which], field=path)
        if which in seen:
            raise InvalidArgument(f"'{which}' is already set at {seen[which]}", field=path)
        seen[which] = path
        if which == "pdf_layout":
            if setting.pdf_layout not in (
                pb.SnapshotSetting.PL_PORTRAIT,
                pb.SnapshotSetting.PL_LANDSCAPE,
            ):
                raise InvalidArgument(f"{setting.pdf_layout} is not a layout", field=path)
            values["landscape"] = setting.pdf_layout == pb.SnapshotSetting.PL_LANDSCAPE
        elif which in ("snapshot_place", "comment_place", "timestamp_place"):
            values[which] = _area(getattr(setting, which), path)
        elif which == "pdf_text_color":
            color = setting.pdf_text_color
            values["text_color"] = (
                _unit(color.red, f"{path}.red"),
                _unit(color.green, f"{path}.green"),
                _unit(color.blue, f"{path}.blue"),
            )
            _unit(color.alpha, f"{path}.alpha")  # validated; PDF text is opaque
        elif which == "pdf_font":
            values["font_size"], values["font_style"] = _font(setting.pdf_font, path)
    return PdfLayout(**values)  # type: ignore[arg-type]


def _unit(value: float, field: str) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidArgument(f"{value:g} is outside 0..1", field=field)
    return float(value)


def _area(area: pb.ViewArea, field: str) -> Area:
    left, top = _unit(area.left, f"{field}.left"), _unit(area.top, f"{field}.top")
    right, bottom = _unit(area.right, f"{field}.right"), _unit(area.bottom, f"{field}.bottom")
    if right <= left or bottom <= top:
        raise InvalidArgument(
            "the area has no size: right must exceed left and bottom exceed top", field=field
        )
    return Area(left, top, right, bottom)


def _font(font: pb.FontInfo, field: str) -> tuple[float, int]:
    # Like text overlays: the face is a preference (clients send "Arial"); DejaVu ships.
    if not (math.isfinite(font.size) and 0 <= font.size <= MAX_FONT_SIZE):
        raise InvalidArgument(
            f"{font.size:g} must be in (0, {MAX_FONT_SIZE:g}] points, or 0 for the default",
            field=f"{field}.size",
        )
    if font.style & ~3:
        raise InvalidArgument(
            f"{font.style} is not a style: a bitmask of bold (1) and italic (2)",
            field=f"{field}.style",
        )
    return float(font.size), int(font.style)
