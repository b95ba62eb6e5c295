"""The ``vexport client`` command, run for real against a real server: it never loses data.

One test per defect of the command line it had (issue 13): files overwritten by
the next export of the same camera, ``--live --last`` silently recording
forever, a resumed download from a stale ``.part`` accepted although the state
carries the SHA-256, ``--snapshot --format pdf`` refused, no ``--json``, a list
without origin, kind or time, options out of reach.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest
import typer

from tests.api.conftest import CAMERA, LIVE
from tests.api.harness import RunningServer
from vexport.cli import client_options
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

FROM, TO = "20260101T120001", "20260101T120003"


def vexport(
    server: RunningServer, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEXPORT_")}
    env.update(VEXPORT_TARGET=server.address, COLUMNS="250", NO_COLOR="1")
    result = subprocess.run(
        [sys.executable, "-m", "vexport", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stderr
    return result


def answer(result: subprocess.CompletedProcess[str]) -> Any:
    """stdout is one JSON document and nothing else."""
    return json.loads(result.stdout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_exports_of_one_camera_keep_both_files(server: RunningServer, tmp_path: Path) -> None:
    first = answer(vexport(server, "client", "start", "-o", CAMERA, "--from", FROM, "--to", TO,
                           "--out", str(tmp_path), "--json"))  # fmt: skip
    second = answer(vexport(server, "client", "start", "-o", CAMERA,
                            "--from", "20260101T120004", "--to", "20260101T120006",
                            "--out", str(tmp_path), "--json"))  # fmt: skip
    files = sorted(tmp_path.glob("*/*.mp4"))  # a folder per session
    assert len(files) == 2
    for result in (first, second):
        (saved,) = result["saved"]
        path = Path(saved["saved_to"])
        assert path.exists()
        assert result["session_id"][:8] in path.parent.name
        assert sha256(path) == saved["sha256"] == result["state"]["result"]["files"][0]["sha256"]
    assert "20260101T120001" in Path(first["saved"][0]["saved_to"]).parent.name
    assert "20260101T120004" in Path(second["saved"][0]["saved_to"]).parent.name


def test_a_file_with_other_content_is_not_overwritten_without_force(
    server: RunningServer, tmp_path: Path
) -> None:
    started = answer(vexport(server, "client", "start", "-o", CAMERA, "--from", FROM, "--to", TO,
                             "--out", str(tmp_path), "--json"))  # fmt: skip
    session_id = started["session_id"]
    target = Path(started["saved"][0]["saved_to"])
    expected = sha256(target)
    again = vexport(server, "client", "download", session_id, "--out", str(tmp_path))
    assert "already downloaded" in again.stderr
    target.write_bytes(b"someone else's file")
    refused = vexport(server, "client", "download", session_id, "--out", str(tmp_path), "--json",
                      check=False)  # fmt: skip
    assert refused.returncode == 1
    assert "--force" in answer(refused)["error"]
    assert target.read_bytes() == b"someone else's file"
    vexport(server, "client", "download", session_id, "--out", str(tmp_path), "--force")
    assert sha256(target) == expected


def test_a_stale_part_file_is_caught_by_the_sha256_and_downloaded_again(
    server: RunningServer, tmp_path: Path
) -> None:
    started = answer(vexport(server, "client", "start", "-o", CAMERA, "--from", FROM, "--to", TO,
                             "--json"))  # fmt: skip
    session_id = started["session_id"]
    listed = started["state"]["result"]["files"][0]
    assert int(listed["size"]) > 16 * 1024
    (tmp_path / "out").mkdir()
    # What another session's interrupted download would have left under this name.
    from vexport.cli import local_name

    every = [pb_file(f) for f in started["state"]["result"]["files"]]
    name = local_name(pb_file(listed), session_id, every)
    (tmp_path / "out" / name).parent.mkdir(parents=True)
    (tmp_path / "out" / f"{name}.part").write_bytes(os.urandom(12 * 1024))
    result = vexport(server, "client", "download", session_id, "--out", str(tmp_path / "out"),
                     "--chunk-kb", "4", "--json")  # fmt: skip
    assert "did not match the session's SHA-256" in result.stderr
    (saved,) = answer(result)["saved"]
    assert sha256(Path(saved["saved_to"])) == listed["sha256"]
    assert not (tmp_path / "out" / f"{name}.part").exists()


def pb_file(listed: dict[str, Any]) -> Any:
    from google.protobuf import json_format

    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    return json_format.ParseDict(listed, spb.Result.File())


@pytest.mark.parametrize("given", [["--last", "5s"], ["--from", "-10s"], ["--to", "now"]])
def test_live_with_archive_times_is_refused(server: RunningServer, given: list[str]) -> None:
    result = vexport(server, "client", "start", "-o", LIVE, "--live", *given, check=False)
    assert result.returncode == 2
    assert f"{given[0]} cannot go with --live" in " ".join(result.stderr.split())


def test_an_unbounded_live_clip_says_how_to_stop_it(server: RunningServer) -> None:
    started = vexport(server, "client", "start", "-o", LIVE, "--live", "--no-wait", "--json")
    session_id = answer(started)["session_id"]
    message = " ".join(started.stderr.split())
    assert "records until stopped" in message
    assert f"vexport client stop {session_id}" in message
    stopped = answer(vexport(server, "client", "stop", session_id, "--json"))
    assert stopped["session_id"] == session_id
    assert stopped["state"]["state"] == "S_COMPLETED"
    destroyed = answer(vexport(server, "client", "destroy", session_id, "--json"))
    assert destroyed == {"session_id": session_id, "destroyed": True}


def test_a_pdf_snapshot(server: RunningServer, tmp_path: Path) -> None:
    result = answer(vexport(server, "client", "start", "-o", CAMERA, "--from", FROM, "--snapshot",
                            "--format", "pdf", "--pdf", "landscape", "--out", str(tmp_path),
                            "--json"))  # fmt: skip
    (saved,) = result["saved"]
    path = Path(saved["saved_to"])
    assert path.suffix == ".pdf"
    assert path.read_bytes().startswith(b"%PDF")
    from pypdf import PdfReader

    page = PdfReader(path).pages[0]
    assert page.mediabox.width > page.mediabox.height  # landscape


def test_list_and_state_show_origin_kind_times_state_and_size(
    server: RunningServer, tmp_path: Path
) -> None:
    started = answer(vexport(server, "client", "start", "-o", CAMERA, "--from", FROM, "--to", TO,
                             "--json"))  # fmt: skip
    session_id = started["session_id"]
    listed = {row["session_id"]: row for row in answer(vexport(server, "client", "list", "--json"))}
    row = listed[session_id]
    size = int(started["state"]["result"]["files"][0]["size"])
    assert row["origin"] == CAMERA
    assert row["kind"] == "archive_clip"
    assert row["from"].startswith(FROM) and row["to"].startswith(TO)
    assert row["state"] == "S_COMPLETED" and row["succeeded"] is True
    assert row["progress"] == 1.0
    assert row["size"] == size
    table = vexport(server, "client", "list").stdout
    line = next(text for text in table.splitlines() if session_id in text)
    for shown in (CAMERA, "archive_clip", FROM, TO, "S_COMPLETED", "100%"):
        assert shown in line, (shown, line)
    state = vexport(server, "client", "state", session_id, "--json")
    assert answer(state)["state"]["result"]["succeeded"] is True
    assert "succeeded" in state.stderr


def test_errors_are_json_too(server: RunningServer) -> None:
    result = vexport(server, "client", "state", "no-such-session", "--json", check=False)
    assert result.returncode == 1
    assert answer(result)["error"]["code"] == "NOT_FOUND"


def test_every_option_reaches_the_export(server: RunningServer, tmp_path: Path) -> None:
    result = answer(vexport(
        server, "client", "start", "-o", CAMERA, "--from", FROM, "--to", TO, "--format", "mkv",
        "--codec", "h265", "--quality", "small", "--fps", "half", "--timestamp", "%H:%M:%S",
        "--comment", "case 42", "--mask", "0,0;0.5,0;0.5,0.5", "--crop", "0,0,0.5,0.5",
        "--max-size", "10MB", "--out", str(tmp_path), "--json",
    ))  # fmt: skip
    state = result["state"]
    assert state["result"]["succeeded"], state
    assert state["processing"].startswith("re-encoded"), state["processing"]
    (saved,) = result["saved"]
    with av.open(saved["saved_to"]) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "hevc"
        assert (video.codec_context.width, video.codec_context.height) == (160, 90)
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 2 * 25 // 2 + 1  # half the frame rate over 2 s, both ends shown


def test_options_map_to_the_message_fields() -> None:
    options = client_options(
        origin=[CAMERA], start=FROM, end=TO, last=None, live=False, duration=None,
        snapshot=False, fmt="mov", max_size="1.5MiB", agent="", storage=None,
        cloud_export=False, codec="h264", audio_codec="aac", quality="best-size", fps="quarter",
        timestamp="%F %T", comment="note", timezone_minutes=60,
        masks=["0.1,0.1;0.2,0.1;0.2,0.2", "0.5,0.5;0.6,0.5;0.6,0.6"], invert_mask=True,
        crop="0.1,0.2,0.9,0.8",
    )  # fmt: skip
    assert options.max_file_size == int(1.5 * 1024 * 1024)
    assert options.stream.format == pb.StreamType.MOV
    stream = {s.WhichOneof("setting"): s for s in options.stream.settings}
    assert stream["video_codec"].video_codec == pb.StreamSetting.VC_H264
    assert stream["audio_codec"].audio_codec == pb.StreamSetting.AC_AAC
    assert stream["video_quality"].video_quality == pb.C_BEST_SIZE
    assert stream["frame_frequency"].frame_frequency == pb.StreamSetting.FF_QUARTER
    common = {s.WhichOneof("setting"): s for s in options.settings}
    assert common["timestamp_format"].timestamp_format == "%F %T"
    assert common["comment"].comment == "note"
    assert common["timezone"].timezone == 60
    assert common["apply_mask"].apply_mask and common["invert_mask"].invert_mask
    source = {s.WhichOneof("setting"): s for s in options.archive.sources[0].settings}
    polygons = source["mask_space"].mask_space.space
    assert [[(p.x, p.y) for p in polygon.points] for polygon in polygons][1] == [
        (0.5, 0.5),
        (0.6, 0.5),
        (0.6, 0.6),
    ]
    crop = source["crop_area"].crop_area
    assert (crop.left, crop.top, crop.right, crop.bottom) == pytest.approx((0.1, 0.2, 0.9, 0.8))
    with pytest.raises(typer.BadParameter, match="--mask"):
        client_options(
            origin=[CAMERA], start=FROM, end=TO, last=None, live=False, duration=None,
            snapshot=False, fmt=None, max_size=None, agent="", storage=None, cloud_export=False,
            masks=["0,0;1,1"],
        )  # fmt: skip


def test_ctrl_c_stops_an_unbounded_live_clip_and_keeps_it(
    server: RunningServer, tmp_path: Path
) -> None:
    import signal
    import time

    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    env = {k: v for k, v in os.environ.items() if not k.startswith("VEXPORT_")}
    env.update(VEXPORT_TARGET=server.address, NO_COLOR="1", COLUMNS="250")
    client = subprocess.Popen(
        [sys.executable, "-m", "vexport", "client", "start", "-o", LIVE, "--live",
         "--out", str(tmp_path), "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert client.stderr is not None
        first = client.stderr.readline()
        assert "records until stopped" in first, first
        assert "vexport client stop" in first, first
        session_id = first.split()[1].rstrip(":")
        stub = server.stub()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the clip holds a frame
            state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
            if state.session_state.last_frame_timestamp:
                break
            time.sleep(0.2)
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err
    assert "stopping session" in err
    result = json.loads(out)
    assert result["session_id"] == session_id
    (saved,) = result["saved"]
    with av.open(saved["saved_to"]) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0
