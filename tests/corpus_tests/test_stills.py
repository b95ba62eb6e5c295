"""Snapshots and PDFs of every corpus archive: the frame shown at the asked time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.corpus_checks import TIME_TOLERANCE, image_number, pdf_image_number
from tests.corpus_tests.conftest import NAMES, GetArchive, export
from vexport.media.pdf import PdfLayout
from vexport.media.plan import ContainerFormat, ExportKind

# Between frames, just after a frame starts, and on a keyframe's own instant.
OFFSETS = [3.31, 4.0]


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("name", NAMES)
def test_snapshot_is_the_frame_shown_then(
    archive: GetArchive, tmp_path: Path, name: str, offset: float
) -> None:
    source = archive(name)
    at = source.frame_wall(0) + timedelta(seconds=offset)
    container = ContainerFormat.PNG if offset == OFFSETS[0] else ContainerFormat.JPEG

    (file,) = export(source, tmp_path, ExportKind.ARCHIVE_SNAPSHOT, container, at)

    expected = source.frame_at(at)
    assert image_number(file.path) == expected
    assert abs(file.first_frame - source.frame_wall(expected)) <= TIME_TOLERANCE
    assert file.first_frame == file.last_frame


@pytest.mark.parametrize("name", NAMES)
def test_pdf_shows_the_frame_shown_then(archive: GetArchive, tmp_path: Path, name: str) -> None:
    source = archive(name)
    at = source.frame_wall(0) + timedelta(seconds=5.55)

    (file,) = export(
        source, tmp_path, ExportKind.ARCHIVE_SNAPSHOT, ContainerFormat.PDF, at, pdf=PdfLayout()
    )

    expected = source.frame_at(at)
    assert pdf_image_number(file.path) == expected
    assert abs(file.first_frame - source.frame_wall(expected)) <= TIME_TOLERANCE
