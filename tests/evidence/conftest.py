"""Signed exports of a B-frame corpus archive, made through the media engine and the signer."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import corpus
from tests.corpus_checks import corpus_root
from vexport.config import EvidenceConfig
from vexport.evidence.c2pa import SIDECAR_MIME, ContentCredentials
from vexport.evidence.manifest import SessionFacts
from vexport.evidence.signer import Signer, load_signer
from vexport.media.control import SimpleJobControl
from vexport.media.decision import decided
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, SourcePlan
from vexport.media.privacy import Privacy
from vexport.media.provenance import ReadLog
from vexport.media.runner import run_export
from vexport.results.base import describe
from vexport.storage import default_reader

ARCHIVE = "h264-hls-ts"  # x264 defaults: B-frames with a B-pyramid
CLIP_FROM = timedelta(seconds=3.3)
CLIP_TO = timedelta(seconds=6.7)

MakeExport = Callable[..., Path]


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> corpus.Archive:
    return corpus.build(ARCHIVE, corpus_root(tmp_path_factory))


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return load_signer(EvidenceConfig(), tmp_path_factory.mktemp("evidence-data"))


def signed_export(
    archive: corpus.Archive,
    signer: Signer,
    directory: Path,
    container: ContainerFormat,
    *,
    snapshot: bool = False,
    credentials: ContentCredentials | None = None,
    privacy: Privacy | None = None,
    clip: tuple[timedelta, timedelta] = (CLIP_FROM, CLIP_TO),
    **plan: object,
) -> Path:
    """One export of ``archive`` with its manifest and signature, in ``directory``."""
    source = SourcePlan(
        origin="corpus/camera", name="camera", archive_url=archive.url, privacy=privacy
    )
    made = decided(
        ExportPlan(
            kind=ExportKind.ARCHIVE_SNAPSHOT if snapshot else ExportKind.ARCHIVE_CLIP,
            sources=(source,),
            container=container,
            start=corpus.START + clip[0],
            end=None if snapshot else corpus.START + clip[1],
            **plan,  # type: ignore[arg-type]
        )
    )
    reads = ReadLog(default_reader())
    produced = run_export(made, SimpleJobControl(), workdir=directory, reader=reads)
    sidecars = []
    if credentials is not None:  # as the job engine does (jobs/exports.py)
        for file in produced:
            sidecar = credentials.embed(made, file)
            if sidecar is not None:
                sidecars.append(dataclasses.replace(file, path=sidecar, mime_type=SIDECAR_MIME))
    facts = SessionFacts(
        session_id="test-session",
        created_at=datetime(2026, 6, 1, 13, 0, tzinfo=UTC),
        plan=made,
        produced=produced,
        files=[describe(p) for p in [*produced, *sidecars]],
        reads=reads.reads(),
        instance="test-node",
    )
    signer.sign(facts, directory)
    return directory


@pytest.fixture(scope="session")
def exports(
    tmp_path_factory: pytest.TempPathFactory, archive: corpus.Archive, signer: Signer
) -> dict[str, Path]:
    """One signed export per kind of output file; copy before changing anything."""
    made: dict[str, Path] = {}
    kinds: dict[str, tuple[ContainerFormat, dict[str, object]]] = {
        "mp4": (ContainerFormat.MP4, {"max_file_size": 40_000}),
        "mkv": (ContainerFormat.MKV, {}),
        "ts": (ContainerFormat.MPEG_TS, {}),
        # Five segments: the middle ones pass through as bytes (media/ts_passthrough.py).
        "ts-passthrough": (
            ContainerFormat.MPEG_TS,
            {"clip": (timedelta(seconds=0.5), timedelta(seconds=9.5))},
        ),
        "avi": (ContainerFormat.AVI, {}),
        "mov": (ContainerFormat.MOV, {}),
        "jpeg": (ContainerFormat.JPEG, {"snapshot": True}),
        "png": (ContainerFormat.PNG, {"snapshot": True}),
        "pdf": (ContainerFormat.PDF, {"snapshot": True}),
    }
    for name, (container, options) in kinds.items():
        directory = tmp_path_factory.mktemp(f"export-{name}")
        made[name] = signed_export(archive, signer, directory, container, **options)
    return made


@pytest.fixture
def copy_of(tmp_path: Path, exports: dict[str, Path]) -> Callable[[str], Path]:
    def copy(kind: str) -> Path:
        target = tmp_path / kind
        shutil.copytree(exports[kind], target)
        return target

    return copy
