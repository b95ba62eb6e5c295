"""The REST mirror over real HTTP against a running server, next to gRPC."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from google.protobuf import json_format

from tests.api.conftest import ARCHIVE_START, CAMERA, LIVE
from tests.api.harness import RunningServer, download
from tests.api.options import archive_clip, live_clip


def options_json(options: Any) -> dict[str, Any]:
    return json_format.MessageToDict(options, preserving_proto_field_name=True)


def wait_done(client: httpx.Client, session_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/api/v1/sessions/{session_id}")
        assert answer.status_code == 200, answer.text
        state = answer.json()["state"]
        if state["state"] in ("S_COMPLETED", "S_REMOVED"):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.1)


@pytest.fixture(scope="module")
def client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.http_url, timeout=30)


@pytest.fixture(scope="module")
def finished_clip(client: httpx.Client) -> tuple[str, dict[str, Any]]:
    start = ARCHIVE_START + timedelta(seconds=1)
    body = options_json(archive_clip(CAMERA, start, start + timedelta(seconds=3)))
    answer = client.post("/api/v1/sessions", json=body)
    assert answer.status_code == 201, answer.text
    session_id = answer.json()["session_id"]
    assert answer.headers["location"] == f"/api/v1/sessions/{session_id}"
    state = wait_done(client, session_id)
    assert state["result"]["succeeded"], state
    return session_id, state["result"]["files"][0]


def test_clip_downloads_the_same_bytes_as_grpc(
    server: RunningServer, client: httpx.Client, finished_clip: tuple[str, dict[str, Any]]
) -> None:
    session_id, file = finished_clip
    answer = client.get(f"/api/v1/sessions/{session_id}/files/{file['path']}")
    assert answer.status_code == 200
    over_grpc, _ = download(server.stub(), session_id, file["path"])
    assert hashlib.sha256(answer.content).hexdigest() == hashlib.sha256(over_grpc).hexdigest()
    assert answer.content and len(answer.content) == int(file["size"])
    assert answer.headers["content-type"] == "video/mp4"
    assert answer.headers["content-length"] == str(len(over_grpc))
    assert answer.headers["etag"] == f'"{file["sha256"]}"'
    assert answer.headers["accept-ranges"] == "bytes"
    assert answer.headers["content-disposition"] == f'attachment; filename="{file["path"]}"'


def test_get_and_list_show_the_session(
    client: httpx.Client, finished_clip: tuple[str, dict[str, Any]]
) -> None:
    session_id, _ = finished_clip
    info = client.get(f"/api/v1/sessions/{session_id}").json()
    assert info["session"]["id"] == session_id
    assert info["session"]["options"]["archive"]["sources"][0]["origin"] == CAMERA
    assert info["state"]["progress"] == 1.0
    seen: list[str] = []
    token = ""
    while True:
        page = client.get("/api/v1/sessions", params={"page_size": 1, "page_token": token})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["sessions"]) <= 1
        seen += [s["session"]["id"] for s in body["sessions"]]
        token = body["next_page_token"]
        if not token:
            break
    assert session_id in seen


def test_stop_then_delete_a_live_session(client: httpx.Client) -> None:
    answer = client.post("/api/v1/sessions", json=options_json(live_clip(LIVE, None)))
    assert answer.status_code == 201, answer.text
    session_id = answer.json()["session_id"]
    time.sleep(1.5)
    stopped = client.post(f"/api/v1/sessions/{session_id}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "S_COMPLETED"
    assert client.delete(f"/api/v1/sessions/{session_id}").status_code == 204
    after = client.get(f"/api/v1/sessions/{session_id}").json()
    assert after["state"]["state"] == "S_REMOVED"


def test_unknown_session_is_404_with_json_error(client: httpx.Client) -> None:
    answer = client.get("/api/v1/sessions/no-such-session")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"
    assert "no-such-session" in answer.json()["error"]["message"]


def test_invalid_options_name_the_field(client: httpx.Client) -> None:
    answer = client.post("/api/v1/sessions", json={"archive": {"sources": [{"origin": CAMERA}]}})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["field"] and error["field"].startswith("session_options")


def test_unknown_option_field_is_refused(client: httpx.Client) -> None:
    answer = client.post("/api/v1/sessions", json={"no_such_field": 1})
    assert answer.status_code == 400
    assert "no_such_field" in answer.json()["error"]["message"]


def test_body_that_is_not_an_object_is_400(client: httpx.Client) -> None:
    answer = client.post(
        "/api/v1/sessions", content=b"[1, 2", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "INVALID_ARGUMENT"


def test_oversized_body_is_413(client: httpx.Client) -> None:
    answer = client.post(
        "/api/v1/sessions",
        content=b"{" + b" " * (17 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert "16 MiB" in answer.json()["error"]["message"]


def test_download_of_an_unfinished_session_is_409(client: httpx.Client) -> None:
    answer = client.post("/api/v1/sessions", json=options_json(live_clip(LIVE, None)))
    session_id = answer.json()["session_id"]
    try:
        got = client.get(f"/api/v1/sessions/{session_id}/files/clip.mp4")
        assert got.status_code == 409
        assert got.json()["error"]["code"] == "FAILED_PRECONDITION"
    finally:
        client.post(f"/api/v1/sessions/{session_id}/stop")


def test_openapi_document_lists_the_routes(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert {
        "/api/v1/sessions",
        "/api/v1/sessions/{session_id}",
        "/api/v1/sessions/{session_id}/stop",
        "/api/v1/sessions/{session_id}/files/{file_path}",
    } <= set(document["paths"])
    assert client.get("/docs").status_code == 200
