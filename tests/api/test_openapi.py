"""/openapi.json documents the API: real request and response bodies validate against it,
and /docs and /redoc render it in a real headless Chromium with the internet blocked."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.api.conftest import ARCHIVE_START, CAMERA, LIVE
from tests.api.harness import RunningServer
from tests.api.options import archive_clip, archive_snapshot, live_clip
from tests.api.test_http_sessions import options_json, wait_done
from tests.browser import chromium
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts"


@pytest.fixture(scope="module")
def client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.http_url, timeout=60)


@pytest.fixture(scope="module")
def document(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema`` whose ``#/components/...`` references resolve in the document."""
    root = {"components": document["components"], **schema}
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root)


def request_schema(document: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    body = document["paths"][path][method]["requestBody"]
    return body["content"]["application/json"]["schema"]


def response_schema(
    document: dict[str, Any], path: str, method: str, status: int
) -> dict[str, Any]:
    answer = document["paths"][path][method]["responses"][str(status)]
    return answer["content"]["application/json"]["schema"]


def check(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    errors = [error.message for error in validator(document, schema).iter_errors(instance)]
    assert not errors, errors[:3]


def rich_clip() -> pb.Options:
    """A clip asking for most of what the contract has: text, masks, crop, codec, quality."""
    start = ARCHIVE_START + timedelta(seconds=1)
    options = archive_clip(CAMERA, start, start + timedelta(seconds=1), fmt=pb.StreamType.MKV)
    options.max_file_size = 50_000_000
    options.stream.settings.add(video_codec=pb.StreamSetting.VC_H264)
    options.stream.settings.add(video_quality=pb.C_SMALL_SIZE)
    options.settings.add(timestamp_format="%Y-%m-%d %H:%M:%S")
    options.settings.add(comment="case 42")
    options.settings.add(apply_mask=True)
    source = options.archive.sources[0]
    polygon = source.settings.add().mask_space.space.add()
    for x, y in ((0.1, 0.1), (0.4, 0.1), (0.4, 0.4)):
        polygon.points.add(x=x, y=y)
    source.settings.add().crop_area.CopyFrom(pb.ViewArea(left=0, top=0, right=0.5, bottom=0.5))
    source.settings.add(text_color=pb.ColorInfo(red=1, green=1, blue=0, alpha=1))
    return options


def pdf_snapshot() -> pb.Options:
    options = archive_snapshot(CAMERA, ARCHIVE_START + timedelta(seconds=2), pb.SnapshotType.PDF)
    options.snapshot.settings.add(pdf_layout=pb.SnapshotSetting.PL_LANDSCAPE)
    return options


def test_real_session_bodies_and_answers_validate(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    path = "/api/v1/sessions"
    body_schema = request_schema(document, path)
    assert body_schema == {"$ref": "#/components/schemas/Options"}
    started = response_schema(document, path, "post", 201)
    info = response_schema(document, "/api/v1/sessions/{session_id}", "get", 200)
    for options in (rich_clip(), pdf_snapshot(), live_clip(LIVE, 1.0)):
        body = options_json(options)
        check(document, body_schema, body)
        answer = client.post(path, json=body)
        assert answer.status_code == 201, answer.text
        check(document, started, answer.json())
        session_id = answer.json()["session_id"]
        wait_done(client, session_id)
        got = client.get(f"{path}/{session_id}")
        check(document, info, got.json())
        assert got.json()["state"]["result"]["succeeded"], got.json()
    page = client.get(path, params={"page_size": 2})
    check(document, response_schema(document, path, "get", 200), page.json())
    stopped = client.post(f"{path}/{session_id}/stop")
    check(document, response_schema(document, "/api/v1/sessions/{session_id}/stop", "post", 200),
          stopped.json())  # fmt: skip


def test_bodies_the_server_refuses_do_not_validate(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    schema = validator(document, request_schema(document, "/api/v1/sessions"))
    refused = ({"no_such_field": 1}, {"archive": {"start_timestamp": 5}},
               {"stream": {"format": "WEBM"}}, {"live": {"duration": "five seconds"}})  # fmt: skip
    for body in refused:
        assert not schema.is_valid(body), body
        answer = client.post("/api/v1/sessions", json=body)
        assert answer.status_code == 400, (body, answer.text)
        check(document, response_schema(document, "/api/v1/sessions", "post", 400), answer.json())


def test_error_health_and_s3dir_answers_validate(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    missing = client.get("/api/v1/sessions/no-such-session")
    assert missing.status_code == 404
    check(document, response_schema(document, "/api/v1/sessions/{session_id}", "get", 404),
          missing.json())  # fmt: skip
    check(
        document, response_schema(document, "/healthz", "get", 200), client.get("/healthz").json()
    )
    check(document, response_schema(document, "/readyz", "get", 200), client.get("/readyz").json())
    storages = [{"storage_purpose": "ts", "storage_type": "S3", "storage_enable": True,
                 "storage_name": "archive", "storage_location": "us-east-1",
                 "storage_description": "", "storage_root_folder": "cams"}]  # fmt: skip
    body = {
        "SessionId": "caller-1", "LivePath": "cam1/index.m3u8", "StartPos": 1767268800000,
        "Duration": 2000, "export_type": 0, "ExportS3Bucket": "out", "ExportS3Region": "us-east-1",
        "ExportS3Key": "AKIAEXAMPLE:secret", "FileName": "clip.ts",
        "storage_info": base64.b64encode(json.dumps(storages).encode()).decode(),
    }  # fmt: skip
    check(document, request_schema(document, "/export-to-s3dir"), body)
    answer = client.post("/export-to-s3dir", json=body)
    assert answer.status_code == 200
    check(document, response_schema(document, "/export-to-s3dir", "post", 200), answer.json())


@pytest.mark.parametrize(
    ("page", "ready"), [("/docs", ".opblock"), ("/redoc", "[data-section-id]")]
)
def test_the_docs_render_offline(server: RunningServer, page: str, ready: str) -> None:
    local = urlsplit(server.http_url).hostname
    elsewhere: list[str] = []
    with chromium() as browser:
        tab = browser.new_page()

        def only_local(route: Any) -> None:
            if urlsplit(route.request.url).hostname in (local, "localhost"):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        tab.route("**/*", only_local)
        tab.goto(server.http_url + page)
        tab.wait_for_selector(ready, timeout=30_000)
        text = tab.inner_text("body")
        assert "/api/v1/sessions/{session_id}/stop" in text or "stop" in text.lower()
        if page == "/docs":
            operations = tab.locator(".opblock").count()
            assert operations >= 9, operations
            tab.locator(".opblock-summary-path", has_text="/api/v1/sessions").first.click()
            tab.wait_for_selector(".opblock-body", timeout=10_000)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(
            path=str(ARTEFACTS / f"openapi{page.replace('/', '-')}.png"), full_page=False
        )
    assert not elsewhere, elsewhere  # nothing asked of another host, and the page rendered
