"""Text settings (protobuf) into a TextOverlay: defaults, overrides, refusals with field paths."""

from __future__ import annotations

from typing import Any

import pytest

from vexport.api.contract.text import (
    COMMON_SETTINGS,
    SOURCE_SETTINGS,
    text_overlay_from_settings,
)
from vexport.errors import InvalidArgument, Unimplemented
from vexport.media.plan import ContainerFormat
from vexport.media.text import (
    DEFAULT_BOX,
    DEFAULT_FONT_SIZE,
    HAlign,
    Rgba,
    TextOverlay,
    VAlign,
)
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

COMMON = "session_options.settings"
SOURCE = "session_options.archive.sources[0].settings"
Sub = pb.SubtitleInfo


def overlay(
    common: list[pb.CommonSetting],
    source: list[pb.SourceSetting] | None = None,
    container: ContainerFormat | None = ContainerFormat.MP4,
) -> TextOverlay | None:
    return text_overlay_from_settings(
        common,
        source or [],
        common_field=COMMON,
        source_field=SOURCE,
        origin="hosts/N/DeviceIpint.1/SourceEndpoint.video:0:0",
        origin_name="Gate 3",
        container=container,
    )


def c(**kwargs: Any) -> pb.CommonSetting:
    return pb.CommonSetting(**kwargs)


def s(**kwargs: Any) -> pb.SourceSetting:
    return pb.SourceSetting(**kwargs)


def test_constants_name_real_oneof_fields() -> None:
    common = {f.name for f in pb.CommonSetting.DESCRIPTOR.oneofs_by_name["setting"].fields}
    source = {f.name for f in pb.SourceSetting.DESCRIPTOR.oneofs_by_name["setting"].fields}
    assert common >= COMMON_SETTINGS
    assert source >= SOURCE_SETTINGS


def test_nothing_textual_is_none_so_stream_copy_stays_possible() -> None:
    assert overlay([]) is None
    assert overlay([c(timezone=180), c(file_name="x")], [s(text_color=pb.ColorInfo(red=1))]) is None


def test_comment_alone_is_burnt_without_timestamp() -> None:
    result = overlay([c(comment="Gate 3")])
    assert result == TextOverlay(comment="Gate 3", burn=True)
    assert result is not None and result.burns_pixels and result.box_color == DEFAULT_BOX


def test_empty_timestamp_format_means_default_format_and_timezone_passes_through() -> None:
    result = overlay([c(timestamp_format=""), c(timezone=-300)])
    assert result is not None
    assert result.timestamp_format == "" and result.timezone_minutes == -300
    assert result.effective_format == "%Y-%m-%d %H:%M:%S.%3N"
    assert result.burn and not result.soft_subtitles


def test_source_settings_override_common_ones() -> None:
    area = pb.ViewArea(left=0.1, top=0.2, right=0.9, bottom=0.4)
    result = overlay(
        [
            c(comment="x"),
            c(text_place=pb.ViewArea(left=0, top=0, right=1, bottom=1)),
            c(text_color=pb.ColorInfo(red=1, green=1, blue=1, alpha=1)),
        ],
        [
            s(text_place=area),
            s(text_color=pb.ColorInfo(red=1, alpha=1)),
            s(text_place_color=pb.ColorInfo(blue=1, alpha=0.5)),
            s(vertical_text_align=pb.SourceSetting.V_TOP),
            s(horizon_text_align=pb.SourceSetting.H_RIGHT),
        ],
    )
    assert result is not None
    assert result.place is not None
    place = result.place
    assert (place.left, place.top, place.right, place.bottom) == pytest.approx((0.1, 0.2, 0.9, 0.4))
    assert result.color == Rgba(1.0, 0.0, 0.0, 1.0)
    assert result.box_color == Rgba(0.0, 0.0, 1.0, 0.5)
    assert (result.valign, result.halign) == (VAlign.TOP, HAlign.RIGHT)


def test_alpha_zero_means_opaque_text_and_no_box() -> None:
    result = overlay(
        [c(comment="x"), c(text_color=pb.ColorInfo(green=1))],
        [s(text_place_color=pb.ColorInfo(red=1))],
    )
    assert result is not None
    assert result.color == Rgba(0.0, 1.0, 0.0, 1.0)
    assert result.box_color is None


def test_font_size_and_style() -> None:
    result = overlay([c(comment="x"), c(font=pb.FontInfo(size=48, style=3))])
    assert result is not None and (result.font_size, result.font_style) == (48.0, 3)
    default = overlay([c(comment="x"), c(font=pb.FontInfo(face="Arial"))])
    assert default is not None and default.font_size == DEFAULT_FONT_SIZE


@pytest.mark.parametrize(("burn", "burns", "soft"), [(True, True, False), (False, False, True)])
def test_deprecated_burn_subtitle(burn: bool, burns: bool, soft: bool) -> None:
    result = overlay([c(comment="x"), c(burn_subtitle=burn)])
    assert result is not None and (result.burn, result.soft_subtitles) == (burns, soft)


def test_burn_subtitle_alone_asks_for_the_timestamp() -> None:
    result = overlay([c(burn_subtitle=True)])
    assert result is not None and result.timestamp_format == "" and result.burns_pixels


