"""POST /export-to-s3dir over real HTTP, archives and results in a real S3 server (moto)."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import httpx
import numpy as np
import pytest

from tests.api.harness import RunningServer, running_server
from tests.conftest import make_bucket
from tests.media_fixtures import FPS, make_dash_archive, make_hls_archive
from tests.s3.archives import upload_tree
from tests.s3dir.harness import s3dir_settings
from tests.s3server import REGION, wrong_secret
from vexport.media.probe import probe, video_frame_times
from vexport.s3.client import S3Credentials

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

START = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
ARCHIVE_SECONDS = 6.0
CALLER = "caller-7f3a"
FRAME = 1 / FPS


def ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def archive_bucket(s3_client: S3Client, tmp_path_factory: pytest.TempPathFactory) -> str:
    """HLS/TS at ``root/hls/cam1``, DASH at ``root/dash/cam1``, a gapped HLS at ``root/gap``."""
    bucket = make_bucket(s3_client, "archive")
    hls = make_hls_archive(tmp_path_factory.mktemp("hls"), START, ARCHIVE_SECONDS)
    dash = make_dash_archive(tmp_path_factory.mktemp("dash"), START, ARCHIVE_SECONDS)
    gap = make_hls_archive(
        tmp_path_factory.mktemp("gap"), START, ARCHIVE_SECONDS, drop_segments={1}
    )
    upload_tree(s3_client, hls.parent, bucket, "root/hls/cam1")
    upload_tree(s3_client, dash.parent, bucket, "root/dash/cam1")
    upload_tree(s3_client, gap.parent, bucket, "root/gap")
    # Segment 1 (2 s .. 4 s) truncated to its first half: the playlist still lists it whole.
    segment = sorted(hls.parent.glob("*.ts"))[1]
    data = segment.read_bytes()
    truncated = tmp_path_factory.mktemp("truncated")
    shutil.copytree(hls.parent, truncated, dirs_exist_ok=True)
    (truncated / segment.name).write_bytes(data[: len(data) // 2 // 188 * 188])
    upload_tree(s3_client, truncated, bucket, "root/truncated")
    return bucket


@pytest.fixture(scope="module")
def names(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Manifest names as the fixtures write them."""
    hls = make_hls_archive(tmp_path_factory.mktemp("n1"), START, 2.0)
    dash = make_dash_archive(tmp_path_factory.mktemp("n2"), START, 2.0)
    return {"hls": hls.name, "dash": dash.name}


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


@pytest.fixture
def destination(s3_client: S3Client) -> str:
    return make_bucket(s3_client, "dest")


def storage_info(bucket: str, *, purpose: str = "ts") -> str:
    entries = [
        {
            "storage_purpose": purpose,
            "storage_type": "S3",
            "storage_enable": True,
            "storage_name": bucket,
            "storage_location": REGION,
            "storage_description": "archive",
            "storage_root_folder": "root",
        },
    ]
    return base64.b64encode(json.dumps(entries).encode()).decode()


@dataclass
class Caller:
    """A broadcast caller: builds requests against the test archives and polls them."""

    server: RunningServer
    s3: S3Client
    credentials: S3Credentials
    archive_bucket: str
    destination: str
    manifests: dict[str, str]

    def body(self, live_path: str, start: float, duration_ms: int, **fields: Any) -> dict[str, Any]:
        """``live_path`` may name ``{hls}``/``{dash}``; ``start`` is seconds into the archive."""
        live_path = live_path.format(**self.manifests)
        body = {
            "SessionId": CALLER,
            "LivePath": live_path,
            "StartPos": ms(START + timedelta(seconds=start)),
            "Duration": duration_ms,
            "storage_info": storage_info(
                self.archive_bucket, purpose="mp4" if live_path.endswith(".mpd") else "ts"
            ),
            "export_type": 0,
            "ExportS3Bucket": self.destination,
            "ExportS3Region": REGION,
            "ExportS3Key": f"{self.credentials.access_key}:{self.credentials.secret_key}",
        }
        body.update(fields)
        return body

    def post(self, body: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.server.http_url}/export-to-s3dir", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def poll(self, body: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.post(body)
            if answer["ErrorCode"] != 1:
                return answer
            assert answer["TimeWait"] > 0
            assert time.monotonic() < deadline, answer
            time.sleep(answer["TimeWait"] / 1000)

    def jobs_for(self, key: str) -> int:
        assert self.server.app is not None
        jobs = self.server.app.s3dir.jobs()
        return sum(str(j.request["destination"]).endswith(f"/{key}") for j in jobs)


@pytest.fixture
def caller(
    server: RunningServer,
    s3_client: S3Client,
    s3_credentials: S3Credentials,
    archive_bucket: str,
    destination: str,
    names: dict[str, str],
) -> Caller:
    return Caller(server, s3_client, s3_credentials, archive_bucket, destination, names)


