"""Upload throughput to a local S3 protocol server (moto), for the design note.

Uploads a ~50 MB file of random bytes with ``vexport.s3.upload.upload_file``
(multipart, 8 MiB parts, SHA-256 per part, verified afterwards), one part at
a time and four, and prints MB/s, best of three. moto keeps objects in memory
in the same process, so the number says what our upload path costs (hashing,
signing, HTTP), not what a real network allows.
Run: ``.venv/bin/python bench/s3_upload.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.s3server import REGION, moto_server, valid_credentials  # noqa: E402
from vexport.s3.client import S3Endpoint, make_client  # noqa: E402
from vexport.s3.upload import upload_file  # noqa: E402

SIZE = 50 * 1000 * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, moto_server() as url:
        path = Path(tmp) / "clip.mp4"
        path.write_bytes(os.urandom(SIZE))
        client = make_client(S3Endpoint(REGION, url, valid_credentials(url), "path"))
        client.create_bucket(Bucket="bench")
        for concurrency in (1, 4):
            times = []
            for run in range(3):
                started = time.perf_counter()
                upload_file(client, path, "bench", f"clip-{run}.mp4", content_type="video/mp4",
                            concurrency=concurrency)  # fmt: skip
                times.append(time.perf_counter() - started)
            best = min(times)
            runs = ", ".join(f"{t:.2f}" for t in times)
            print(
                f"{SIZE / 1e6:.0f} MB multipart upload to moto, {concurrency} part(s) at a time:"
                f" best {best:.2f} s = {SIZE / 1e6 / best:.0f} MB/s (runs: {runs})"
            )


if __name__ == "__main__":
    main()