def test_subtitle_cast_pattern_substitutes_plan_time_wildcards() -> None:
    cast = Sub(
        common_info_mode=Sub.SM_SOFT,
        common_info_pattern="{CameraName} ({CameraId}) {ExportComment}{CurrentUser}: {Timestamp}",
    )
    result = overlay([c(comment="door"), c(subtitle_cast=cast), c(burn_subtitle=True)])
    assert result is not None
    assert result.pattern == (
        "Gate 3 (hosts/N/DeviceIpint.1/SourceEndpoint.video:0:0) door: {Timestamp}"
    )
    assert (result.burn, result.soft_subtitles) == (False, True)  # subtitle_cast wins


def test_subtitle_cast_details_build_the_pattern() -> None:
    cast = Sub(common_info_mode=Sub.SM_HARD, details=[Sub.SE_CAMERA_NAME, Sub.SE_TIMESTAMP])
    result = overlay([c(subtitle_cast=cast)])
    assert result is not None and result.pattern == "Gate 3 {Timestamp}" and result.burn


def test_subtitle_cast_none_disables_text() -> None:
    assert overlay([c(comment="x"), c(subtitle_cast=Sub(common_info_mode=Sub.SM_NONE))]) is None


@pytest.mark.parametrize(
    ("common", "source", "container", "error", "field", "message"),
    [
        (
            [c(comment="x"), c(file_name="a"), c(text_color=pb.ColorInfo(red=1.5))],
            [],
            ContainerFormat.MP4,
            InvalidArgument,
            f"{COMMON}[2].text_color.red",
            "outside 0..1",
        ),
        (
            [c(timestamp_format="%Y %f")],
            [],
            ContainerFormat.MP4,
            InvalidArgument,
            f"{COMMON}[0].timestamp_format",
            "%f is not supported",
        ),
        (
            [c(comment="x")],
            [s(text_place=pb.ViewArea(left=0.5, top=0, right=0.4, bottom=1))],
            ContainerFormat.MP4,
            InvalidArgument,
            f"{SOURCE}[0].text_place.right",
            "greater than left",
        ),
        (
            [c(comment="x")],
            [s(text_place_color=pb.ColorInfo(alpha=float("nan")))],
            ContainerFormat.MP4,
            InvalidArgument,
            f"{SOURCE}[0].text_place_color.alpha",
            "outside 0..1",
        ),
        (
            [c(comment="x"), c(subtitle_cast=Sub(common_info_mode=Sub.SM_SOFT))],
            [],
            ContainerFormat.MPEG_TS,
            InvalidArgument,
            f"{COMMON}[1].subtitle_cast.common_info_mode",
            "MPEG_TS cannot carry",
        ),
        (
            [c(comment="x"), c(burn_subtitle=False)],
            [],
            ContainerFormat.AVI,
            InvalidArgument,
            f"{COMMON}[1].burn_subtitle",
            "AVI cannot carry",
        ),
        (
            [c(subtitle_cast=Sub(common_info_mode=Sub.SM_HARD, common_info_pattern="{Camera}"))],
            [],
            ContainerFormat.MP4,
            InvalidArgument,
            f"{COMMON}[0].subtitle_cast.common_info_pattern",
            "unknown wildcard {Camera}",
        ),
        (
            [c(subtitle_cast=Sub(common_info_mode=Sub.SM_HARD, stream_data_mode=Sub.SM_SOFT))],
            [],
            ContainerFormat.MP4,
            Unimplemented,
            f"{COMMON}[0].subtitle_cast.stream_data_mode",
            "stream data",
        ),
        (
            [c(comment="x"), c(font=pb.FontInfo(style=4))],
            [],
            ContainerFormat.MP4,
            InvalidArgument,
            f"{COMMON}[1].font.style",
            "bitmask",
        ),
        (
            [c(comment="x"), c(font=pb.FontInfo(size=-3))],
            [],
            ContainerFormat.MP4,
            InvalidArgument,
            f"{COMMON}[1].font.size",
            "must be in",
        ),
        (
            [c(comment="x"), c(comment="y")],
            [],
            ContainerFormat.MP4,
            InvalidArgument,
            f"{COMMON}[1].comment",
            f"already set at {COMMON}[0].comment",
        ),
        (
            [c(comment="x" * 1001)],
            [],
            ContainerFormat.MP4,
            InvalidArgument,
            f"{COMMON}[0].comment",
            "at most 1000",
        ),
    ],
)
def test_refusals_name_the_field(
    common: list[pb.CommonSetting],
    source: list[pb.SourceSetting],
    container: ContainerFormat,
    error: type[Exception],
    field: str,
    message: str,
) -> None:
    with pytest.raises(error) as info:
        overlay(common, source, container)
    assert getattr(info.value, "field", None) == field
    assert message in str(info.value)


def test_soft_subtitles_in_mkv_and_unknown_container_are_accepted() -> None:
    soft = [c(comment="x"), c(burn_subtitle=False)]
    assert overlay(soft, container=ContainerFormat.MKV) is not None
    assert overlay(soft, container=None) is not None


def test_overlay_json_round_trip() -> None:
    result = overlay(
        [c(comment="a\r\nb"), c(timestamp_format="%T"), c(font=pb.FontInfo(size=20, style=1))],
        [
            s(text_place=pb.ViewArea(left=0, top=0, right=0.5, bottom=0.5)),
            s(text_place_color=pb.ColorInfo()),
            s(horizon_text_align=pb.SourceSetting.H_LEFT),
        ],
    )
    assert result is not None and result.comment == "a\nb"
    assert TextOverlay.from_json(result.to_json()) == result
    assert TextOverlay.from_json(TextOverlay().to_json()) == TextOverlay()
