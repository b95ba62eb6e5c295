"""One validator per shared type of the contract: unit values, areas, colours, fonts, times.

Several settings carry the same message types (a ``ViewArea`` is a text
place, a crop, a PDF snapshot place; a ``ColorInfo`` is a text or box colour
or the PDF's text colour). Each type is checked here, once, so one mistake
gets one message wherever it is made, and the field path says where.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from vexport.errors import InvalidArgument
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.timeutil import TimestampError, parse_timestamp

__all__ = [
    "Box",
    "Colour",
    "Font",
    "area",
    "colour",
    "enum_value",
    "font",
    "once",
    "timestamp",
    "unit",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Box:
    """A checked ``ViewArea``: normalised, top-left origin, with a size."""

    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Colour:
    """A checked ``ColorInfo``: four components in 0..1."""

    red: float
    green: float
    blue: float
    alpha: float


@dataclass(frozen=True)
class Font:
    """A checked ``FontInfo``: size (0 means the default) and the bold/italic bitmask."""

    size: float
    style: int


def unit(value: float, field: str) -> float:
    """A normalised value: a finite number in 0..1."""
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidArgument(f"{value:g} is outside 0..1", field=field)
    return float(value)


def area(view: pb.ViewArea, field: str) -> Box:
    """A ``ViewArea`` with every edge in 0..1 and a size (right of left, below top)."""
    box = Box(
        unit(view.left, f"{field}.left"),
        unit(view.top, f"{field}.top"),
        unit(view.right, f"{field}.right"),
        unit(view.bottom, f"{field}.bottom"),
    )
    if box.right <= box.left:
        raise InvalidArgument(
            f"the area has no size: right {box.right:g} must be greater than left {box.left:g}",
            field=f"{field}.right",
        )
    if box.bottom <= box.top:
        raise InvalidArgument(
            f"the area has no size: bottom {box.bottom:g} must be greater than top {box.top:g}",
            field=f"{field}.bottom",
        )
    return box


def colour(info: pb.ColorInfo, field: str) -> Colour:
    """A ``ColorInfo`` with every component in 0..1 (what alpha 0 means is the caller's)."""
    return Colour(
        unit(info.red, f"{field}.red"),
        unit(info.green, f"{field}.green"),
        unit(info.blue, f"{field}.blue"),
        unit(info.alpha, f"{field}.alpha"),
    )


def font(info: pb.FontInfo, field: str, *, max_size: float, size_unit: str) -> Font:
    """A ``FontInfo``: size in (0, ``max_size``] ``size_unit`` or 0, style bold 1 | italic 2.

    The face is a preference, not a requirement: clients of the original API
    send their platform's face ("Arial") with every request, and refusing it
    would break them; the fonts that ship with vexport draw every face.
    """
    size = info.size
    if not (math.isfinite(size) and 0 <= size <= max_size):
        raise InvalidArgument(
            f"{size:g} must be in (0, {max_size:g}] {size_unit}, or 0 for the default",
            field=f"{field}.size",
        )
    if info.style & ~3:
        raise InvalidArgument(
            f"{info.style} is not a style: a bitmask of bold (1) and italic (2)",
            field=f"{field}.style",
        )
    return Font(float(size), int(info.style))


def timestamp(text: str, field: str) -> datetime:
    """A required UTC time: ``YYYYMMDDTHHMMSS[.ffffff]`` or ISO 8601 with a zone."""
    if not text:
        raise InvalidArgument("is required (YYYYMMDDTHHMMSS[.ffffff] UTC)", field=field)
    try:
        return parse_timestamp(text)
    except TimestampError as exc:
        raise InvalidArgument(str(exc), field=field) from None


def once(seen: dict[str, str], which: str, field: str) -> None:
    """A setting given twice is a client bug; which one should win would be a guess."""
    if which in seen:
        raise InvalidArgument(f"'{which}' is already set at {seen[which]}", field=field)
    seen[which] = field


def enum_value(table: dict[int, _T], value: int, field: str) -> _T:
    """An enum number the table knows (proto3 keeps unknown numbers)."""
    if value not in table:
        raise InvalidArgument(f"{value} is not a known value", field=field)
    return table[value]
