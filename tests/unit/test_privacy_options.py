"""Privacy and PDF settings (protobuf) into plan data: rules, defaults, field paths."""

from __future__ import annotations

from typing import Any

import pytest

from vexport.api.contract.pdf import pdf_layout_from_settings
from vexport.api.contract.privacy import (
    COMMON_SETTINGS,
    SOURCE_SETTINGS,
    privacy_from_settings,
)
from vexport.errors import InvalidArgument, Unimplemented
from vexport.jobs.planning import with_configured_fill
from vexport.media.pdf import PdfLayout
from vexport.media.plan import SourcePlan
from vexport.media.privacy import Area, Privacy
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

COMMON = "session_options.settings"
SOURCE = "session_options.archive.sources[0].settings"
SNAPSHOT = "session_options.snapshot.settings"
SQUARE = [(0.1, 0.1), (0.4, 0.1), (0.4, 0.4), (0.1, 0.4)]


def privacy(
    common: list[pb.CommonSetting], source: list[pb.SourceSetting] | None = None
) -> Privacy | None:
    return privacy_from_settings(common, source or [], common_field=COMMON, source_field=SOURCE)


def mask(*polygons: list[tuple[float, float]]) -> pb.SourceSetting:
    setting = pb.SourceSetting()
    for polygon in polygons:
        setting.mask_space.space.add(points=[pb.Point(x=x, y=y) for x, y in polygon])
    return setting


def apply(**kwargs: Any) -> pb.CommonSetting:
    return pb.CommonSetting(**kwargs)


def refused(error: type[Exception], field: str, call: Any, *args: Any) -> str:
    with pytest.raises(error) as caught:
        call(*args)
    assert getattr(caught.value, "field", None) == field, str(caught.value)
    return str(caught.value)


def test_constants_name_real_oneof_fields() -> None:
    common = {f.name for f in pb.CommonSetting.DESCRIPTOR.oneofs_by_name["setting"].fields}
    source = {f.name for f in pb.SourceSetting.DESCRIPTOR.oneofs_by_name["setting"].fields}
    assert common >= COMMON_SETTINGS and source >= SOURCE_SETTINGS


def test_masks_need_apply_mask() -> None:
    assert privacy([], [mask(SQUARE)]) is None
    assert privacy([apply(apply_mask=False)], [mask(SQUARE)]) is None
    result = privacy([apply(apply_mask=True)], [mask(SQUARE)])
    assert result is not None and result.masks == (tuple(SQUARE),) and not result.invert


def test_polygons_of_several_settings_add_up_and_invert_applies() -> None:
    other = [(0.5, 0.5), (0.9, 0.5), (0.7, 0.9)]
    result = privacy(
        [apply(apply_mask=True), apply(invert_mask=True)], [mask(SQUARE), mask(other, SQUARE)]
    )
    assert result is not None and len(result.masks) == 3 and result.invert


def test_invert_without_polygons_changes_nothing() -> None:
    assert privacy([apply(apply_mask=True), apply(invert_mask=True)]) is None


def test_crop_alone() -> None:
    setting = pb.SourceSetting(crop_area=pb.ViewArea(left=0.125, top=0.25, right=0.5, bottom=0.75))
    result = privacy([], [setting])
    assert result == Privacy(crop=Area(0.125, 0.25, 0.5, 0.75))
    assert result is not None and result.changes_pixels


def test_privacy_survives_json() -> None:
    original = Privacy(
        masks=(tuple(SQUARE),), invert=True, fill="#102030", crop=Area(0, 0, 0.5, 0.5)
    )
    assert Privacy.from_json(original.to_json()) == original


@pytest.mark.parametrize(
    ("source", "field", "words"),
    [
        (mask([(0.1, 0.1), (0.2, 0.2)]), f"{SOURCE}[0].mask_space.space[0].points", "3 points"),
        (
            mask(SQUARE, [(0, 0), (1.5, 0), (1, 1)]),
            f"{SOURCE}[0].mask_space.space[1].points[1].x",
            "outside 0..1",
        ),
        (
            mask([(0, 0), (0.5, float("nan")), (1, 1)]),
            f"{SOURCE}[0].mask_space.space[0].points[1].y",
            "outside 0..1",
        ),
        (mask([(0, 0), (0.5, 0.5), (1, 1)]), f"{SOURCE}[0].mask_space.space[0]", "no area"),
        (
            pb.SourceSetting(crop_area=pb.ViewArea(left=0.5, top=0, right=0.5, bottom=1)),
            f"{SOURCE}[0].crop_area.right",
            "no size",
        ),
        (
            pb.SourceSetting(crop_area=pb.ViewArea(left=0, top=0, right=1.2, bottom=1)),
            f"{SOURCE}[0].crop_area.right",
            "outside 0..1",
        ),
    ],
)
def test_bad_source_settings(source: pb.SourceSetting, field: str, words: str) -> None:
    message = refused(InvalidArgument, field, privacy, [apply(apply_mask=True)], [source])
    assert words in message


