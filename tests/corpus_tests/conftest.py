"""The corpus, built once per test run and shared by the xdist workers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests import corpus
from tests.corpus_checks import corpus_root
from vexport.media.control import SimpleJobControl
from vexport.media.decision import decided
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, ProducedFile, SourcePlan
from vexport.media.runner import run_export

NAMES = list(corpus.SPECS)
ORIGIN = "corpus/camera"

# A clip that starts and ends between keyframes in every corpus archive.
CLIP_FROM = timedelta(seconds=3.3)
CLIP_TO = timedelta(seconds=6.7)

GetArchive = Callable[[str], corpus.Archive]


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> GetArchive:
    root = corpus_root(tmp_path_factory)
    built: dict[str, corpus.Archive] = {}

    def get(name: str) -> corpus.Archive:
        if name not in built:
            built[name] = corpus.build(name, root)
        return built[name]

    return get


def export(
    archive: corpus.Archive,
    output_dir: object,
    kind: ExportKind,
    container: ContainerFormat,
    start: datetime,
    end: datetime | None = None,
    **plan: object,
) -> list[ProducedFile]:
    """Run one export of ``archive`` through the engine, decided as a session would be."""
    source = SourcePlan(origin=ORIGIN, name="camera", archive_url=archive.url)
    for key in ("text", "privacy"):
        if key in plan:
            source = SourcePlan(**{**source.__dict__, key: plan.pop(key)})  # type: ignore[arg-type]
    made = ExportPlan(
        kind=kind,
        sources=(source,),
        container=container,
        start=start,
        end=end,
        **plan,  # type: ignore[arg-type]
    )
    return run_export(decided(made), SimpleJobControl(), workdir=Path(str(output_dir)))
