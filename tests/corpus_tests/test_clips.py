"""Archive clips of every corpus archive in every container: frame-exact, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus_checks import check_clip, check_container, check_sync
from tests.corpus_tests.conftest import CLIP_FROM, CLIP_TO, NAMES, GetArchive, export
from vexport.media.plan import ContainerFormat, ExportKind

CONTAINERS = [
    ContainerFormat.MP4,
    ContainerFormat.MOV,
    ContainerFormat.MKV,
    ContainerFormat.MPEG_TS,
    ContainerFormat.AVI,
]


@pytest.mark.parametrize("container", CONTAINERS, ids=lambda c: c.value)
@pytest.mark.parametrize("name", NAMES)
def test_clip_is_frame_exact(
    archive: GetArchive, tmp_path: Path, name: str, container: ContainerFormat
) -> None:
    source = archive(name)
    start, end = source.frame_wall(0) + CLIP_FROM, source.frame_wall(0) + CLIP_TO
    files = export(source, tmp_path, ExportKind.ARCHIVE_CLIP, container, start, end)

    hevc_in_avi = source.encoding.codec == "hevc" and container is ContainerFormat.AVI
    codec = "h264" if hevc_in_avi else source.encoding.codec
    numbers = check_clip(source, files, start, end, codec=codec)
    assert len(files) == 1
    check_sync(source, files[0])
    (file,) = files
    check_container(file)
    if hevc_in_avi:
        assert file.processing.startswith("re-encoded: in h264"), file.processing
        return
    assert file.processing.startswith("smart cut: "), file.processing
    assert file.frames_copied + file.frames_reencoded == len(numbers)
    if name.startswith("h264-open-gop"):
        # Copying cannot resume at an open-GOP H.264 I-frame (only at an IDR frame).
        assert file.frames_copied == 0
    else:
        # Only the frames up to the first keyframe after the start, and the few at the end
        # the copy cannot stop after, are re-encoded.
        assert file.frames_copied > 0
        first_key = min(k for k in source.keyframes if k >= numbers[0])
        assert file.frames_reencoded <= first_key - numbers[0] + 4
