"""A smart cut keeps the camera's bytes: at least 95 % of a 60 s clip's video packets.

The promise of smart cut (docs/design/smart-cut.md) is that only the partial
GOPs at the ends are re-encoded. Counted here without the engine's own
helpers: every video packet of the written MP4 is looked up, as bytes, among
the packets of the recording (fMP4 segments: the same length-prefixed
framing as MP4), and the frames are read back from the pixels.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from tests.media_fixtures import frame_number, make_hls_archive
from vexport.media.control import SimpleJobControl
from vexport.media.decision import decided
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, SourcePlan
from vexport.media.runner import run_export

START = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)


def _recorded_packets(manifest: Path) -> set[bytes]:
    folder = manifest.parent
    init = (folder / "init.mp4").read_bytes()
    recorded: set[bytes] = set()
    for segment in sorted(folder.glob("*.m4s")):
        path = segment.with_suffix(".joined.mp4")
        path.write_bytes(init + segment.read_bytes())
        with av.open(str(path)) as container:
            recorded |= {bytes(p) for p in container.demux(video=0) if p.size}
    assert recorded, "no recorded video packets"
    return recorded


@pytest.mark.slow
def test_sixty_second_smart_cut_copies_at_least_95_percent(tmp_path: Path) -> None:
    manifest = make_hls_archive(tmp_path / "archive", START, 64.0, fmp4=True)  # 2 s GOPs
    start = START + timedelta(seconds=1.3)  # 7 frames into a GOP
    end = start + timedelta(seconds=60)
    source = SourcePlan(origin="test/camera", name="camera", archive_url=manifest.as_uri())
    plan = ExportPlan(
        kind=ExportKind.ARCHIVE_CLIP,
        sources=(source,),
        container=ContainerFormat.MP4,
        start=start,
        end=end,
    )
    (file,) = run_export(decided(plan), SimpleJobControl(), workdir=tmp_path / "out")

    with av.open(str(file.path)) as container:
        written = [bytes(p) for p in container.demux(video=0) if p.size]
    with av.open(str(file.path)) as container:
        numbers = [frame_number(f) for f in container.decode(video=0)]
    # 60 s at 25 fps from the frame shown at 1.3 s (frame 32) to the one shown at 61.3 s
    # (frame 1532); the picture counts frames modulo 32.
    assert numbers == [(32 + i) % 32 for i in range(1501)]
    recorded = _recorded_packets(manifest)
    copied = sum(packet in recorded for packet in written)
    share = copied / len(written)
    assert share >= 0.95, f"{copied} of {len(written)} video packets are the camera's bytes"
    assert copied < len(written), "the partial GOP at the start must be re-encoded"
    assert file.processing.startswith("smart cut: "), file.processing
    assert file.frames_reencoded == len(written) - copied