def fetch(client: S3Client, bucket: str, object_path: str, directory: Path) -> Path:
    """The object an answer names: a path in ExportS3Bucket beginning with "/" (docs/api.md)."""
    assert object_path.startswith("/") and "://" not in object_path, object_path
    key = object_path[1:]
    path = directory / key.replace("/", "_")
    path.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    return path


def first_frame(path: Path) -> np.ndarray[Any, Any]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24").astype(np.int16)


def check_delivery(
    caller: Caller, answer: dict[str, Any], tmp_path: Path, *, seconds: float, codec: str
) -> Path:
    assert answer["ErrorCode"] == 5, answer
    clip = fetch(caller.s3, caller.destination, answer["VideoPath"], tmp_path)
    image = fetch(caller.s3, caller.destination, answer["ImagePath"], tmp_path)
    info = probe(clip)
    video = info.video
    assert video is not None and video.codec == codec
    frames = video_frame_times(clip)
    shown = frames[-1] - frames[0] + FRAME  # the last frame is shown for one frame time
    assert abs(shown - seconds) <= FRAME + 1e-3, (shown, seconds)
    # The image is the clip's first frame (JPEG-compressed).
    difference = np.abs(first_frame(clip) - first_frame(image)).mean()
    assert difference < 6, difference
    assert answer["VideoPath"].startswith(answer["S3Dir"])
    assert answer["Version"]
    return clip


def test_dash_archive_copied_to_a_ts_clip(caller: Caller, tmp_path: Path) -> None:
    body = caller.body("dash/cam1/{dash}", 1.0, 3000)
    first = caller.post(body)
    assert first["ErrorCode"] == 1 and first["TimeWait"] == 100
    answer = caller.poll(body)
    assert answer["LackLength"] == 0
    # 1 s is not on a keyframe: the frames up to the next one are re-encoded, the rest copied.
    assert answer["ErrorMessage"].startswith("ready; smart cut: "), answer["ErrorMessage"]
    clip = check_delivery(caller, answer, tmp_path, seconds=3.0, codec="h264")
    assert "mpegts" in probe(clip).format_name
    stem = f"/export_{body['StartPos']}_3000"
    assert (answer["VideoPath"], answer["ImagePath"]) == (f"{stem}.ts", f"{stem}.jpg")
    assert answer["S3Dir"] == "/"


@pytest.mark.parametrize(
    ("export_type", "file_name", "codec", "format_name"),
    [
        (0, "copy/goal.mp4", "h264", "mp4"),
        (1, "clips/cam1/goal.mp4", "h264", "mp4"),
        (2, "clips/goal.mkv", "hevc", "matroska"),
    ],
)
def test_hls_archive_by_export_type(
    caller: Caller, tmp_path: Path, export_type: int, file_name: str, codec: str, format_name: str
) -> None:
    body = caller.body("hls/cam1/{hls}", 0.5, 2000, export_type=export_type, FileName=file_name)
    answer = caller.poll(body)
    clip = check_delivery(caller, answer, tmp_path, seconds=2.0, codec=codec)
    assert format_name in probe(clip).format_name
    directory = file_name.rsplit("/", 1)[0]
    assert answer["S3Dir"] == f"/{directory}/"
    assert answer["VideoPath"] == f"/{file_name}"


@pytest.mark.parametrize(
    ("live_path", "start", "duration_ms", "lack_ms"),
    [
        ("gap/{hls}", 1.0, 4000, 2000),  # segment 1 (2 s .. 4 s) is missing
        ("hls/cam1/{hls}", 5.0, 3000, 2000),  # the archive ends at 6 s
        ("hls/cam1/{hls}", -1.0, 2000, 1000),  # and starts at 0 s
    ],
)
def test_lack_length_counts_what_the_archive_misses(
    caller: Caller, tmp_path: Path, live_path: str, start: float, duration_ms: int, lack_ms: int
) -> None:
    answer = caller.poll(caller.body(live_path, start, duration_ms))
    assert abs(answer["LackLength"] - lack_ms) <= 50, answer
    seconds = (duration_ms - answer["LackLength"]) / 1000
    check_delivery(caller, answer, tmp_path, seconds=seconds, codec="h264")


def test_a_truncated_segment_is_lacking_never_a_silent_hole(caller: Caller, tmp_path: Path) -> None:
    answer = caller.poll(caller.body("truncated/{hls}", 1.0, 4000))
    assert answer["ErrorCode"] == 5, answer
    # About the second half of segment 1 (3 s .. 4 s) is missing, within a frame or two.
    assert abs(answer["LackLength"] - 1000) <= 100, answer
    seconds = (4000 - answer["LackLength"]) / 1000
    check_delivery(caller, answer, tmp_path, seconds=seconds, codec="h264")


def test_the_same_request_runs_once_and_a_changed_one_again(caller: Caller) -> None:
    body = caller.body("hls/cam1/{hls}", 2.0, 1000, FileName="once.ts")
    answers = [caller.post(body) for _ in range(3)]
    assert [a["ErrorCode"] for a in answers].count(1) >= 1
    done = caller.poll(body)
    assert done["ErrorCode"] == 5
    assert caller.jobs_for("once.ts") == 1
    uploaded = caller.s3.head_object(Bucket=caller.destination, Key="once.ts")["LastModified"]
    assert caller.poll(body) == done  # answered from the job, nothing re-uploaded
    again = caller.s3.head_object(Bucket=caller.destination, Key="once.ts")["LastModified"]
    assert again == uploaded
    assert caller.poll(dict(body, Duration=1500))["ErrorCode"] == 5
    assert caller.jobs_for("once.ts") == 2


