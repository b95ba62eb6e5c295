"""Hypothesis strategies for what clients send: export ``Options`` and export-to-s3dir bodies.

The strategies lean towards the shapes the validators must tell apart:
mostly well-formed messages around real origins, with edge values (years 1
and 9999, offsets, NaN, huge integers, unknown enum numbers, long and odd
text) mixed into every field, so both the accepting and the refusing paths
are exercised.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

ARCHIVE_START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _compact(moment: datetime) -> str:
    return f"{moment.year:04d}" + moment.strftime("%m%dT%H%M%S.%f")


_EDGE_TIMES = [
    "00010101T000000",
    "09991231T235959",
    "18991231T235959",
    "19000101T000000",
    "99991229T235959",
    "99991231T235959",
    "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:00:00+05:00",
    "2026-01-01T12:00:01Z",
    "2026-01-01T12:00:01",
    "20261301T000000",
    "20260101T250000",
    "",
    "yesterday",
    "x" * 5000,
]

timestamps = st.one_of(
    st.sampled_from(_EDGE_TIMES),
    st.integers(-20, 40).map(lambda s: _compact(ARCHIVE_START + timedelta(seconds=s / 2))),
    st.datetimes(timezones=st.just(UTC)).map(_compact),
    st.text(max_size=30),
)
floats = st.one_of(
    st.floats(0, 1),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, -1.0, 2.0]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
)
texts = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["{Timestamp}", "{Nope}", "%Y %Q", "../etc/passwd", "a\x00b", "é" * 300]),
)
enums = st.one_of(st.integers(-2, 8), st.sampled_from([1000, 1001, 1002, 2**31 - 1, -(2**31)]))
uint64 = st.one_of(st.integers(0, 1 << 20), st.sampled_from([2**63, 2**64 - 1, 16383, 16384]))


def _area(area: pb.ViewArea, values: list[float]) -> None:
    area.left, area.top, area.right, area.bottom = values


@st.composite
def common_settings(draw: st.DrawFn) -> pb.CommonSetting:
    setting = pb.CommonSetting()
    which = draw(
        st.sampled_from(
            [
                "comment",
                "timestamp_format",
                "text_place",
                "text_color",
                "timezone",
                "file_name",
                "font",
                "subtitle_cast",
                "apply_mask",
                "invert_mask",
                "burn_subtitle",
                "highlight_areas",
                "none",
            ]
        )
    )
    if which in ("comment", "timestamp_format", "file_name"):
        setattr(setting, which, draw(texts))
    elif which == "text_place":
        _area(setting.text_place, draw(st.lists(floats, min_size=4, max_size=4)))
    elif which == "text_color":
        c = draw(st.lists(floats, min_size=4, max_size=4))
        setting.text_color.red, setting.text_color.green, setting.text_color.blue = c[:3]
        setting.text_color.alpha = c[3]
    elif which == "timezone":
        setting.timezone = draw(st.integers(-(2**31), 2**31 - 1) | st.integers(-900, 900))
    elif which == "font":
        setting.font.size = draw(floats | st.floats(0, 300))
        setting.font.style = draw(st.integers(-1, 8))
        setting.font.face = draw(texts)
    elif which == "subtitle_cast":
        setting.subtitle_cast.details.extend(draw(st.lists(enums, max_size=4)))
        setting.subtitle_cast.common_info_mode = draw(enums)
        setting.subtitle_cast.common_info_pattern = draw(texts)
    elif which in ("apply_mask", "invert_mask", "burn_subtitle", "highlight_areas"):
        setattr(setting, which, draw(st.booleans()))
    return setting


@st.composite
def source_settings(draw: st.DrawFn) -> pb.SourceSetting:
    setting = pb.SourceSetting()
    which = draw(
        st.sampled_from(
            [
                "crop_area",
                "mask_space",
                "text_place",
                "text_color",
                "text_place_color",
                "vertical_text_align",
                "horizon_text_align",
                "mask_detector",
                "none",
            ]
        )
    )
    if which in ("crop_area", "text_place"):
        _area(getattr(setting, which), draw(st.lists(floats, min_size=4, max_size=4)))
    elif which == "mask_space":
        for points in draw(st.lists(st.lists(st.tuples(floats, floats), max_size=5), max_size=3)):
            polygon = setting.mask_space.space.add()
            for x, y in points:
                polygon.points.add(x=x, y=y)
    elif which in ("text_color", "text_place_color"):
        colour = getattr(setting, which)
        colour.red, colour.green, colour.blue, colour.alpha = draw(
            st.lists(floats, min_size=4, max_size=4)
        )
    elif which in ("vertical_text_align", "horizon_text_align"):
        setattr(setting, which, draw(enums))
    elif which == "mask_detector":
        setting.mask_detector = draw(texts)
    return setting


@st.composite
def stream_settings(draw: st.DrawFn) -> pb.StreamSetting:
    setting = pb.StreamSetting()
    which = draw(
        st.sampled_from(
            [
                "video_quality",
                "video_codec",
                "audio_quality",
                "audio_codec",
                "frame_frequency",
                "time_lapse",
                "password",
                "reject_audio",
            ]
        )
    )
    if which == "time_lapse":
        setting.time_lapse.fps = draw(floats | st.floats(0, 100))
        setting.time_lapse.speed = draw(floats | st.floats(0, 2000))
    elif which == "password":
        setting.password = draw(texts)
    elif which == "reject_audio":
        setting.reject_audio = draw(st.booleans())
    else:
        setattr(setting, which, draw(enums))
    return setting


@st.composite
def snapshot_settings(draw: st.DrawFn) -> pb.SnapshotSetting:
    setting = pb.SnapshotSetting()
    which = draw(
        st.sampled_from(
            [
                "pdf_layout",
                "snapshot_place",
                "comment_place",
                "timestamp_place",
                "pdf_font",
                "pdf_text_color",
                "face_info",
            ]
        )
    )
    if which == "pdf_layout":
        setting.pdf_layout = draw(enums)
    elif which in ("snapshot_place", "comment_place", "timestamp_place"):
        _area(getattr(setting, which), draw(st.lists(floats, min_size=4, max_size=4)))
    elif which == "pdf_font":
        setting.pdf_font.size = draw(floats | st.floats(0, 300))
        setting.pdf_font.style = draw(st.integers(-1, 4))
    elif which == "pdf_text_color":
        setting.pdf_text_color.red = draw(floats)
    else:
        setting.face_info.SetInParent()
    return setting


@st.composite
def options(draw: st.DrawFn, origins: list[str], live_origins: list[str]) -> pb.Options:
    """An ``Options`` message around the given origins (and some that do not exist)."""
    message = pb.Options()
    mode = draw(st.sampled_from(["archive", "archive", "live", "none"]))
    output = draw(st.sampled_from(["stream", "stream", "snapshot", "none"]))
    names = st.one_of(
        st.sampled_from(origins + live_origins), st.sampled_from(["", "hosts/none/x"]), texts
    )
    if mode == "archive":
        archive = message.archive
        for origin in draw(st.lists(names, max_size=3)):
            source = archive.sources.add(origin=origin)
            source.storages.extend(draw(st.lists(texts, max_size=1)))
            for setting in draw(st.lists(source_settings(), max_size=2)):
                source.settings.append(setting)
        archive.start_timestamp = draw(timestamps)
        archive.end_timestamp = draw(timestamps)
        if draw(st.integers(0, 20)) == 0:
            archive.discrete = True
    elif mode == "live":
        live = message.live
        for origin in draw(st.lists(names, max_size=2)):
            source = live.sources.add(origin=origin)
            for setting in draw(st.lists(source_settings(), max_size=2)):
                source.settings.append(setting)
        if draw(st.booleans()):
            live.duration.seconds = draw(st.integers(-10, 10) | st.integers(-(2**40), 2**40))
            live.duration.nanos = draw(st.integers(-999_999_999, 999_999_999))
    if output == "stream":
        message.stream.format = draw(enums)
        for setting in draw(st.lists(stream_settings(), max_size=3)):
            message.stream.settings.append(setting)
    elif output == "snapshot":
        message.snapshot.format = draw(enums)
        for setting in draw(st.lists(snapshot_settings(), max_size=3)):
            message.snapshot.settings.append(setting)
    for setting in draw(st.lists(common_settings(), max_size=3)):
        message.settings.append(setting)
    message.max_file_size = draw(st.sampled_from([0, 0, 0]) | uint64)
    rare = draw(st.integers(0, 30))
    if rare == 1:
        message.cloud_export = True
    elif rare == 2:
        message.store_result_by_export_agent = True
    elif rare == 3:
        message.external_directory = draw(texts)
    elif rare == 4:
        message.export_agent_access_point = draw(texts)
    return message


# -- export-to-s3dir ----------------------------------------------------------

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


@st.composite
def s3dir_bodies(draw: st.DrawFn, caller: str, bucket: str) -> bytes:
    """Bytes of an export-to-s3dir body: mostly a JSON object with the contract's fields."""
    storage = {
        "storage_purpose": draw(st.sampled_from(["ts", "mp4", "flv"]) | json_leaves),
        "storage_type": draw(st.sampled_from(["S3", "s3", "NFS"]) | json_leaves),
        "storage_enable": draw(st.sampled_from([True, "true", "0"]) | json_leaves),
        "storage_name": draw(st.sampled_from([bucket, "Bad_Bucket", ""]) | json_leaves),
        "storage_location": draw(st.sampled_from(["us-east-1"]) | json_leaves),
        "storage_root_folder": draw(st.sampled_from(["root", "../x", "/abs"]) | json_leaves),
    }
    info = draw(
        st.one_of(
            st.just(_b64([storage])),
            st.just(_b64(storage)),
            st.builds(_b64, json_values),
            st.sampled_from(["%%%", "", base64.b64encode(b"[" * 50_000).decode()]),
        )
    )
    start = round(ARCHIVE_START.timestamp() * 1000)
    numbers = st.one_of(
        st.integers(-(10**3), 10**5),
        st.integers(start - 10_000, start + 10_000),
        st.sampled_from([253_402_300_799_000, 10**30, 0, -1, True, False, "1", 1.5, 2.0, None]),
    )
    fields: dict[str, Any] = {
        "SessionId": draw(st.sampled_from([caller, caller, "", "intruder"]) | json_leaves),
        "LivePath": draw(
            st.sampled_from(
                ["cam/index.m3u8", "cam/manifest.mpd", "x.flv", "../up.m3u8", "a%2F..%2Fb.m3u8"]
            )
            | json_leaves
        ),
        "StartPos": draw(numbers),
        "Duration": draw(numbers),
        "storage_info": info,
        "export_type": draw(st.sampled_from([0, 1, 2, 3, -1, "1", True]) | json_leaves),
        "ExportS3Bucket": draw(st.sampled_from(["dest-bucket", "", "UPPER"]) | json_leaves),
        "ExportS3Region": draw(st.sampled_from(["us-east-1", ""]) | json_leaves),
        "ExportS3Key": draw(st.sampled_from(["AK:SECRET", "nocolon", ":", ""]) | json_leaves),
        "FileName": draw(
            st.sampled_from(["out/clip.ts", "clip.mp4", "x.exe", "../x.ts", ""]) | json_leaves
        ),
    }
    chosen = {k: v for k, v in fields.items() if draw(st.integers(0, 12)) != 0}
    shape = draw(st.integers(0, 30))
    if shape == 0:
        return draw(st.binary(max_size=40))
    if shape == 1:
        return json.dumps(draw(json_values)).encode()
    if shape == 2:
        return b"[" * 100_000 + b"]" * 100_000
    return json.dumps(chosen).encode()
