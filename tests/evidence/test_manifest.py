"""The manifest names what was read without credentials, and is canonical JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from vexport.evidence.canonical import canonical_json
from vexport.evidence.manifest import SessionFacts, build_manifest
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, SourcePlan

SECRET_URL = "https://viewer:hunter2@nvr.example/cam1/index.m3u8?X-Amz-Signature=abc123"


def test_no_credentials_in_the_manifest() -> None:
    source = SourcePlan(
        origin="hosts/a/DeviceIpint.1/SourceEndpoint.video:0:0",
        name="cam1",
        archive_url=SECRET_URL,
        live_url="rtsp://admin:pw@camera/stream",
        storage="main",
    )
    plan = ExportPlan(
        kind=ExportKind.ARCHIVE_CLIP,
        sources=(source,),
        container=ContainerFormat.MP4,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
    )
    reads = {
        SECRET_URL: ("a" * 64, 100),
        "https://viewer:hunter2@nvr.example/cam1/seg1.ts": ("b" * 64, 2000),
        "https://viewer:hunter2@other.example/seg9.ts?token=zzz": ("c" * 64, 3000),
    }
    facts = SessionFacts(
        session_id="s", created_at=plan.start or datetime.now(UTC), plan=plan, produced=(),
        files=(), reads=reads,
    )  # fmt: skip
    data = build_manifest(facts)
    text = data.decode()
    for secret in ("hunter2", "viewer", "abc123", "zzz", "admin", "pw@", "rtsp://"):
        assert secret not in text
    manifest = json.loads(data)
    archive = manifest["sources"][0]["archive"]
    assert archive["manifest"] == {
        "name": "https://nvr.example/cam1/index.m3u8", "sha256": "a" * 64, "size": 100,
    }  # fmt: skip
    assert archive["segments"][0] == {"name": "seg1.ts", "sha256": "b" * 64, "size": 2000}
    assert canonical_json(manifest) == data
    assert manifest["requested_by"] is None
