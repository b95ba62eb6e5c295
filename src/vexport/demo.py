"""The demo camera: a synthetic source so a fresh install has something to export.

One FFmpeg process renders a test pattern with a running frame counter and
a tone, and records it as HLS with ``EXT-X-PROGRAM-DATE-TIME``, exactly what
a camera recorder would leave on disk. The live side is the same pattern
generated on demand (``lavfi:``), so live exports work too.

The archive outlives the process: FFmpeg writes this run's playlist
(``live.m3u8``, segments named after the run), and a small thread writes the
archive's playlist (``index.m3u8``, what the catalog reads) as the previous
runs' segments, an ``EXT-X-DISCONTINUITY``, then this run's. Segments older
than ``[demo] keep`` are dropped from the playlist and deleted; nothing else
is ever wiped, so right after a restart the last minutes are still there to
export (``docs/design/operations.md``, "The demo archive").

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
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vexport.config import ArchiveConfig, DemoConfig, SourceConfig
from vexport.media.ffmpeg import dying_with_parent, ffmpeg_binary
from vexport.private import private_dir
from vexport.timeutil import TimestampError, parse_timestamp, utcnow

__all__ = ["DemoCamera", "Segment", "merged_playlist", "read_segments"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Segment:
    """One entry of a media playlist, its date as written (re-parsed only to trim)."""

    uri: str
    duration: float
    pdt: str

    @property
    def start(self) -> datetime | None:
        try:
            return parse_timestamp(self.pdt)
        except TimestampError:
            return None


def read_segments(playlist: Path) -> list[Segment]:
    """The dated segments of a playlist this module or FFmpeg wrote; [] if there is none."""
    try:
        text = playlist.read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return []
    segments: list[Segment] = []
    duration: float | None = None
    pdt: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[len("#EXTINF:") :].partition(",")[0])
            except ValueError:
                duration = None
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = line.partition(":")[2]
        elif line and not line.startswith("#"):
            if duration is not None and pdt is not None and "/" not in line:
                segments.append(Segment(line, duration, pdt))
            duration, pdt = None, None
    return segments


def merged_playlist(
    previous: list[Segment], live: list[Segment], now: datetime, keep: timedelta
) -> tuple[str, list[Segment], list[Segment]]:
    """The archive's playlist text, the previous segments still kept, and those dropped.

    Previous runs' segments that ended before ``now - keep`` are dropped; the
    live run's are FFmpeg's to delete (``delete_segments``). A discontinuity
    separates the runs: their timestamps start again from zero.
    """
    cutoff = now - keep
    kept: list[Segment] = []
    dropped: list[Segment] = []
    live_uris = {segment.uri for segment in live}
    for segment in previous:
        start = segment.start
        if segment.uri in live_uris:
            continue
        if start is None or start + timedelta(seconds=segment.duration) < cutoff:
            dropped.append(segment)
        else:
            kept.append(segment)
    target = max((s.duration for s in [*kept, *live]), default=2.0)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{int(target + 0.999)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
    ]
    previous_run = ""
    for segment in [*kept, *live]:
        run = segment.uri.rsplit("_", 1)[0]
        if previous_run and run != previous_run:
            lines.append("#EXT-X-DISCONTINUITY")
        previous_run = run
        lines += [
            f"#EXT-X-PROGRAM-DATE-TIME:{segment.pdt}",
            f"#EXTINF:{segment.duration:.6f},",
            segment.uri,
        ]
    return "\n".join(lines) + "\n", kept, dropped


class DemoCamera:
    def __init__(
        self,
        config: DemoConfig,
        data_dir: Path,
        ffmpeg: str | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.directory = (data_dir / "demo" / "camera1").resolve()
        self.playlist = self.directory / "index.m3u8"
        self._live = self.directory / "live.m3u8"
        self._ffmpeg = ffmpeg
        self._clock = clock
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None
        self.lock_path = self.directory.with_name(self.directory.name + ".lock")
        self._previous: list[Segment] = []
        # This run's segments as last read from FFmpeg's playlist: FFmpeg may leave it
        # empty when it is stopped, and its segments must not be forgotten then.
        self._recorded: dict[str, Segment] = {}
        self._stopping = threading.Event()
        self._merger: threading.Thread | None = None

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
        """Start recording after what the previous runs left (trimmed to ``keep``)."""
        if self.prepare(lock_wait):
            self.record()

    def prepare(self, lock_wait: float = 10.0) -> bool:
        """Take the playlist's lock and rewrite the archive from what earlier runs left:
        the blocking half of ``start`` (a server runs it in a worker thread).

        If another recorder holds the lock for ``lock_wait`` seconds (a previous
        server's, still being killed; another server's), this one does not record,
        says so and answers False.
        """
        private_dir(self.directory.parent)
        self._lock = _exclusive_lock(self.lock_path, lock_wait)
        if self._lock is None:
            log.error(
                "demo camera %s: another recorder holds %s; not recording",
                self.config.origin,
                self.lock_path,
            )
            return False
        private_dir(self.directory)
        # The last run's own playlist may be newer than the archive's (a killed process).
        seen: dict[str, Segment] = {}
        for segment in [*read_segments(self.playlist), *read_segments(self._live)]:
            seen.setdefault(segment.uri, segment)
        self._previous = sorted(seen.values(), key=lambda s: s.start or _EPOCH)
        self._live.unlink(missing_ok=True)  # its segments are the previous ones now
        self._recorded = {}
        self._forget_strays()
        self._merge()
        return True

    def record(self) -> None:
        """Start the recorder (after ``prepare``). FFmpeg dies with the thread that starts
        it (``dying_with_parent``): call this from one that lives as long as the server."""
        assert self._lock is not None, "prepare() first"
        run = f"seg_{int(self._clock().timestamp())}"
        seconds = self.config.segment_seconds
        keep_segments = max(3, int(self.config.keep.total_seconds() / seconds))
        gop = max(1, round(self.config.fps * seconds))
        command = [
            ffmpeg_binary(self._ffmpeg),
            "-hide_banner", "-loglevel", "error", "-nostdin",
            "-re", "-f", "lavfi", "-i", self.pattern,
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop),
            "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k", "-ac", "1",
            "-f", "hls", "-hls_time", str(seconds), "-hls_list_size", str(keep_segments),
            "-hls_flags", "program_date_time+delete_segments+independent_segments",
            "-hls_segment_filename", str(self.directory / f"{run}_%06d.ts"),
            str(self._live),
        ]  # fmt: skip
        # A session of its own: a Ctrl-C or a SIGTERM to the service's process group does
        # not reach FFmpeg directly; stop() ends it, once, and then writes the playlist.
        self._process = subprocess.Popen(
            dying_with_parent(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(self._lock,),  # the lock is held while this recorder lives
            start_new_session=True,
        )
        self._stopping.clear()
        self._merger = threading.Thread(target=self._merge_loop, name="demo-archive", daemon=True)
        self._merger.start()
        log.info("demo camera %s recording to %s (%d earlier segments kept)",
                 self.config.origin, self.playlist, len(self._previous))  # fmt: skip

    def _forget_strays(self) -> None:
        """Delete segment files no playlist names (a crash between FFmpeg and the merge)."""
        named = {segment.uri for segment in self._previous}
        for path in self.directory.glob("seg_*.ts"):
            if path.name not in named:
                path.unlink(missing_ok=True)

    def _merge(self) -> None:
        """Write the archive's playlist now (atomically: readers never see half of it)."""
        for segment in read_segments(self._live):
            self._recorded.setdefault(segment.uri, segment)
        # FFmpeg deletes its own segments past its list size: those are gone for good.
        live = [s for s in self._recorded.values() if (self.directory / s.uri).exists()]
        self._recorded = {segment.uri: segment for segment in live}
        text, kept, dropped = merged_playlist(self._previous, live, self._clock(), self.config.keep)
        self._previous = kept
        for segment in dropped:
            (self.directory / segment.uri).unlink(missing_ok=True)
        partial = self.playlist.with_name(self.playlist.name + ".tmp")
        partial.write_text(text)
        os.replace(partial, self.playlist)

    def _merge_loop(self) -> None:
        interval = max(0.2, self.config.segment_seconds / 2)
        while not self._stopping.wait(interval):
            try:
                self._merge()
            except OSError as exc:
                log.warning("demo archive playlist not updated: %s", exc)

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
        self._stopping.set()
        if self._merger is not None:
            self._merger.join(10)
            self._merger = None
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
        self._merge()  # the run's last segments, for the next start


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
