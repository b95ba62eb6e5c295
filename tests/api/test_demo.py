"""The README's promise: `vexport serve` with no configuration, then the client command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import av

from tests.api.harness import free_port


def test_demo_camera_exports_a_playable_clip_with_the_readme_command(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VEXPORT_")}
    env.update(
        VEXPORT_SERVER__GRPC=f"127.0.0.1:{port}",
        VEXPORT_SERVER__HTTP="127.0.0.1:0",
        VEXPORT_SERVER__DATA_DIR=str(tmp_path / "var"),
        VEXPORT_TARGET=f"127.0.0.1:{port}",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "vexport", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        playlist = tmp_path / "var" / "demo" / "camera1" / "index.m3u8"
        deadline = time.monotonic() + 40
        # The archive needs a few segments before "the last 4 s, ending 2 s ago" exists.
        while time.monotonic() < deadline:
            if playlist.exists() and playlist.read_text().count("#EXTINF") >= 4:
                break
            time.sleep(0.5)
        if not playlist.exists():
            server.terminate()
            _, err = server.communicate(timeout=20)
            raise AssertionError(f"the demo camera recorded nothing: {err.decode()[-2000:]}")
        client = subprocess.run(
            [sys.executable, "-m", "vexport", "client", "start", "--origin", "demo/camera1",
             "--last", "4s", "--out", str(tmp_path / "exports")],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert client.returncode == 0, client.stderr
        (clip,) = (tmp_path / "exports").glob("*/*.mp4")  # a folder per session
        with av.open(str(clip)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            frames = sum(1 for _ in container.decode(video=0))
        assert frames >= 4 * 25 - 1
    finally:
        server.terminate()
        server.wait(20)
