"""Snapshot settings of export ``Options`` (protobuf) into a ``PdfLayout``.

The page settings (``pdf_layout``, the three places, ``pdf_text_color``,
``pdf_font``) describe a PDF page; for JPEG and PNG snapshots they are
validated and have nothing to act on. ``face_info``, ``plate_info`` and an
external ``snapshot`` frame are refused: vexport has no detector results and
renders only frames of its own sources.
"""

from __future__ import annotations

from collections.abc import Sequence

from vexport.api.contract import values
from vexport.errors import InvalidArgument, Unimplemented
from vexport.media.pdf import MAX_FONT_SIZE, PdfLayout
from vexport.media.privacy import Area
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

__all__ = ["PdfLayout", "pdf_layout_from_settings"]

_REFUSED = {
    "face_info": "face focus needs detector results, which vexport does not have",
    "plate_info": "plate focus needs detector results, which vexport does not have",
    "snapshot": "external frames are not supported; the frame comes from the source",
}


def pdf_layout_from_settings(settings: Sequence[pb.SnapshotSetting], *, field: str) -> PdfLayout:
    """The page layout; ``field`` is the list's path (``session_options.snapshot.settings``)."""
    layout: dict[str, object] = {}
    seen: dict[str, str] = {}
    for index, setting in enumerate(settings):
        which = setting.WhichOneof("setting")
        path = f"{field}[{index}]"
        if which is None:
            raise InvalidArgument("empty setting: set one of its fields", field=path)
        path = f"{path}.{which}"
        if which in _REFUSED:
            raise Unimplemented(_REFUSED[which], field=path)
        values.once(seen, which, path)
        if which == "pdf_layout":
            if setting.pdf_layout not in (
                pb.SnapshotSetting.PL_PORTRAIT,
                pb.SnapshotSetting.PL_LANDSCAPE,
            ):
                raise InvalidArgument(f"{setting.pdf_layout} is not a layout", field=path)
            layout["landscape"] = setting.pdf_layout == pb.SnapshotSetting.PL_LANDSCAPE
        elif which in ("snapshot_place", "comment_place", "timestamp_place"):
            layout[which] = _area(getattr(setting, which), path)
        elif which == "pdf_text_color":
            # Alpha is checked too, though PDF text is opaque.
            colour = values.colour(setting.pdf_text_color, path)
            layout["text_color"] = (colour.red, colour.green, colour.blue)
        elif which == "pdf_font":
            font = values.font(setting.pdf_font, path, max_size=MAX_FONT_SIZE, size_unit="points")
            layout["font_size"], layout["font_style"] = font.size, font.style
    return PdfLayout(**layout)  # type: ignore[arg-type]


def _area(view: pb.ViewArea, field: str) -> Area:
    box = values.area(view, field)
    return Area(box.left, box.top, box.right, box.bottom)