def _b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


BAD_INPUTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("no caller", {"SessionId": ""}, -2, "SessionId"),
    ("unknown caller", {"SessionId": "someone-else"}, -2, "SessionId"),
    ("storage_info not base64", {"storage_info": "%%%"}, -3, "base64"),
    ("storage_info not JSON", {"storage_info": base64.b64encode(b"{nope").decode()}, -3, "JSON"),
    ("unknown purpose", {"storage_info": _b64([{"storage_purpose": "flv"}])}, -3, "flv"),
    (
        "no S3 storage",
        {"storage_info": _b64([{"storage_purpose": "ts", "storage_type": "NFS"}])},
        -3,
        "no enabled S3 storage",
    ),
    ("bucket not allowed", {"storage_info": "BUCKET:other-bucket"}, -3, "not one this server"),
    ("escaping LivePath", {"LivePath": "../../secret/index.m3u8"}, -1, "LivePath"),
    ("absolute LivePath", {"LivePath": "/etc/index.m3u8"}, -1, "LivePath"),
    ("encoded escape", {"LivePath": "%2e%2e/x/index.m3u8"}, -1, "LivePath"),
    ("not a manifest", {"LivePath": "hls/cam1/segment.ts"}, -1, "LivePath"),
    ("zero duration", {"Duration": 0}, -1, "Duration"),
    ("too long", {"Duration": 10 * 3600 * 1000}, -1, "Duration"),
    ("no start", {"StartPos": 0}, -1, "StartPos"),
    ("start not a number", {"StartPos": "soon"}, -1, "StartPos"),
    ("export type", {"export_type": 3}, -1, "export_type"),
    ("file name escape", {"FileName": "../x.ts"}, -1, "FileName"),
    ("file name type", {"FileName": "clip.exe"}, -1, "FileName"),
    ("key without colon", {"ExportS3Key": "justonekey"}, -1, "ExportS3Key"),
    ("no destination", {"ExportS3Bucket": ""}, -1, "ExportS3Bucket"),
]


@pytest.mark.parametrize(
    ("case", "change", "code", "words"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_inputs_get_their_error_code(
    caller: Caller, case: str, change: dict[str, Any], code: int, words: str
) -> None:
    body = caller.body("hls/cam1/{hls}", 0.0, 1000)
    if change.get("storage_info", "").startswith("BUCKET:"):
        change = {"storage_info": storage_info(change["storage_info"].removeprefix("BUCKET:"))}
    body.update(change)
    answer = caller.post(body)
    assert answer["ErrorCode"] == code, answer
    assert words in answer["ErrorMessage"], answer
    assert caller.credentials.secret_key not in json.dumps(answer)


def test_a_body_that_is_not_json_gets_a_contract_answer(server: RunningServer) -> None:
    answer = httpx.post(
        f"{server.http_url}/export-to-s3dir", content=b"{oops", timeout=10,
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.json()["ErrorCode"] == -1


@pytest.mark.parametrize(
    ("live_path", "start", "words"),
    [
        ("hls/missing/index.m3u8", 0.0, "no archive at LivePath"),
        ("hls/cam1/{hls}", -3600.0, "no video between"),
    ],
)
def test_no_archive_is_reported(caller: Caller, live_path: str, start: float, words: str) -> None:
    answer = caller.poll(caller.body(live_path, start, 1000))
    assert answer["ErrorCode"] == -4, answer
    assert words in answer["ErrorMessage"]


def test_wrong_key_fails_clearly_and_leaves_nothing(
    caller: Caller, s3_endpoint_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = wrong_secret(s3_endpoint_url)
    body = caller.body(
        "hls/cam1/{hls}", 1.0, 2000, ExportS3Key=f"{wrong.access_key}:{wrong.secret_key}"
    )
    with caplog.at_level("DEBUG"):
        answer = caller.poll(body)
    assert answer["ErrorCode"] == -6, answer
    assert "secret" in answer["ErrorMessage"] or "signature" in answer["ErrorMessage"]
    assert caller.s3.list_objects_v2(Bucket=caller.destination).get("KeyCount", 0) == 0
    assert not caller.s3.list_multipart_uploads(Bucket=caller.destination).get("Uploads")
    assert wrong.secret_key not in json.dumps(answer)
    assert wrong.secret_key not in caplog.text
    data_dir = Path(caller.server.settings.server.data_dir)
    files = list(data_dir.glob("vexport.db*"))  # with the WAL
    assert files
    stored = b"".join(f.read_bytes() for f in files)
    assert wrong.secret_key.encode() not in stored
    assert CALLER.encode() not in stored
