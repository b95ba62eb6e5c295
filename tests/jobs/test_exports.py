"""The export kinds: plans stored without URLs, resolved by the worker; what processing says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.api.harness import make_settings
from vexport.api.contract.options import export_request
from vexport.config import SourceConfig
from vexport.jobs.exports import ExportRunner, reported_processing
from vexport.jobs.planning import plan_of
from vexport.media.formats import ContainerFormat, ExportFailed, ExportKind
from vexport.media.plan import ExportPlan, ProducedFile, SourcePlan
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.sources.catalog import Catalog
from vexport.storage import default_reader

SECRET_URL = "rtsp://admin:hunter2@camera.example/stream1"
CATALOG = Catalog(
    [
        SourceConfig(
            origin="cam",
            live=SECRET_URL,
            archives=[
                {"storage": "main", "url": "https://u:pw@nvr.example/main.m3u8"},
                {"storage": "backup", "url": "https://u:pw@nvr.example/backup.m3u8"},
            ],
        )
    ]
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_stored_plan_names_origins_and_storages_never_urls(tmp_path: Path) -> None:
    options = pb.Options()
    options.live.sources.add(origin="cam")
    options.stream.format = pb.StreamType.MP4
    live = plan_of(export_request(options, CATALOG, ["agent"]), make_settings(tmp_path))
    archive = pb.Options()
    archive.archive.sources.add(origin="cam", storages=["backup"])
    archive.archive.start_timestamp = "20260101T120000"
    archive.snapshot.format = pb.SnapshotType.JPEG
    snapshot = plan_of(export_request(archive, CATALOG, ["agent"]), make_settings(tmp_path))
    for plan in (live, snapshot):
        stored = str(plan.to_json())
        assert "hunter2" not in stored and "pw@" not in stored and "://" not in stored
    assert snapshot.sources[0].storage == "backup"
    runner = ExportRunner(CATALOG, reader=default_reader(), ffmpeg=None)
    assert runner.resolved(live).sources[0].live_url == SECRET_URL
    assert (
        runner.resolved(snapshot).sources[0].archive_url == "https://u:pw@nvr.example/backup.m3u8"
    )


def test_an_origin_gone_from_the_catalog_fails_the_export_with_the_reason() -> None:
    plan = ExportPlan(
        kind=ExportKind.ARCHIVE_CLIP,
        sources=(SourcePlan(origin="removed", name="removed", storage="main"),),
        container=ContainerFormat.MP4,
    )
    runner = ExportRunner(CATALOG, reader=default_reader(), ffmpeg=None)
    with pytest.raises(ExportFailed, match=r"unknown origin 'removed'.*configuration changed"):
        runner.resolved(plan)


def _produced(origin: str, processing: str) -> ProducedFile:
    return ProducedFile(Path(f"/w/{origin}.mp4"), origin, NOW, NOW, "video/mp4", processing)


def test_processing_is_what_the_files_report_else_the_plan_s_intent() -> None:
    plan = ExportPlan(
        kind=ExportKind.ARCHIVE_CLIP,
        sources=(SourcePlan(origin="a", name="a"), SourcePlan(origin="b", name="b")),
        container=ContainerFormat.MP4,
    )
    assert reported_processing(plan, [_produced("a", ""), _produced("b", "")]) != ""
    same = "smart cut: 3 of 250 frames re-encoded"
    assert reported_processing(plan, [_produced("a", same), _produced("b", same)]) == same
    mixed = reported_processing(plan, [_produced("a", same), _produced("b", "stream copy")])
    assert mixed == f"a: {same}; b: stream copy"
