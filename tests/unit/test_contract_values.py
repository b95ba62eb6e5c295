"""One validator per shared type: one mistake, one message, wherever it is made."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vexport.api.contract.options import export_request
from vexport.config import SourceConfig
from vexport.errors import InvalidArgument
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.sources.catalog import Catalog

CAMERA = "cam"
CATALOG = Catalog(
    [SourceConfig(origin=CAMERA, archives=[{"storage": "main", "url": "file:///a.m3u8"}])]
)
FLAT = pb.ViewArea(left=0.5, top=0.1, right=0.5, bottom=0.9)
RED = pb.ColorInfo(red=1.5, alpha=1)


def options(build: Callable[[pb.Options], Any] | None = None) -> pb.Options:
    """An archive clip with a comment, changed by ``build``."""
    message = pb.Options()
    message.archive.sources.add(origin=CAMERA)
    message.archive.start_timestamp = "20260101T120000"
    message.archive.end_timestamp = "20260101T120010"
    message.stream.format = pb.StreamType.MP4
    message.settings.add(comment="x")
    if build is not None:
        build(message)
    return message


def refusal(message: pb.Options) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        export_request(message, CATALOG, ["agent"])
    return info.value


def _text_place(message: pb.Options) -> None:
    message.settings.add(text_place=FLAT)


def _crop(message: pb.Options) -> None:
    message.archive.sources[0].settings.add(crop_area=FLAT)


def _snapshot_place(message: pb.Options) -> None:
    message.ClearField("stream")
    message.archive.ClearField("end_timestamp")
    message.snapshot.format = pb.SnapshotType.PDF
    message.snapshot.settings.add(snapshot_place=FLAT)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (_text_place, "session_options.settings[1].text_place.right"),
        (_crop, "session_options.archive.sources[0].settings[0].crop_area.right"),
        (_snapshot_place, "session_options.snapshot.settings[0].snapshot_place.right"),
    ],
)
def test_an_area_without_size_gets_one_message_everywhere(
    build: Callable[[pb.Options], None], field: str
) -> None:
    error = refusal(options(build))
    assert error.field == field
    assert str(error) == f"{field}: the area has no size: right 0.5 must be greater than left 0.5"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda m: m.settings.add(text_color=RED), "session_options.settings[1].text_color.red"),
        (
            lambda m: m.archive.sources[0].settings.add(text_place_color=RED),
            "session_options.archive.sources[0].settings[0].text_place_color.red",
        ),
    ],
)
def test_a_colour_out_of_range_gets_one_message_everywhere(
    build: Callable[[pb.Options], None], field: str
) -> None:
    error = refusal(options(build))
    assert (error.field, str(error)) == (field, f"{field}: 1.5 is outside 0..1")


def test_a_bad_time_names_its_field() -> None:
    message = options()
    message.archive.start_timestamp = "yesterday"
    error = refusal(message)
    assert error.field == "session_options.archive.start_timestamp"
