"""The demo camera: a synthetic source so a fresh install has something to export.

One FFmpeg process renders a test pattern with a running frame counter and
a tone, and records it as an HLS archive with ``EXT-X-PROGRAM-DATE-TIME``,
exactly what a camera recorder would leave on disk. The live side is the same
pattern generated on demand (``lavfi:``), so live exports work too.

One playlist, one recorder: the recorder holds an exclusive ``flock`` on
``camera1.lock`` next to its directory (FFmpeg inherits the descriptor, so
the lock lives exactly as long as a recorder does), and dies with the server
(``dying_with_parent``). A server restarted after ``kill -9`` waits for the
old recorder's lock to go before it starts its own; a second server on the
same data directory never starts one (docs/design/robustness.md).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from vexport.config import ArchiveConfig, DemoConfig, SourceConfig
from vexport.media.ffmpeg import dying_with_parent, ffmpeg_binary
from vexport.private import private_dir

log = logging.getLogger(__name__)


class DemoCamera:
    def __init__(self, config: DemoConfig, data_dir: Path, ffmpeg: str | None = None) -> None:
        self.config = config
        self.directory = (data_dir / "demo" / "camera1").resolve()
        self.playlist = self.directory / "index.m3u8"
        self._ffmpeg = ffmpeg
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None
        self.lock_path = self.directory.with_name(self.directory.name + ".lock")

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

    def start(self, lock_wait: float = 10.0) -> None:
        """Start recording; the previous run's archive is replaced (it is synthetic).

        If another recorder holds the playlist's lock for ``lock_wait`` seconds
        (a previous server's, still being killed; another server's), this one
        does not record and says so.
        """
        private_dir(self.directory.parent)
        self._lock = _exclusive_lock(self.lock_path, lock_wait)
        if self._lock is None:
            log.error(
                "demo camera %s: another recorder holds %s; not recording",
                self.config.origin,
                self.lock_path,
            )
            return
        shutil.rmtree(self.directory, ignore_errors=True)
        private_dir(self.directory)
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
            dying_with_parent(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(self._lock,),  # the lock is held while this recorder lives
        )
        log.info("demo camera %s recording to %s", self.config.origin, self.playlist)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        try:
            self._stop_recorder()
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def _stop_recorder(self) -> None:
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


def _exclusive_lock(path: Path, wait: float) -> int | None:
    """An open descriptor holding ``flock(LOCK_EX)`` on ``path``; None after ``wait`` s."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descriptor
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(descriptor)
                return None
            time.sleep(0.05)
