"""Text settings of export ``Options`` (protobuf) into a ``TextOverlay``.

The options validator (``options.py``) calls ``text_overlay_from_settings``
once per source with the common and that source's settings; it owns every
other setting. Every refusal names the field path (``session_options.settings[2]
.text_color.red``), like the rest of the contract.

Choices the contract leaves open, decided here once:

- Per-source ``text_place``/``text_color`` override the common ones.
- Without ``subtitle_cast``: a comment or a ``timestamp_format`` means
  burnt-in text (SM_HARD); the deprecated ``burn_subtitle`` says true = SM_HARD,
  false = SM_SOFT. ``subtitle_cast`` wins over ``burn_subtitle``.
- ``subtitle_cast`` without a pattern builds one from ``details`` (in the
  order given), else draws the comment and the timestamp.
- Wildcards known when the session starts are substituted here;
  ``{CameraLocation}``, ``{CurrentUser}`` and ``{BookmarkInfo}`` have no source
  in vexport yet and become empty. ``{Timestamp}`` is drawn per frame.
- A ``ColorInfo`` with alpha 0 is what a client that sets only RGB sends
  (proto3 default): for ``text_color`` it means opaque (invisible text is
  never the intent); for ``text_place_color`` it means no box.
- Font faces are not selectable (DejaVu ships); a face other than empty or
  DejaVu is refused rather than silently replaced.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from vexport.api.contract import values
from vexport.errors import InvalidArgument, Unimplemented
from vexport.media.formats import ContainerFormat
from vexport.media.text import (
    DEFAULT_FONT_SIZE,
    SOFT_SUBTITLE_CODECS,
    TIMESTAMP_WILDCARD,
    HAlign,
    Place,
    Rgba,
    TextOverlay,
    TimestampFormatError,
    VAlign,
    parse_timestamp_format,
)
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

COMMON_SETTINGS = frozenset(
    {
        "comment",
        "timestamp_format",
        "text_place",
        "text_color",
        "burn_subtitle",
        "subtitle_cast",
        "font",
    }
)
SOURCE_SETTINGS = frozenset(
    {
        "text_place",
        "text_color",
        "text_place_color",
        "vertical_text_align",
        "horizon_text_align",
    }
)

MAX_COMMENT = 1000
MAX_PATTERN = 2000
MAX_FONT_SIZE = 400.0

WILDCARDS = (
    "{Timestamp}",
    "{ExportComment}",
    "{CameraId}",
    "{CameraName}",
    "{CameraLocation}",
    "{CurrentUser}",
    "{BookmarkInfo}",
)
_WILDCARD_RE = re.compile(r"\{[A-Za-z]+\}")
_ENTITY_WILDCARDS: dict[int, str] = {
    pb.SubtitleInfo.SE_TIMESTAMP: "{Timestamp}",
    pb.SubtitleInfo.SE_COMMENT: "{ExportComment}",
    pb.SubtitleInfo.SE_BOOKMARK: "{BookmarkInfo}",
    pb.SubtitleInfo.SE_AUTHOR: "{CurrentUser}",
    pb.SubtitleInfo.SE_CAMERA_ID: "{CameraId}",
    pb.SubtitleInfo.SE_CAMERA_NAME: "{CameraName}",
    pb.SubtitleInfo.SE_LOCATION: "{CameraLocation}",
}
_VALIGN: dict[int, VAlign] = {
    pb.SourceSetting.V_BOTTOM: VAlign.BOTTOM,
    pb.SourceSetting.V_CENTER: VAlign.CENTER,
    pb.SourceSetting.V_TOP: VAlign.TOP,
}
_HALIGN: dict[int, HAlign] = {
    pb.SourceSetting.H_CENTER: HAlign.CENTER,
    pb.SourceSetting.H_LEFT: HAlign.LEFT,
    pb.SourceSetting.H_RIGHT: HAlign.RIGHT,
}


@dataclass
class _Collected:
    """The text settings found, each with the field path it came from."""

    comment: str = ""
    timestamp_format: tuple[str, str] | None = None
    timezone: int = 0
    place: Place | None = None
    color: Rgba | None = None
    box_color: Rgba | None = None
    box_set: bool = False
    valign: VAlign | None = None
    halign: HAlign | None = None
    burn_subtitle: tuple[bool, str] | None = None
    cast: tuple[pb.SubtitleInfo, str] | None = None
    font_size: float = DEFAULT_FONT_SIZE
    font_style: int = 0


def text_overlay_from_settings(
    common: Sequence[pb.CommonSetting],
    source: Sequence[pb.SourceSetting],
    *,
    common_field: str,
    source_field: str,
    origin: str,
    origin_name: str,
    container: ContainerFormat | None,
) -> TextOverlay | None:
    """The overlay for one source, or None when no text is asked for.

    ``common_field``/``source_field`` are the paths of the two lists
    (``session_options.settings``, ``session_options.archive.sources[0].settings``).
    ``container`` None skips the container check (the caller does not know it yet).
    """
    found = _Collected()
    _read_common(common, common_field, found)
    _read_source(source, source_field, found)
    burn, soft, mode_field = _method(found)
    if not burn and not soft:
        return None
    pattern = _pattern(found, origin=origin, origin_name=origin_name)
    timestamp_format = found.timestamp_format[0] if found.timestamp_format else None
    if pattern is None and timestamp_format is None and (found.cast or found.burn_subtitle):
        timestamp_format = ""  # asked for subtitles without saying which: the timestamp
    overlay = TextOverlay(
        comment=found.comment,
        timestamp_format=timestamp_format,
        timezone_minutes=found.timezone,
        burn=burn,
        soft_subtitles=soft,
        pattern=pattern,
        place=found.place,
        color=found.color or Rgba(),
        box_color=found.box_color if found.box_set else TextOverlay().box_color,
        valign=found.valign,
        halign=found.halign,
        font_size=found.font_size,
        font_style=found.font_style,
    )
    if not overlay.has_text:
        return None
    if soft and container is not None:
        _check_soft_container(container, mode_field)
    return overlay


def _read_common(settings: Sequence[pb.CommonSetting], path: str, found: _Collected) -> None:
    seen: dict[str, str] = {}
    for index, setting in enumerate(settings):
        which = setting.WhichOneof("setting")
        field = f"{path}[{index}]"
        if which == "timezone":
            found.timezone = setting.timezone  # validated by the caller
            continue
        if which not in COMMON_SETTINGS:
            continue
        field = f"{field}.{which}"
        values.once(seen, which, field)
        if which == "comment":
            found.comment = _comment(setting.comment, field)
        elif which == "timestamp_format":
            found.timestamp_format = (_timestamp_format(setting.timestamp_format, field), field)
        elif which == "text_place":
            found.place = _place(setting.text_place, field)
        elif which == "text_color":
            found.color = _text_color(setting.text_color, field)
        elif which == "burn_subtitle":
            found.burn_subtitle = (setting.burn_subtitle, field)
        elif which == "subtitle_cast":
            found.cast = (setting.subtitle_cast, field)
        elif which == "font":
            found.font_size, found.font_style = _font(setting.font, field)


def _read_source(settings: Sequence[pb.SourceSetting], path: str, found: _Collected) -> None:
    seen: dict[str, str] = {}
    for index, setting in enumerate(settings):
        which = setting.WhichOneof("setting")
        if which not in SOURCE_SETTINGS:
            continue
        field = f"{path}[{index}].{which}"
        values.once(seen, which, field)
        if which == "text_place":
            found.place = _place(setting.text_place, field)
        elif which == "text_color":
            found.color = _text_color(setting.text_color, field)
        elif which == "text_place_color":
            found.box_set = True
            box = _color(setting.text_place_color, field)
            found.box_color = box if box.alpha > 0 else None
        elif which == "vertical_text_align":
            found.valign = values.enum_value(_VALIGN, setting.vertical_text_align, field)
        elif which == "horizon_text_align":
            found.halign = values.enum_value(_HALIGN, setting.horizon_text_align, field)


def _method(found: _Collected) -> tuple[bool, bool, str]:
    """(burn, soft, field that chose it) from subtitle_cast, burn_subtitle or the default."""
    if found.cast is not None:
        cast, field = found.cast
        if cast.stream_data_mode != pb.SubtitleInfo.SM_NONE:
            raise Unimplemented(
                "subtitles from stream data are not supported; use SM_NONE",
                field=f"{field}.stream_data_mode",
            )
        mode = cast.common_info_mode
        return (
            mode == pb.SubtitleInfo.SM_HARD,
            mode == pb.SubtitleInfo.SM_SOFT,
            (f"{field}.common_info_mode"),
        )
    if found.burn_subtitle is not None:
        burn, field = found.burn_subtitle
        return burn, not burn, field
    return bool(found.comment or found.timestamp_format), False, ""


def _pattern(found: _Collected, *, origin: str, origin_name: str) -> str | None:
    """The subtitle pattern with plan-time wildcards substituted, or None."""
    if found.cast is None:
        return None
    cast, field = found.cast
    pattern = cast.common_info_pattern
    pattern_field = f"{field}.common_info_pattern"
    if not pattern and cast.details:
        pattern = " ".join(_entity(entity, f"{field}.details") for entity in cast.details)
    if not pattern:
        return None
    if len(pattern) > MAX_PATTERN:
        raise InvalidArgument(f"at most {MAX_PATTERN} characters", field=pattern_field)
    for match in _WILDCARD_RE.finditer(pattern):
        if match.group() not in WILDCARDS:
            raise InvalidArgument(
                f"unknown wildcard {match.group()}; use {' '.join(WILDCARDS)}",
                field=pattern_field,
            )
    values = {
        "{ExportComment}": found.comment,
        "{CameraId}": origin,
        "{CameraName}": origin_name,
        "{CameraLocation}": "",
        "{CurrentUser}": "",
        "{BookmarkInfo}": "",
    }
    return _WILDCARD_RE.sub(lambda m: values.get(m.group(), m.group()), pattern)


def _entity(entity: int, field: str) -> str:
    wildcard = _ENTITY_WILDCARDS.get(entity)
    if wildcard is None:
        raise Unimplemented("stream data (SE_STREAM) in subtitles is not supported", field=field)
    return wildcard


def _check_soft_container(container: ContainerFormat, field: str) -> None:
    if container not in SOFT_SUBTITLE_CODECS:
        raise InvalidArgument(
            f"{container.name} cannot carry a text subtitle track; use MP4, MOV or MKV, "
            "or burn the text in (SM_HARD)",
            field=field,
        )


def _comment(text: str, field: str) -> str:
    if len(text) > MAX_COMMENT:
        raise InvalidArgument(f"at most {MAX_COMMENT} characters", field=field)
    if "\x00" in text:
        raise InvalidArgument("contains a NUL character", field=field)
    # Trailing line breaks would draw empty lines inside the text box.
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def _timestamp_format(fmt: str, field: str) -> str:
    if "\n" in fmt or "\x00" in fmt:
        raise InvalidArgument("must be one line", field=field)
    try:
        parse_timestamp_format(fmt)
    except TimestampFormatError as exc:
        raise InvalidArgument(str(exc), field=field) from None
    if TIMESTAMP_WILDCARD in fmt:
        raise InvalidArgument("a format, not a pattern: no {Timestamp}", field=field)
    return fmt


def _place(view: pb.ViewArea, field: str) -> Place:
    box = values.area(view, field)
    return Place(box.left, box.top, box.right, box.bottom)


def _color(info: pb.ColorInfo, field: str) -> Rgba:
    checked = values.colour(info, field)
    return Rgba(checked.red, checked.green, checked.blue, checked.alpha)


def _text_color(color: pb.ColorInfo, field: str) -> Rgba:
    rgba = _color(color, field)
    return rgba if rgba.alpha > 0 else Rgba(rgba.red, rgba.green, rgba.blue, 1.0)


def _font(font: pb.FontInfo, field: str) -> tuple[float, int]:
    checked = values.font(font, field, max_size=MAX_FONT_SIZE, size_unit="pixels at 1080 lines")
    return checked.size or DEFAULT_FONT_SIZE, checked.style
