"""Split, masked, overlaid and transcoded clips of every corpus archive: still frame-exact."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from tests.corpus_checks import check_clip, check_sync
from tests.corpus_tests.conftest import CLIP_FROM, CLIP_TO, NAMES, GetArchive, export
from vexport.media.plan import ContainerFormat, ExportKind
from vexport.media.privacy import Privacy
from vexport.media.rendering import Quality, Rendering, VideoCodec, VideoEncoding
from vexport.media.text import TextOverlay

# The lower right quarter: the frame number is in the top half and stays readable.
QUARTER = ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0))
GREY = "#808080"


def keyframes(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(video=0) if p.size and p.is_keyframe)


@pytest.mark.parametrize("container", [ContainerFormat.MP4, ContainerFormat.MPEG_TS])
@pytest.mark.parametrize("name", NAMES)
def test_split_parts_are_frame_exact_and_each_plays_alone(
    archive: GetArchive, tmp_path: Path, name: str, container: ContainerFormat
) -> None:
    source = archive(name)
    start = source.frame_wall(0) + timedelta(seconds=1.3)
    end = source.frame_wall(0) + timedelta(seconds=8.7)
    # A limit no clip reaches: the whole is muxed as the parts are (an MPEG-TS clip without
    # one passes the archive's own, more compact, segments through).
    whole = export(
        source, tmp_path / "whole", ExportKind.ARCHIVE_CLIP, container, start, end,
        max_file_size=10**12,
    )  # fmt: skip
    limit = whole[0].path.stat().st_size // 3

    parts = export(
        source,
        tmp_path / "parts",
        ExportKind.ARCHIVE_CLIP,
        container,
        start,
        end,
        max_file_size=limit,
    )

    assert len(parts) >= 2
    for part in parts:  # only a part of a single group of pictures may be over the limit
        assert part.path.stat().st_size <= limit or keyframes(part.path) == 1, part.path.name
    check_clip(source, parts, start, end)  # each part decodes alone, none lost or repeated


@pytest.mark.parametrize("name", NAMES)
def test_masked_clip_is_frame_exact_and_masked(
    archive: GetArchive, tmp_path: Path, name: str
) -> None:
    source = archive(name)
    start, end = source.frame_wall(0) + CLIP_FROM, source.frame_wall(0) + CLIP_TO
    privacy = Privacy(masks=(QUARTER,), fill=GREY)

    files = export(
        source, tmp_path, ExportKind.ARCHIVE_CLIP, ContainerFormat.MKV, start, end, privacy=privacy
    )

    check_clip(source, files, start, end)
    check_sync(source, files[0])
    with av.open(str(files[0].path)) as container:
        for frame in container.decode(video=0):
            luma = frame.to_ndarray(format="gray").astype(int)
            inside = luma[100:-4, 164:-4]  # away from the mask's edge
            assert np.abs(inside - 128).max() <= 4


@pytest.mark.parametrize("name", NAMES)
def test_clip_with_a_timestamp_is_frame_exact(
    archive: GetArchive, tmp_path: Path, name: str
) -> None:
    source = archive(name)
    start, end = source.frame_wall(0) + CLIP_FROM, source.frame_wall(0) + CLIP_TO
    text = TextOverlay(timestamp_format="%H:%M:%S.%3N")

    files = export(
        source, tmp_path, ExportKind.ARCHIVE_CLIP, ContainerFormat.MP4, start, end, text=text
    )

    check_clip(source, files, start, end)
    check_sync(source, files[0])
    assert files[0].processing == "re-encoded: text burnt into the picture"


@pytest.mark.parametrize(
    ("codec", "probed"), [(VideoCodec.H264, "h264"), (VideoCodec.H265, "hevc")]
)
@pytest.mark.parametrize("name", NAMES)
def test_transcoded_clip_is_frame_exact(
    archive: GetArchive, tmp_path: Path, name: str, codec: VideoCodec, probed: str
) -> None:
    source = archive(name)
    start, end = source.frame_wall(0) + CLIP_FROM, source.frame_wall(0) + CLIP_TO
    rendering = Rendering(video=VideoEncoding(codec=codec, quality=Quality.SMALL))

    files = export(
        source,
        tmp_path,
        ExportKind.ARCHIVE_CLIP,
        ContainerFormat.MKV,
        start,
        end,
        rendering=rendering,
    )

    check_clip(source, files, start, end, codec=probed)
    check_sync(source, files[0])
