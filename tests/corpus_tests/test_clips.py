"""Archive clips of every corpus archive in every container: frame-exact, nothing lost."""

from __future__ import annotations

from datetime import timedelta
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


TS_ARCHIVES = [n for n in NAMES if n.endswith("-hls-ts")]


@pytest.mark.parametrize("name", TS_ARCHIVES)
def test_mpeg_ts_clip_passes_the_middle_segments_through(
    archive: GetArchive, tmp_path: Path, name: str
) -> None:
    source = archive(name)
    start = source.frame_wall(0) + timedelta(seconds=1.3)
    end = source.frame_wall(0) + timedelta(seconds=8.7)
    files = export(source, tmp_path, ExportKind.ARCHIVE_CLIP, ContainerFormat.MPEG_TS, start, end)

    check_clip(source, files, start, end, codec=source.encoding.codec)
    check_sync(source, files[0])
    output = files[0].path.read_bytes()
    segments = sorted(source.manifest.parent.glob("seg*.ts"))
    passed = [s for s in segments if _without_counters(s.read_bytes()) in _without_counters(output)]
    if name.startswith(("h264-unaligned", "h264-open-gop")):
        return  # segments that do not start on a clean keyframe are muxed, not passed
    assert len(passed) >= 2, [s.name for s in passed]  # the middle, byte for byte


def _without_counters(data: bytes) -> bytes:
    """TS packets with their continuity counters zeroed (a passthrough renumbers them)."""
    buffer = bytearray(data)
    for offset in range(3, len(buffer), 188):
        buffer[offset] &= 0xF0
    return bytes(buffer)
