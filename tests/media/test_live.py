"""Live inputs: real FFmpeg processes, real time. Kept to a few seconds each."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.framecode import framecode_graph
from tests.media.conftest import assert_consecutive, decoded
from tests.media_fixtures import FPS
from vexport.media.clip_writer import ClipRequest, write_clip
from vexport.media.control import SimpleJobControl
from vexport.media.plan import ContainerFormat, ExportFailed
from vexport.media.probe import probe, video_frame_times
from vexport.media.snapshot import live_snapshot
from vexport.redact import redact_url
from vexport.sources.live import LiveInput, ffmpeg_input_args

PATTERN = "lavfi:testsrc2=size=320x180:rate=25"
# Frame N carries N in its pixels, so decoded frames tell whether any was lost.
NUMBERED = "lavfi:" + framecode_graph(320, 180, "25")


def children() -> set[int]:
    """Live child processes of this test process (zombies included)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text().split()
        pids.update(int(p) for p in text)
    return pids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redact_url() -> None:
    assert (
        redact_url("rtsp://admin:s3cret@cam.local:554/h264", keep_query=True)
        == "rtsp://cam.local:554/h264"
    )
    redacted = redact_url("srt://1.2.3.4:9000?mode=caller&passphrase=topsecret1", keep_query=True)
    assert "topsecret1" not in redacted and "mode=caller" in redacted
    assert redact_url(PATTERN, keep_query=True) == PATTERN


def test_input_arguments_by_url_form() -> None:
    assert ffmpeg_input_args("rtsp://cam/1")[0][:2] == ["-rtsp_transport", "tcp"]
    assert "-reconnect" in ffmpeg_input_args("https://cdn/live.m3u8")[0]
    file_args, copy = ffmpeg_input_args("file:///video/cam.ts")
    assert "-re" in file_args and "-stream_loop" in file_args and "/video/cam.ts" in file_args
    assert copy[-2:] == ["-c", "copy"]
    lavfi_args, encode = ffmpeg_input_args(PATTERN)
    assert lavfi_args[-4:] == ["-f", "lavfi", "-i", PATTERN.removeprefix("lavfi:")]
    assert "libx264" in encode


def test_live_clip_of_a_duration(tmp_path: Path) -> None:
    before = children()
    started = time.time()
    with LiveInput(NUMBERED) as live:
        files = write_clip(
            live.packets(),
            ClipRequest(duration=2.0),
            origin="live",
            container=ContainerFormat.MP4,
            output_dir=tmp_path,
            file_prefix="live",
        )
    elapsed = time.time() - started

    assert len(files) == 1
    produced = files[0]
    info = probe(produced.path)
    assert info.video is not None and info.video.codec == "h264"
    times = video_frame_times(produced.path)
    assert len(times) == 2 * FPS + 1  # both ends included
    assert times[-1] - times[0] == pytest.approx(2.0, abs=1e-3)
    span = (produced.last_frame - produced.first_frame).total_seconds()
    assert span == pytest.approx(2.0, abs=1e-3)
    # Arrival-anchored: the frames happened during the test, never in its future.
    assert started - 1.0 < produced.first_frame.timestamp() < produced.last_frame.timestamp()
    assert produced.last_frame.timestamp() <= time.time()
    assert elapsed < 8
    time.sleep(0.1)
    assert children() <= before  # FFmpeg reaped


def test_live_clip_until_stopped(tmp_path: Path) -> None:
    control = SimpleJobControl()
    threading.Timer(2.5, control.stop).start()
    with LiveInput(NUMBERED) as live:
        files = write_clip(
            live.packets(),
            ClipRequest(),
            origin="live",
            container=ContainerFormat.MKV,
            output_dir=tmp_path,
            file_prefix="live",
            control=control,
        )
    assert len(files) == 1
    frames = decoded(files[0].path)
    assert len(frames) >= 10
    assert_consecutive([n for _, n in frames])


def test_live_snapshot(tmp_path: Path) -> None:
    with LiveInput(PATTERN) as live:
        produced = live_snapshot(
            live.packets(),
            origin="live",
            container=ContainerFormat.JPEG,
            path=tmp_path / "live.jpg",
            wait_seconds=10,
        )
    assert produced.path.read_bytes()[:3] == b"\xff\xd8\xff"
    assert abs(produced.first_frame.timestamp() - time.time()) < 5


def test_dropped_input_is_reopened_as_a_new_run(tmp_path: Path) -> None:
    # A source that ends after 1 s, every time: each reconnection is a new run.
    with LiveInput(NUMBERED + ",trim=duration=1", reconnect_delay=0.2) as live:
        files = write_clip(
            live.packets(),
            ClipRequest(duration=3.5),
            origin="live",
            container=ContainerFormat.MKV,
            output_dir=tmp_path,
            file_prefix="live",
        )
        assert live.reconnects >= 1
    assert len(files) >= 2
    for earlier, later in itertools.pairwise(files):
        assert later.first_frame > earlier.last_frame  # the gap is visible in the times
    for produced in files:
        assert len(video_frame_times(produced.path)) >= 10


def test_input_that_never_delivers_fails_clearly() -> None:
    port = free_port()  # nobody listens
    before = children()
    started = time.monotonic()
    with (
        pytest.raises(ExportFailed) as failure,
        LiveInput(f"rtsp://admin:hunter2@127.0.0.1:{port}/live", first_packet_timeout=1.5,
                  reconnect_delay=0.2) as live,
    ):  # fmt: skip
        for _ in live.packets():
            pass
    message = str(failure.value)
    assert f"rtsp://127.0.0.1:{port}/live" in message
    assert "within 1.5 s" in message
    assert "hunter2" not in message and "admin" not in message
    assert "refused" in message.lower()
    assert time.monotonic() - started < 5
    time.sleep(0.1)
    assert children() <= before


def test_silent_server_times_out() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with (
            pytest.raises(ExportFailed, match="no video from live input"),
            LiveInput(f"http://127.0.0.1:{port}/stream.ts", first_packet_timeout=1.0) as live,
        ):
            for _ in live.packets():
                pass


def test_ffmpeg_binary_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    from vexport.media.ffmpeg import ffmpeg_binary

    monkeypatch.setenv("VEXPORT_FFMPEG", "/opt/ffmpeg/bin/ffmpeg")
    assert ffmpeg_binary("/usr/local/bin/ffmpeg") == "/usr/local/bin/ffmpeg"
    assert ffmpeg_binary() == "/opt/ffmpeg/bin/ffmpeg"
    monkeypatch.delenv("VEXPORT_FFMPEG")
    assert Path(ffmpeg_binary()).is_file()
