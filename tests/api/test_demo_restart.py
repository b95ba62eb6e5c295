"""The demo archive outlives a restart: trimmed to its window, never wiped."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av

from tests.api.harness import (
    download,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import archive_clip
from vexport.demo import Segment, merged_playlist, read_segments
from vexport.sources.archive_index import parse_hls

T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)


def _pdt(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def test_the_merged_playlist_keeps_the_window_and_marks_the_restart() -> None:
    previous = [Segment(f"seg_100_{n:06d}.ts", 2.0, _pdt(T0 + timedelta(seconds=2 * n)))
                for n in range(5)]  # fmt: skip
    live = [Segment(f"seg_200_{n:06d}.ts", 2.0, _pdt(T0 + timedelta(seconds=30 + 2 * n)))
            for n in range(2)]  # fmt: skip
    # 40 s after T0 with a 35 s window: segments ending before T0+5s go.
    text, kept, dropped = merged_playlist(
        previous, live, T0 + timedelta(seconds=40), timedelta(seconds=35)
    )
    assert [s.uri for s in dropped] == ["seg_100_000000.ts", "seg_100_000001.ts"]
    assert [s.uri for s in kept] == [f"seg_100_{n:06d}.ts" for n in (2, 3, 4)]
    assert text.count("#EXT-X-DISCONTINUITY") == 1
    index = parse_hls(text, "file:///archive/index.m3u8")
    assert [segment.url.rsplit("/", 1)[1] for segment in index.video] == [
        *(s.uri for s in kept),
        *(s.uri for s in live),
    ]
    assert index.video[0].start == T0 + timedelta(seconds=4)
    assert index.video[-1].start == T0 + timedelta(seconds=32)


def _wait_for_segments(playlist: Path, count: int, timeout: float = 40) -> list[Segment]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        segments = read_segments(playlist)
        if len(segments) >= count:
            return segments
        time.sleep(0.2)
    raise AssertionError(f"the demo camera recorded {len(read_segments(playlist))} segments")


def test_the_archive_of_the_last_run_is_exported_right_after_a_restart(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "var", demo={"enabled": True, "segment_seconds": 1.0, "keep": "10m"}
    )
    playlist = tmp_path / "var" / "demo" / "camera1" / "index.m3u8"
    with running_server(settings):
        first_run = _wait_for_segments(playlist, 4)
    recorded = read_segments(playlist)
    assert len(recorded) >= len(first_run)

    with running_server(settings) as server:
        # At once, before the new run has written anything of its own:
        after_restart = read_segments(playlist)
        assert [s.uri for s in recorded] == [s.uri for s in after_restart][: len(recorded)]
        for segment in recorded:
            assert (playlist.parent / segment.uri).exists(), segment.uri
        first = recorded[0].start
        last = recorded[-1].start
        assert first is not None and last is not None
        start = first + timedelta(seconds=0.2)
        end = last + timedelta(seconds=recorded[-1].duration - 0.3)
        stub = server.stub()
        session_id = start_session(stub, archive_clip(settings.demo.origin, start, end))
        state = wait_completed(stub, session_id)
        assert state.result.succeeded, state
        data, _ = download(stub, session_id, state.result.files[0].path)
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(data)
        with av.open(str(clip)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        expected = (end - start).total_seconds() * settings.demo.fps
        assert abs(frames - expected) <= 2, (frames, expected)
        # The new run is appended after a discontinuity, the old segments stay.
        _wait_for_segments(playlist, len(recorded) + 1)
        assert "#EXT-X-DISCONTINUITY" in playlist.read_text(), playlist.read_text()


def test_segments_survive_an_empty_ffmpeg_playlist_at_stop(tmp_path: Path) -> None:
    """FFmpeg killed mid-write leaves its playlist empty: the archive still names the run."""
    from vexport.config import DemoConfig
    from vexport.demo import DemoCamera

    camera = DemoCamera(DemoConfig(enabled=True, segment_seconds=1.0), tmp_path)
    camera.start()
    try:
        _wait_for_segments(camera.playlist, 3)
        recorded = read_segments(camera.playlist)
    finally:
        process = camera._process  # killed: FFmpeg writes no last playlist
        if process is not None:
            process.kill()
            process.wait()
        (camera.directory / "live.m3u8").write_text("")  # what a double SIGTERM left
        camera.stop()
    kept = [segment.uri for segment in read_segments(camera.playlist)]
    assert kept[: len(recorded)] == [segment.uri for segment in recorded]
    assert all((camera.directory / uri).exists() for uri in kept)
