"""Smart-cut clips play in a real Chromium and show the asked frames at both ends and seams.

Chromium has no demuxer for MPEG-TS or AVI; those are checked by decoding with
FFmpeg in ``test_clips.py``. H.265 plays in Chromium only with a hardware
decoder, which a headless machine has not.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, serve_directory
from tests.corpus_tests.conftest import CLIP_FROM, CLIP_TO, GetArchive, export
from vexport.media.plan import ContainerFormat, ExportKind

# The frame number is 16 blocks in the top quarter, their complement in the next.
PLAY = """async (src) => {
  const video = document.createElement('video');
  video.muted = true;
  video.src = src;
  document.body.appendChild(video);
  await new Promise((ok, bad) => {
    video.onloadeddata = ok;
    video.onerror = () => bad(new Error('media error ' + (video.error && video.error.code)));
  });
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const g = canvas.getContext('2d', {willReadFrequently: true});
  const number = () => {
    g.drawImage(video, 0, 0);
    const w = canvas.width, h = canvas.height;
    let n = 0;
    for (let i = 0; i < 16; i++) {
      const x = Math.floor((i + 0.5) * w / 16);
      const upper = g.getImageData(x, Math.floor(h / 8), 1, 1).data[1];
      const lower = g.getImageData(x, Math.floor(3 * h / 8), 1, 1).data[1];
      if (upper > 128 && lower < 128) n |= 1 << i;
      else if (!(upper < 128 && lower > 128)) return null;
    }
    return n;
  };
  // Every frame Chromium presents while playing: its time in the file and its number.
  const presented = [[video.currentTime, number()]];
  const each = (now, frame) => {
    presented.push([frame.mediaTime, number()]);
    video.requestVideoFrameCallback(each);
  };
  video.requestVideoFrameCallback(each);
  const ended = new Promise(ok => { video.onended = ok; });
  await video.play();
  await ended;
  return {presented, duration: video.duration, error: video.error && video.error.code};
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


@pytest.mark.parametrize(
    "container", [ContainerFormat.MP4, ContainerFormat.MOV, ContainerFormat.MKV], ids=str
)
@pytest.mark.parametrize("name", ["h264-hls-ts", "h264-dash-time", "h264-scenecut-hls-ts"])
def test_smart_cut_plays_in_chromium(
    archive: GetArchive, browser: Any, tmp_path: Path, name: str, container: ContainerFormat
) -> None:
    source = archive(name)
    start, end = source.frame_wall(0) + CLIP_FROM, source.frame_wall(0) + CLIP_TO
    (file,) = export(source, tmp_path / "out", ExportKind.ARCHIVE_CLIP, container, start, end)
    served = tmp_path / "www"
    served.mkdir()
    shutil.copy(file.path, served / file.path.name)
    first, last = source.frame_at(start), source.frame_at(end)
    frame = source.frame_seconds

    with serve_directory(served) as url:
        page = browser.new_page()
        page.goto(f"{url}/")
        result = page.evaluate(PLAY, f"/{file.path.name}")
        page.close()

    assert result["error"] is None
    assert result["duration"] == pytest.approx((last - first + 1) * frame, abs=2 * frame)
    presented = [(t, n) for t, n in result["presented"] if n is not None]
    numbers = [n for _, n in presented]
    assert numbers[0] == first  # before playing: the asked first frame
    assert numbers[-1] == last  # the last frame played
    # Each frame shown at its own time, in order (a loaded machine may skip some, and the
    # picture drawn from a callback may already be the next one).
    for t, n in presented:
        assert abs(n - (first + round(t / frame))) <= 1, (t, n)
    assert numbers == sorted(numbers)
    assert len(set(numbers)) >= 0.5 * (last - first + 1)
