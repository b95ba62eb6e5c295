"""HTTP downloads: exactly the bytes asked for, validators, and nothing outside the store."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format

from tests.api.conftest import ARCHIVE_START, CAMERA
from tests.api.harness import RunningServer
from tests.api.options import archive_clip


@pytest.fixture(scope="module")
def client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.http_url, timeout=30)


@pytest.fixture(scope="module")
def clip(client: httpx.Client) -> tuple[str, bytes]:
    """The URL of a finished clip and its bytes."""
    start = ARCHIVE_START + timedelta(seconds=2)
    options = archive_clip(CAMERA, start, start + timedelta(seconds=2))
    body = json_format.MessageToDict(options, preserving_proto_field_name=True)
    session_id = client.post("/api/v1/sessions", json=body).json()["session_id"]
    deadline = time.monotonic() + 60
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = client.get(f"/api/v1/sessions/{session_id}").json()["state"]
        if state["state"] == "S_COMPLETED":
            break
        time.sleep(0.1)
    assert state["result"]["succeeded"], state
    url = f"/api/v1/sessions/{session_id}/files/{state['result']['files'][0]['path']}"
    whole = client.get(url)
    assert whole.status_code == 200
    assert len(whole.content) > 1000
    return url, whole.content


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", slice(0, 100)),
        ("bytes=100-", slice(100, None)),
        ("bytes=-100", slice(-100, None)),
        ("bytes=10-10", slice(10, 11)),
        ("bytes=500-99999999", slice(500, None)),
    ],
)
def test_range_returns_exactly_the_bytes_asked(
    client: httpx.Client, clip: tuple[str, bytes], header: str, expected: slice
) -> None:
    url, data = clip
    answer = client.get(url, headers={"Range": header})
    assert answer.status_code == 206
    assert answer.content == data[expected]
    first = expected.start if expected.start >= 0 else len(data) + expected.start
    last = first + len(data[expected]) - 1
    assert answer.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert answer.headers["content-length"] == str(len(data[expected]))


def test_range_past_the_end_is_416(client: httpx.Client, clip: tuple[str, bytes]) -> None:
    url, data = clip
    answer = client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{len(data)}"
    # Every error is JSON, a 416 too (docs/api.md).
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == "OUT_OF_RANGE"
    assert answer.json()["error"]["field"] == "Range"


def test_reversed_range_is_refused(client: httpx.Client, clip: tuple[str, bytes]) -> None:
    url, _ = clip
    assert client.get(url, headers={"Range": "bytes=50-10"}).status_code == 400


def test_two_ranges_come_as_multipart(client: httpx.Client, clip: tuple[str, bytes]) -> None:
    url, data = clip
    answer = client.get(url, headers={"Range": "bytes=0-9,20-29"})
    assert answer.status_code == 206
    assert answer.headers["content-type"].startswith("multipart/byteranges")
    assert data[0:10] in answer.content and data[20:30] in answer.content


def test_etag_gives_304_and_if_range_guards_a_resume(
    client: httpx.Client, clip: tuple[str, bytes]
) -> None:
    url, data = clip
    etag = client.head(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    resumed = client.get(url, headers={"Range": "bytes=100-", "If-Range": etag})
    assert resumed.status_code == 206 and resumed.content == data[100:]
    changed = client.get(url, headers={"Range": "bytes=100-", "If-Range": '"stale"'})
    assert changed.status_code == 200 and changed.content == data


def test_head_has_the_headers_and_no_body(client: httpx.Client, clip: tuple[str, bytes]) -> None:
    url, data = clip
    answer = client.head(url)
    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["content-length"] == str(len(data))
    assert answer.headers["content-type"] == "video/mp4"


@pytest.mark.parametrize(
    "suffix",
    [
        "../../../../etc/passwd",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "..%252F..%252Fetc%252Fpasswd",
        "/etc/passwd",
        "%2e%2e/%2e%2e/sessions.db",
    ],
)
def test_paths_outside_the_session_are_never_served(
    server: RunningServer, client: httpx.Client, clip: tuple[str, bytes], suffix: str
) -> None:
    url, _ = clip
    base = url.rsplit("/", 1)[0]
    answer = client.get(f"{base}/{suffix}")
    assert answer.status_code in (400, 404), answer.text
    assert b"root:" not in answer.content
    data_dir = Path(server.settings.server.data_dir)
    for name in data_dir.rglob("*.db"):
        assert name.read_bytes()[:16] not in answer.content
