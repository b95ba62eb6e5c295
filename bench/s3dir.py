"""Benchmark: export-to-s3dir end to end against plain ffmpeg on the same archive.

vexport: POST /export-to-s3dir over HTTP, poll to ready, with a DASH archive
in a moto S3 server and the results uploaded back to it (reading, cutting,
first-frame JPEG, two uploads). ffmpeg: the same cut and the same JPEG from
the same archive on local disk, which is the floor: no S3, no HTTP.

Cases: a 20 s clip re-encoded to H.264 (``export_type`` 1, x264 veryfast,
CRF 23 on both sides) and a 40 s clip copied into MP4 (``export_type`` 0).
Run with ``make bench``; numbers compare within one run, never assertions.
"""

from __future__ import annotations

import base64
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.harness import make_settings, running_server  # noqa: E402
from tests.media_fixtures import make_dash_archive  # noqa: E402
from tests.s3.archives import upload_tree  # noqa: E402
from tests.s3server import REGION, moto_server, valid_credentials  # noqa: E402
from vexport.media.ffmpeg import ffmpeg_binary  # noqa: E402
from vexport.s3.client import S3Endpoint, make_client  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
ARCHIVE_SECONDS = 60.0
REPEATS = 3


def _median(action: Callable[[int], None]) -> float:
    times = []
    for attempt in range(REPEATS):
        began = time.perf_counter()
        action(attempt)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    ffmpeg = ffmpeg_binary()
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint_url:
        work = Path(tmp)
        print(f"generating a {ARCHIVE_SECONDS:.0f} s DASH archive (320x180, 25 fps)...")
        manifest = make_dash_archive(work / "archive", START, ARCHIVE_SECONDS)
        keys = valid_credentials(endpoint_url)
        client = make_client(S3Endpoint(REGION, endpoint_url, keys, addressing_style="path"))
        client.create_bucket(Bucket="archive")
        client.create_bucket(Bucket="clips")
        upload_tree(client, manifest.parent, "archive", "live/ch1")
        settings = make_settings(
            work / "data",
            s3={"region": REGION, "endpoint_url": endpoint_url, "access_key": keys.access_key,
                "secret_key": keys.secret_key, "addressing_style": "path"},
            export_to_s3dir={"session_ids": ["bench"], "archive_buckets": ["archive"],
                             "time_wait": "0.05s"},
        )  # fmt: skip
        storage = [{"storage_purpose": "mp4", "storage_type": "S3", "storage_enable": True,
                    "storage_name": "archive", "storage_location": REGION,
                    "storage_root_folder": "live"}]  # fmt: skip

        with running_server(settings) as server:

            def vexport(export_type: int, cut_from: float, seconds: float) -> Callable[[int], None]:
                def run(attempt: int) -> None:
                    body: dict[str, Any] = {
                        "SessionId": "bench",
                        "LivePath": f"ch1/{manifest.name}",
                        "StartPos": round((START.timestamp() + cut_from) * 1000),
                        "Duration": round(seconds * 1000),
                        "storage_info": base64.b64encode(json.dumps(storage).encode()).decode(),
                        "export_type": export_type,
                        "ExportS3Bucket": "clips",
                        "ExportS3Region": REGION,
                        "ExportS3Key": f"{keys.access_key}:{keys.secret_key}",
                        "FileName": f"bench/{export_type}-{attempt}.mp4",
                    }
                    while True:
                        answer = httpx.post(
                            f"{server.http_url}/export-to-s3dir", json=body, timeout=60
                        ).json()
                        if answer["ErrorCode"] == 5:
                            return
                        if answer["ErrorCode"] != 1:
                            raise RuntimeError(answer)
                        time.sleep(answer["TimeWait"] / 1000)

                return run

            def plain(video: list[str], cut_from: float, seconds: float) -> Callable[[int], None]:
                def run(attempt: int) -> None:
                    out = work / f"ffmpeg-{attempt}.mp4"
                    subprocess.run(
                        [ffmpeg, "-v", "error", "-y", "-ss", str(cut_from), "-i", str(manifest),
                         "-t", str(seconds), *video, str(out)],
                        check=True,
                    )  # fmt: skip
                    subprocess.run(
                        [ffmpeg, "-v", "error", "-y", "-i", str(out), "-frames:v", "1",
                         "-q:v", "3", str(out.with_suffix(".jpg"))],
                        check=True,
                    )  # fmt: skip

                return run

            x264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "copy"]
            rows = [
                ("s3dir 20 s clip, H.264 (export_type 1)", vexport(1, 10.5, 20.0),
                 plain(x264, 10.5, 20.0)),
                ("s3dir 40 s clip, copy to MP4 (export_type 0)", vexport(0, 10.5, 40.0),
                 plain(["-c", "copy"], 10.5, 40.0)),
            ]  # fmt: skip
            print(f"{'benchmark':46} {'vexport':>9} {'ffmpeg':>9} {'ratio':>7}")
            for name, ours, theirs in rows:
                ours_time = _median(ours)
                theirs_time = _median(theirs)
                ratio = ours_time / theirs_time
                print(f"{name:46} {ours_time:8.3f}s {theirs_time:8.3f}s {ratio:6.2f}x")


if __name__ == "__main__":
    main()
