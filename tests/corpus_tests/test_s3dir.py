"""``POST /export-to-s3dir`` over every corpus archive: the uploaded clip is frame-exact.

The broadcast path has its own request, its own archive reader (S3) and its own
answer (``LackLength``), so it gets the same exactness checks as the engine's
own clips: real HTTP, the corpus in a real S3 server (moto), frames read from
the pixels of the uploaded object.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import httpx
import pytest

from tests import corpus
from tests.api.harness import RunningServer, running_server
from tests.conftest import make_bucket
from tests.corpus_checks import archive_bytes, image_number
from tests.corpus_tests.conftest import CLIP_FROM, CLIP_TO, NAMES, GetArchive
from tests.framecode import read_frame_number
from tests.s3dir.harness import s3dir_settings
from tests.s3server import REGION
from vexport.s3.client import S3Credentials

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CALLER = "corpus-caller"


@pytest.fixture(scope="module")
def archive_bucket(s3_client: S3Client, archive: GetArchive) -> str:
    """Every corpus archive at ``root/<name>/`` of one bucket."""
    bucket = make_bucket(s3_client, "corpus")
    for name in NAMES:
        for relative, data in archive_bytes(archive(name)):
            s3_client.put_object(Bucket=bucket, Key=f"root/{name}/{relative}", Body=data)
    return bucket


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    s3_endpoint_url: str,
    s3_credentials: S3Credentials,
    archive_bucket: str,
) -> Iterator[RunningServer]:
    settings = s3dir_settings(
        tmp_path_factory.mktemp("data"), s3_endpoint_url, s3_credentials, CALLER, archive_bucket
    )
    with running_server(settings) as running:
        yield running


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _storage_info(bucket: str, purpose: str) -> str:
    entry = {
        "storage_purpose": purpose,
        "storage_type": "S3",
        "storage_enable": True,
        "storage_name": bucket,
        "storage_location": REGION,
        "storage_root_folder": "root",
    }
    return base64.b64encode(json.dumps([entry]).encode()).decode()


def _poll(server: RunningServer, body: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.post(f"{server.http_url}/export-to-s3dir", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        if data["ErrorCode"] != 1:
            return data
        assert time.monotonic() < deadline, data
        time.sleep(data["TimeWait"] / 1000)


def _fetch(s3: S3Client, bucket: str, object_path: str, directory: Path) -> Path:
    path = directory / object_path.rsplit("/", 1)[-1]
    path.write_bytes(s3.get_object(Bucket=bucket, Key=object_path[1:])["Body"].read())
    return path


# export_type 0 copies (smart cut into MPEG-TS); 1 re-encodes to H.264 in MP4.
CASES = [(name, 0) for name in NAMES] + [("h264-hls-ts", 1), ("hevc-dash-time", 1)]


@pytest.mark.parametrize(("name", "export_type"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_uploaded_clip_is_frame_exact(
    server: RunningServer,
    s3_client: S3Client,
    s3_credentials: S3Credentials,
    archive: GetArchive,
    archive_bucket: str,
    tmp_path: Path,
    name: str,
    export_type: int,
) -> None:
    source = archive(name)
    destination = make_bucket(s3_client, "dest")
    start, end = source.frame_wall(0) + CLIP_FROM, source.frame_wall(0) + CLIP_TO
    manifest = source.manifest.name
    body = {
        "SessionId": CALLER,
        "LivePath": f"{name}/{manifest}",
        "StartPos": _ms(start),
        "Duration": _ms(end) - _ms(start),
        "storage_info": _storage_info(archive_bucket, "mp4" if manifest.endswith(".mpd") else "ts"),
        "export_type": export_type,
        "ExportS3Bucket": destination,
        "ExportS3Region": REGION,
        "ExportS3Key": f"{s3_credentials.access_key}:{s3_credentials.secret_key}",
    }
    answer = _poll(server, body)

    assert answer["ErrorCode"] == 5, answer
    assert answer["LackLength"] == 0, answer
    clip = _fetch(s3_client, destination, answer["VideoPath"], tmp_path)
    with av.open(str(clip)) as container:
        numbers = [read_frame_number(f) for f in container.decode(video=0)]
    assert None not in numbers, f"{clip.name}: unreadable frames"
    shown = [n for n in numbers if n is not None]
    # No frame missing or repeated; first and last within one frame of the request. The
    # end is exclusive: the last frame shown is the one captured before StartPos+Duration.
    assert shown == list(range(shown[0], shown[0] + len(shown))), shown
    assert abs(shown[0] - source.frame_at(start)) <= 1, (shown[0], source.frame_at(start))
    last_wanted = corpus_last_frame(source, end)
    assert abs(shown[-1] - last_wanted) <= 1, (shown[-1], last_wanted)
    # The image is the clip's first frame.
    image = _fetch(s3_client, destination, answer["ImagePath"], tmp_path)
    assert image_number(image) == shown[0]


def corpus_last_frame(source: corpus.Archive, end: datetime) -> int:
    """The last frame captured before ``end`` (the asked range is half-open)."""
    at = source.frame_at(end)
    return at - 1 if source.frame_wall(at) == end else at
