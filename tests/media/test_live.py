"""Live inputs: real FFmpeg processes, real time. Kept to a few seconds each."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
import types
from pathlib import Path

import pytest

from tests.framecode import framecode_graph
from tests.media.conftest import assert_consecutive, decoded
from tests.media_fixtures import FPS
from vexport.media.clip_writer import ClipRequest, write_clip
from vexport.media.control import SimpleJobControl
from vexport.media.packets import TimedPacket
from vexport.media.plan import ContainerFormat, ExportFailed
from vexport.media.probe import probe, video_frame_times
from vexport.media.snapshot import live_snapshot
from vexport.redact import redact_url
from vexport.sources.live import LiveInput, _CompleteFrames, _DecodeTimes, ffmpeg_input_args

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
    rtsp_args, rtsp_codec = ffmpeg_input_args("rtsp://cam/1")
    assert rtsp_args[:2] == ["-rtsp_transport", "tcp"]
    assert "setts=pts=if(eq(PTS\\,NOPTS)\\,DTS-STARTDTS\\,PTS)" in rtsp_codec
    assert ffmpeg_input_args("rtsp://cam/1", rtsp_transport="udp")[0][:2] == [
        "-rtsp_transport",
        "udp",
    ]
    # RTSP over TLS carries RTP in its connection whatever is asked.
    assert ffmpeg_input_args("rtsps://cam/1", rtsp_transport="udp")[0][:2] == [
        "-rtsp_transport",
        "tcp",
    ]
    with pytest.raises(ValueError, match="multicast"):
        ffmpeg_input_args("rtsp://cam/1", rtsp_transport="multicast")  # type: ignore[arg-type]
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


class _Packet:
    """What the helpers read of a demuxed packet (times in frames of 1/25 s)."""

    def __init__(self, pts: int, dts: int | None, index: int = 0) -> None:
        self.pts, self.dts, self.duration = pts, dts, 1
        self.stream = types.SimpleNamespace(index=index)


def test_decode_times_of_a_b_frame_stream_start() -> None:
    # NUT gives no DTS to the first packets of I0 P2 B1 P4 B3: they get the ones before
    # the first dated packet, a frame apart, never after their own presentation time.
    dates = _DecodeTimes()
    i0, p2, b1 = _Packet(0, None), _Packet(2, None), _Packet(1, 0)
    audio = _Packet(0, 0, index=1)
    assert dates.add(i0, 1.0) == []
    assert dates.add(audio, 1.01) == [(audio, 1.01)]  # other streams are not held
    assert dates.add(p2, 1.02) == []
    assert [p for p, _ in dates.add(b1, 1.03)] == [i0, p2, b1]
    assert (i0.dts, p2.dts, b1.dts) == (-2, -1, 0)
    p4 = _Packet(4, 1)
    assert dates.add(p4, 1.04) == [(p4, 1.04)]


def _timed(kind: str, pts: float, dts: float) -> TimedPacket:
    return TimedPacket(
        packet=None, stream=None, kind=kind, wall_pts=pts * FRAME, wall_dts=dts * FRAME,  # type: ignore[arg-type]
        duration=FRAME, is_keyframe=False,
    )  # fmt: skip


FRAME = 1 / FPS


def test_complete_frames_wait_for_the_frames_shown_before_them() -> None:
    frames = _CompleteFrames()
    # Decode order of a B-pyramid: I0 P4 B2 b1 b3, times in frames.
    i0, p4, b2, b1, b3 = (
        _timed("video", p, d) for p, d in ((0, -2), (4, -1), (2, 0), (1, 1), (3, 2))
    )
    audio = _timed("audio", 0.5, 0.5)
    assert frames.add(i0) == []  # shown at 0, decoded at -2: frames before it may come
    assert frames.add(p4) == []
    assert frames.add(audio) == []  # waits behind the video to keep the interleaving
    assert frames.add(b2) == [i0]  # nothing still to come is shown before 0
    assert frames.add(b1) == []
    assert frames.add(b3) == []
    # The connection ends here. The next packet would have been decoded at 3 and shown
    # at 3 or later; 3 and 4 are here, so everything up to 4 is complete.
    assert frames.flush() == [p4, audio, b2, b1, b3]


def test_complete_frames_drop_what_follows_a_frame_that_never_came() -> None:
    frames = _CompleteFrames()
    # I0 P4 B2 b1 b3 P8 | B6 b5 b7 never arrive: 5, 6, 7 are missing, so 8 goes too.
    stream = [(0, -2), (4, -1), (2, 0), (1, 1), (3, 2), (8, 3)]
    released = [tp for p, d in stream for tp in frames.add(_timed("video", p, d))]
    late_audio = _timed("audio", 3.5, 3.5)
    released += frames.add(late_audio)
    released += frames.flush()
    assert [round(tp.wall_pts / FRAME) for tp in released if tp.kind == "video"] == [0, 4, 2, 1, 3]
    assert late_audio in released  # sound is not dropped with the pictures


def test_complete_frames_hold_nothing_without_b_frames() -> None:
    frames = _CompleteFrames()
    for n in range(5):
        tp = _timed("video", n, n)
        assert frames.add(tp) == [tp]
    assert frames.flush() == []
