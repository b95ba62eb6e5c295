"""Reading the export-to-s3dir request: which storage, which keys, which container."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from vexport.api.contract.s3dir import authenticate, body_of, parse_request
from vexport.config import ExportToS3DirConfig
from vexport.media.plan import ContainerFormat
from vexport.media.rendering import VideoCodec
from vexport.s3dir.errors import ErrorCode, S3DirError
from vexport.s3dir.request import S3DirRequest

CONFIG = ExportToS3DirConfig(session_ids=["caller"], archive_buckets=["arch", "arch2"])


def storages(*entries: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(list(entries)).encode()).decode()


def s3(purpose: str, bucket: str, **extra: Any) -> dict[str, Any]:
    return {"storage_purpose": purpose, "storage_type": "S3", "storage_name": bucket, **extra}


def parse(**fields: Any) -> S3DirRequest:
    body = {
        "SessionId": "caller",
        "LivePath": "ch1/manifest.mpd",
        "StartPos": 1_772_359_200_500,
        "Duration": 1500,
        "storage_info": storages(s3("mp4", "arch", storage_root_folder="/live/")),
        "ExportS3Bucket": "dest",
        "ExportS3Key": "AK:SECRET",
    }
    body.update(fields)
    return parse_request(body_of(body), CONFIG)


def test_the_manifest_type_picks_the_storage() -> None:
    info = storages(
        s3("mp4", "arch", storage_enable=False),
        {"storage_purpose": "mp4", "storage_type": "NFS", "storage_name": "x"},
        s3("ts", "arch2", storage_root_folder="hls", storage_location="eu-west-1"),
        s3("mp4", "arch", storage_enable="true", storage_root_folder="dash"),
    )
    dash = parse(storage_info=info)
    assert dash.archive_url == "s3://arch/dash/ch1/manifest.mpd"
    hls = parse(storage_info=info, LivePath="ch1/index.m3u8")
    assert hls.archive_url == "s3://arch2/hls/ch1/index.m3u8"
    assert hls.archive_region == "eu-west-1"


def test_times_codec_container_and_destination() -> None:
    request = parse(export_type=2, FileName="out/Goal.MKV", ExportS3Region=" eu-central-1 ")
    assert request.start == datetime(2026, 3, 1, 10, 0, 0, 500_000, tzinfo=UTC)
    assert request.end == datetime(2026, 3, 1, 10, 0, 2, tzinfo=UTC)
    assert request.codec is VideoCodec.H265
    assert request.container is ContainerFormat.MKV
    assert (request.destination_key, request.image_key) == ("out/Goal.MKV", "out/Goal.jpg")
    assert request.directory == "out/"
    assert request.destination_region == "eu-central-1"
    assert repr(request.credentials).count("SECRET") == 0


def test_file_name_defaults_to_a_ts_clip() -> None:
    assert parse().destination_key == "export_1772359200500_1500.ts"
    no_extension = parse(FileName="clips/goal")
    assert no_extension.destination_key == "clips/goal.ts"
    assert no_extension.container is ContainerFormat.MPEG_TS


@pytest.mark.parametrize("root", ["../other", "a/../../b", "a\\b", "a/%2e%2e/b"])
def test_a_root_folder_cannot_climb_out(root: str) -> None:
    with pytest.raises(S3DirError) as caught:
        parse(storage_info=storages(s3("mp4", "arch", storage_root_folder=root)))
    assert caught.value.code is ErrorCode.BAD_REQUEST
    assert caught.value.field == "storage_info.storage_root_folder"


def test_a_single_storage_object_is_accepted_as_a_list() -> None:
    info = base64.b64encode(json.dumps(s3("mp4", "arch")).encode()).decode()
    assert parse(storage_info=info).archive_bucket == "arch"


def test_session_ids_compare_exactly() -> None:
    authenticate(body_of({"SessionId": "caller"}), CONFIG)
    for wrong in ("caller ", "Caller", "calle", ""):
        with pytest.raises(S3DirError) as caught:
            authenticate(body_of({"SessionId": wrong}), CONFIG)
        assert caught.value.code is ErrorCode.UNAUTHORIZED


def test_a_key_pair_error_never_echoes_the_key() -> None:
    with pytest.raises(S3DirError) as caught:
        parse(ExportS3Key="ONLY-A-SECRET-VALUE")
    assert "ONLY-A-SECRET-VALUE" not in str(caught.value)
    assert caught.value.field == "ExportS3Key"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"Duration": True}, "Duration"),  # a boolean is not 1 ms
        ({"Duration": "1500"}, "Duration"),  # a string is not a number
        ({"export_type": "1"}, "export_type"),
        ({"export_type": False}, "export_type"),
        ({"StartPos": "1772359200500"}, "StartPos"),
        ({"StartPos": 1_772_359_200_500.5}, "StartPos"),
        ({"StartPos": None}, "StartPos"),
        ({"StartPos": 253_402_300_799_000}, "StartPos"),  # 9999-12-31T23:59:59
        ({"StartPos": 10**30}, "StartPos"),
        ({"StartPos": 253_402_127_999_000, "Duration": 1500}, "Duration"),  # ends past 9999-12-29
    ],
)
def test_numbers_are_strict_and_in_range(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(S3DirError) as caught:
        parse(**fields)
    assert caught.value.code is ErrorCode.BAD_REQUEST
    assert caught.value.field == field


def test_a_whole_float_is_the_same_number() -> None:
    assert parse(Duration=1500.0).duration_ms == 1500


def test_storage_info_nested_too_deeply_is_bad_storage_info() -> None:
    deep = base64.b64encode(("[" * 100_000 + "]" * 100_000).encode()).decode()
    with pytest.raises(S3DirError) as caught:
        parse(storage_info=deep)
    assert caught.value.code is ErrorCode.BAD_STORAGE_INFO