def test_settings_given_twice() -> None:
    refused(
        InvalidArgument,
        f"{COMMON}[1].apply_mask",
        privacy,
        [apply(apply_mask=True), apply(apply_mask=False)],
    )
    crop = pb.SourceSetting(crop_area=pb.ViewArea(right=1, bottom=1))
    refused(InvalidArgument, f"{SOURCE}[1].crop_area", privacy, [], [crop, crop])


def test_too_many_polygons() -> None:
    refused(
        InvalidArgument,
        f"{SOURCE}[0].mask_space",
        privacy,
        [apply(apply_mask=True)],
        [mask(*[SQUARE] * 65)],
    )


def test_configured_fill_reaches_masked_sources_only() -> None:
    plain = SourcePlan(origin="a", name="a")
    private = SourcePlan(origin="b", name="b", privacy=Privacy(masks=(tuple(SQUARE),)))
    first, second = with_configured_fill([plain, private], "#FF0000", 0.1)
    assert first.privacy is None
    assert second.privacy is not None
    assert (second.privacy.fill, second.privacy.mosaic_cell) == ("#FF0000", 0.1)


def layout(*settings: pb.SnapshotSetting) -> PdfLayout:
    return pdf_layout_from_settings(list(settings), field=SNAPSHOT)


def test_pdf_layout_defaults_and_values() -> None:
    assert layout() == PdfLayout()
    result = layout(
        pb.SnapshotSetting(pdf_layout=pb.SnapshotSetting.PL_LANDSCAPE),
        pb.SnapshotSetting(snapshot_place=pb.ViewArea(left=0, top=0, right=1, bottom=0.5)),
        pb.SnapshotSetting(pdf_text_color=pb.ColorInfo(red=1, green=0.5, blue=0)),
        pb.SnapshotSetting(pdf_font=pb.FontInfo(face="Arial", size=20, style=3)),
    )
    assert result.landscape and result.snapshot_place == Area(0, 0, 1, 0.5)
    assert result.text_color == (1.0, 0.5, 0.0)
    assert (result.font_size, result.font_style) == (20.0, 3)
    assert PdfLayout.from_json(result.to_json()) == result


@pytest.mark.parametrize(
    ("setting", "error", "field"),
    [
        (pb.SnapshotSetting(), InvalidArgument, f"{SNAPSHOT}[0]"),
        (
            pb.SnapshotSetting(face_info=pb.FocusObject(item="x")),
            Unimplemented,
            f"{SNAPSHOT}[0].face_info",
        ),
        (
            pb.SnapshotSetting(snapshot=pb.ExternalFrame(timestamp="x")),
            Unimplemented,
            f"{SNAPSHOT}[0].snapshot",
        ),
        (
            pb.SnapshotSetting(timestamp_place=pb.ViewArea(left=0.2, right=0.1, bottom=1)),
            InvalidArgument,
            f"{SNAPSHOT}[0].timestamp_place.right",
        ),
        (
            pb.SnapshotSetting(pdf_text_color=pb.ColorInfo(green=2)),
            InvalidArgument,
            f"{SNAPSHOT}[0].pdf_text_color.green",
        ),
        (
            pb.SnapshotSetting(pdf_font=pb.FontInfo(size=500)),
            InvalidArgument,
            f"{SNAPSHOT}[0].pdf_font.size",
        ),
        (
            pb.SnapshotSetting(pdf_font=pb.FontInfo(style=8)),
            InvalidArgument,
            f"{SNAPSHOT}[0].pdf_font.style",
        ),
        (
            pb.SnapshotSetting(pdf_layout=7),  # type: ignore[arg-type]
            InvalidArgument,
            f"{SNAPSHOT}[0].pdf_layout",
        ),
    ],
)
def test_bad_snapshot_settings(
    setting: pb.SnapshotSetting, error: type[Exception], field: str
) -> None:
    refused(error, field, layout, setting)
