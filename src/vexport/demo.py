"""The demo camera: a synthetic source so a fresh install has something to export.

One FFmpeg process renders a test pattern with a running frame counter and
a tone, and records it as an HLS archive with ``EXT-X-PROGRAM-DATE-TIME``,
exactly what a camera recorder would leave on disk. The live side is the same
pattern generated on demand (``lavfi:``), so live exports work too.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from vexport.config import ArchiveConfig, DemoConfig, SourceConfig
from vexport.media.ffmpeg import ffmpeg_binary

log = logging.getLogger(__name__)


class DemoCamera:
    def __init__(self, config: DemoConfig, data_dir: Path, ffmpeg: str | None = None) -> None:
        self.config = config
        self.directory = (data_dir / "demo" / "camera1").resolve()
        self.playlist = self.directory / "index.m3u8"
        self._ffmpeg = ffmpeg
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pattern(self) -> str:
        return f"testsrc2=size={self.config.size}:rate={self.config.fps}"

    def source(self) -> SourceConfig:
        return SourceConfig(
            origin=self.config.origin,
            name="demo-camera1",
            live=f"lavfi:{self.pattern}",
            archives=[ArchiveConfig(storage=self.config.storage, url=self.playlist.as_uri())],
        )

    def start(self) -> None:
        """Start recording; the previous run's archive is replaced (it is synthetic)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        segment = self.config.segment_seconds
        keep_segments = max(3, int(self.config.keep.total_seconds() / segment))
        gop = max(1, round(self.config.fps * segment))
        command = [
            ffmpeg_binary(self._ffmpeg),
            "-hide_banner", "-loglevel", "error", "-nostdin",
            "-re", "-f", "lavfi", "-i", self.pattern,
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop),
            "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k", "-ac", "1",
            "-f", "hls", "-hls_time", str(segment), "-hls_list_size", str(keep_segments),
            "-hls_flags", "program_date_time+delete_segments+independent_segments",
            "-hls_segment_filename", str(self.directory / "seg_%06d.ts"),
            str(self.playlist),
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        log.info("demo camera %s recording to %s", self.config.origin, self.playlist)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None
