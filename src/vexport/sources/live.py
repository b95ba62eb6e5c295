"""Live inputs as streams of wall-clock-timed packets.

One FFmpeg process per connection does what FFmpeg is good at (RTSP, HLS,
DASH, SRT, reconnecting HTTP, encoding test patterns) and hands us NUT on a
pipe; we demux it in-process with PyAV. NUT rather than MPEG-TS because it
carries every codec a camera sends (G.711 included) with exact timestamps,
one packet at a time (see docs/design/media.md, "Live inputs"). A live
packet's wall time is its arrival: the first packet of a connection is
stamped with the time its bytes arrived and later ones by their distance in
presentation time, so jitter of the network does not jitter the timeline.

A dropped connection is reopened after a pause until the consumer stops;
``run`` goes up by one each time, so writers know the timeline jumped.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import av

from vexport.media.ffmpeg import dying_with_parent, ffmpeg_binary
from vexport.media.packets import DEFAULT_FRAME_SECONDS, WALL_EPSILON, TimedPacket
from vexport.media.plan import ExportFailed, RtspTransport
from vexport.redact import redact_text, redact_url

log = logging.getLogger(__name__)

LAVFI_PREFIX = "lavfi:"
RTSP_TRANSPORTS: tuple[RtspTransport, ...] = ("tcp", "udp")
_READ_SIZE = 65536
_MONITOR_PERIOD = 0.1
# Read at the native rate from the first frame: FFmpeg's default initial burst (0.5 s)
# would put the timeline ahead of the clock.
_REAL_TIME = ["-re", "-readrate_initial_burst", "0"]
# FFmpeg's RTSP demuxer loses the presentation time of a connection's first frame (its
# parser finds no byte position to match it to) and its muxers refuse a packet without
# one. That frame is the first of the session (RTP timestamps count from it, so its time
# is 0) and FFmpeg dates its decode time ``-delay`` frames before 0: ``DTS - STARTDTS``
# puts it back at 0. Packets that have a time keep it.
_RTSP_FIRST_PTS = ["-bsf:v", "setts=pts=if(eq(PTS\\,NOPTS)\\,DTS-STARTDTS\\,PTS)"]


def ffmpeg_input_args(
    url: str, *, rtsp_transport: RtspTransport = "tcp"
) -> tuple[list[str], list[str]]:
    """Input options and codec options for ``url``: copy what is encoded, encode what is raw.

    ``rtsp_transport``: RTP over the RTSP connection (``tcp``, interleaved: works
    through NAT and firewalls) or over ``udp`` (lower latency on a LAN); only
    for ``rtsp://`` URLs (``rtsps://`` is always TCP).
    """
    copy = ["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"]
    if url.startswith(LAVFI_PREFIX):
        graph = url[len(LAVFI_PREFIX) :]
        encode = [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-force_key_frames",
            "expr:gte(t,n_forced*1)",
            "-c:a",
            "aac",
        ]
        return [*_REAL_TIME, "-f", "lavfi", "-i", graph], encode
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("rtsp", "rtsps"):
        if rtsp_transport not in RTSP_TRANSPORTS:
            raise ValueError(f"unknown RTSP transport {rtsp_transport!r}")
        transport = "tcp" if scheme == "rtsps" else rtsp_transport
        args = ["-rtsp_transport", transport, "-timeout", "10000000", "-i", url]
        return args, [*copy, *_RTSP_FIRST_PTS]
    if scheme in ("http", "https"):
        reconnect = ["-reconnect", "1", "-reconnect_streamed", "1", "-reconnect_delay_max", "2"]
        return [*reconnect, "-rw_timeout", "10000000", "-i", url], copy
    if scheme in ("", "file"):
        path = urlsplit(url).path if scheme == "file" else url
        return [*_REAL_TIME, "-stream_loop", "-1", "-i", str(Path(path))], copy
    return ["-i", url], copy  # srt://, udp://, rtmp://: FFmpeg's defaults are right


class _PipeReader:
    """File-like view of the pipe for PyAV that remembers when each byte arrived.

    ``BufferedReader.read(n)`` waits for ``n`` bytes, which at camera bitrates
    holds packets back for seconds; ``os.read`` returns as soon as data is in.
    Arrival times by byte offset let packets read during stream probing get
    their true arrival time rather than the time probing ended.
    """

    def __init__(self, pipe: IO[bytes]) -> None:
        self._fd = pipe.fileno()
        self._offset = 0
        self._reads: collections.deque[tuple[int, float]] = collections.deque()

    @staticmethod
    def end_of(packet: Any) -> int | None:
        """The pipe offset just past ``packet``'s data (NUT: ``pos`` is where the data starts)."""
        if packet.pos is None or packet.pos < 0:
            return None
        return int(packet.pos) + int(packet.size)

    def read(self, size: int = _READ_SIZE) -> bytes:
        try:
            data = os.read(self._fd, size if size > 0 else _READ_SIZE)
        except OSError:
            return b""
        if data:
            self._offset += len(data)
            self._reads.append((self._offset, time.time()))
        return data

    def arrival(self, end_offset: int | None) -> float:
        """When the byte before ``end_offset`` arrived (now if unknown); offsets only grow."""
        if end_offset is None:
            return time.time()
        while len(self._reads) > 1 and self._reads[0][0] < end_offset:
            self._reads.popleft()
        return self._reads[0][1] if self._reads else time.time()


class _DecodeTimes:
    """Decode times for the first packets of a stream, which NUT cannot give.

    NUT stores presentation times only; its demuxer derives decode times from
    them by the stream's reorder delay, so with B-frames the first one or two
    packets (the keyframe among them) come without one. They decode before the
    first packet that has one: they are held until it comes and dated one frame
    apart just before it, never after their own presentation time.
    """

    def __init__(self) -> None:
        self._held: dict[int, list[tuple[Any, float]]] = {}

    def add(self, packet: Any, arrival: float) -> list[tuple[Any, float]]:
        held = self._held.setdefault(packet.stream.index, [])
        if packet.dts is None:
            held.append((packet, arrival))
            return []
        if not held:
            return [(packet, arrival)]
        step = max(1, int(packet.duration or 0))
        dts = int(packet.dts)
        for early, _ in reversed(held):
            dts = min(dts - step, int(early.pts))
            early.dts = dts
        released = [*held, (packet, arrival)]
        held.clear()
        return released


class _CompleteFrames:
    """Packets released once no frame shown before them can still be missing.

    A connection that breaks in the middle of a group of pictures with B-frames
    leaves frames whose neighbours in display order never arrived: the P-frame
    sent before its B-frames, without them. A player would jump over the hole.
    Decode times only grow and a frame is never shown before it is decoded, so
    every frame still to come is shown after the latest decode time seen: a
    video packet is safe once that time reaches its presentation time. Packets
    wait (a few frames) in arrival order, audio with them so the streams stay
    interleaved; when the connection ends, the video packets shown after a
    frame that never came are dropped with the frames decoded after them (a
    stream copy cannot keep a frame without the references it needs). Without
    B-frames nothing waits.
    """

    def __init__(self) -> None:
        self._held: collections.deque[TimedPacket] = collections.deque()
        self._last_video: TimedPacket | None = None
        self._decoded_until = -math.inf

    def add(self, tp: TimedPacket) -> list[TimedPacket]:
        self._held.append(tp)
        if tp.kind == "video":
            self._last_video = tp
            self._decoded_until = max(self._decoded_until, tp.wall_dts)
        return self._release()

    def flush(self) -> list[TimedPacket]:
        """At the end of the connection: what is complete; incomplete video is dropped."""
        last = self._last_video
        if last is not None:
            # The next packet, had it come, would have been decoded a frame later and shown
            # then or later: frames are certain up to the first frame time from there on
            # that no packet here fills.
            step = last.duration or DEFAULT_FRAME_SECONDS
            slot = last.wall_dts + step
            for pts in sorted(tp.wall_pts for tp in self._held if tp.kind == "video"):
                if pts < slot - step / 2:
                    continue
                if pts > slot + step / 2:
                    break
                slot = pts + step
            self._decoded_until = slot - step / 2
        released = self._release()
        dropped = sum(1 for tp in self._held if tp.kind == "video")
        if dropped:
            log.info("live input ended inside a group of pictures: %d frames dropped", dropped)
        released += [tp for tp in self._held if tp.kind != "video"]
        self._held.clear()
        return released

    def _release(self) -> list[TimedPacket]:
        released = []
        held = self._held
        while held and (
            held[0].kind != "video" or held[0].wall_pts <= self._decoded_until + WALL_EPSILON
        ):
            released.append(held.popleft())
        return released


class _ArrivalClock:
    """Maps a connection's presentation times to wall time by when packets arrive.

    A packet cannot arrive before it was captured, so the clock is the latest
    one consistent with every arrival: wall = anchor + pts, anchor = min(arrival
    - pts). Servers often open with a burst (a cached GOP, FFmpeg's start-up),
    so packets are held for ``settle`` seconds of arrivals until the anchor has
    seen real-time pacing; after that it is fixed, so wall times never jump.
    After a reconnection the new run starts after the last packet of the old one.
    """

    def __init__(self, settle: float, not_before: float | None = None) -> None:
        self.settle = settle
        self.not_before = not_before
        self.anchor: float | None = None
        self._held: list[tuple[Any, float]] = []
        self._first_arrival: float | None = None
        self._estimate = math.inf

    def add(self, packet: Any, arrival: float, run: int) -> list[TimedPacket]:
        pts = float(packet.pts * packet.time_base)
        if self.anchor is not None:
            return [self._timed(packet, run)]
        if self._first_arrival is None:
            self._first_arrival = arrival
        self._estimate = min(self._estimate, arrival - pts)
        self._held.append((packet, arrival))
        if time.time() - self._first_arrival < self.settle:
            return []
        return self.flush(run)

    def flush(self, run: int) -> list[TimedPacket]:
        if self.anchor is None and self._held:
            self.anchor = self._estimate
            if self.not_before is not None:
                # A new connection cannot show anything from before the last one ended:
                # servers replaying a cached GOP would otherwise overlap the earlier run.
                first = min(float(p.pts * p.time_base) for p, _ in self._held)
                self.anchor = max(self.anchor, self.not_before - first)
        held, self._held = self._held, []
        return [self._timed(packet, run) for packet, _ in held]

    def _timed(self, packet: Any, run: int) -> TimedPacket:
        assert self.anchor is not None
        time_base = packet.time_base
        return TimedPacket(
            packet=packet,
            stream=packet.stream,
            kind=packet.stream.type,
            wall_pts=self.anchor + float(packet.pts * time_base),
            wall_dts=self.anchor + float(packet.dts * time_base),
            duration=float((packet.duration or 0) * time_base),
            is_keyframe=bool(packet.is_keyframe),
            run=run,
        )


class LiveInput:
    """Packets of a live URL, reconnecting until closed.

    Use as a context manager, iterate :meth:`packets`, call :meth:`close`
    from any thread to end the iteration (it kills the FFmpeg process, which
    unblocks a pending read).
    """

    def __init__(
        self,
        url: str,
        *,
        ffmpeg: str | None = None,
        reconnect_delay: float = 1.0,
        first_packet_timeout: float = 10.0,
        stall_timeout: float = 10.0,
        settle_seconds: float = 1.0,
        rtsp_transport: RtspTransport = "tcp",
    ) -> None:
        self.url = url
        self.rtsp_transport = rtsp_transport
        self.display_url = redact_url(url, keep_query=True)
        self._ffmpeg = ffmpeg_binary(ffmpeg)
        self.reconnect_delay = reconnect_delay
        self.first_packet_timeout = first_packet_timeout
        self.stall_timeout = stall_timeout
        self.settle_seconds = settle_seconds
        self.first_packet_at: float | None = None
        self.reconnects = 0
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=12)
        self._last_packet_at: float | None = None
        self._last_wall: float | None = None
        self._timed_out = False
        self._last_error = ""

    def __enter__(self) -> LiveInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        self._kill()

    def stderr_tail(self) -> str:
        return " | ".join(self._stderr_tail)

    @property
    def last_error(self) -> str:
        """FFmpeg's last complaint about this input (credentials removed), or ""."""
        return self.stderr_tail() or self._last_error

    def command(self) -> list[str]:
        input_args, codec_args = ffmpeg_input_args(self.url, rtsp_transport=self.rtsp_transport)
        return [
            self._ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "warning",
            *input_args,
            *codec_args,
            # One packet at a time, no index at the end (a pipe is never read back).
            "-f",
            "nut",
            "-write_index",
            "0",
            "-flush_packets",
            "1",
            "pipe:1",
        ]

    def packets(self) -> Iterator[TimedPacket]:
        """Packets in arrival order; raises ExportFailed if nothing ever arrives in time."""
        started = time.monotonic()
        monitor = threading.Thread(
            target=self._monitor, args=(started,), name="live-input-monitor", daemon=True
        )
        monitor.start()
        run = 0
        try:
            while not self._closed.is_set():
                if self._timed_out:
                    raise ExportFailed(self._failure())
                delivered = False
                for tp in self._connection(run):
                    delivered = True
                    yield tp
                if self._closed.is_set():
                    return
                if self._timed_out:
                    raise ExportFailed(self._failure())
                if delivered:
                    run += 1
                    self.reconnects += 1
                    log.warning(
                        "live input %s dropped (%s); reconnecting in %.1f s",
                        self.display_url,
                        self.stderr_tail() or "end of stream",
                        self.reconnect_delay,
                    )
                if self._closed.wait(self.reconnect_delay):
                    return
        finally:
            self._closed.set()
            self._kill()
            monitor.join(timeout=2)

    def _failure(self) -> str:
        reason = self.stderr_tail() or self._last_error or "nothing was received"
        return (
            f"no video from live input {self.display_url} within"
            f" {self.first_packet_timeout:g} s: {reason}"
        )

    def _connection(self, run: int) -> Iterator[TimedPacket]:
        """One FFmpeg process: its packets until it ends, fails or is killed."""
        proc = self._spawn()
        if proc is None:
            return
        assert proc.stdout is not None and proc.stderr is not None
        stderr_thread = threading.Thread(
            target=self._drain_stderr, args=(proc.stderr,), name="live-input-stderr", daemon=True
        )
        stderr_thread.start()
        reader = _PipeReader(proc.stdout)
        container: Any = None
        tail = _CompleteFrames()
        try:
            try:
                container = av.open(
                    reader,
                    format="nut",
                    options={"analyzeduration": "1000000", "probesize": "500000"},
                )
                not_before = self._last_wall + 0.001 if self._last_wall is not None else None
                clock = _ArrivalClock(self.settle_seconds, not_before)
                decode_times = _DecodeTimes()
                for packet in container.demux():
                    if packet.pts is None or packet.size == 0:
                        continue
                    if packet.stream.type not in ("video", "audio"):
                        continue
                    self._last_packet_at = time.monotonic()
                    if self.first_packet_at is None:
                        self.first_packet_at = time.time()
                    arrival = reader.arrival(_PipeReader.end_of(packet))
                    for dated, arrived in decode_times.add(packet, arrival):
                        for timed in clock.add(dated, arrived, run):
                            yield from self._delivered(tail.add(timed))
            except (av.FFmpegError, OSError, EOFError) as exc:
                # A pipe cut by a kill (close, time-out) is no news about the input.
                killed = self._closed.is_set() or self._timed_out
                if not killed and not isinstance(exc, EOFError):
                    self._stderr_tail.append(redact_text(str(exc), self.url))
            if container is not None and not self._closed.is_set():
                # The connection ended (or broke): what is complete of it still counts.
                for timed in clock.flush(run):
                    yield from self._delivered(tail.add(timed))
                yield from self._delivered(tail.flush())
        finally:
            if container is not None:
                try:
                    container.close()
                except (av.FFmpegError, OSError) as exc:
                    log.debug("closing live demuxer: %s", exc)
            self._reap(proc)
            stderr_thread.join(timeout=2)
            if self._stderr_tail:
                self._last_error = self.stderr_tail()

    def _delivered(self, packets: list[TimedPacket]) -> Iterator[TimedPacket]:
        for timed in packets:
            self._last_wall = max(self._last_wall or timed.wall_pts, timed.wall_pts)
            yield timed

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._closed.is_set():
                return None
            self._stderr_tail.clear()
            try:
                self._proc = subprocess.Popen(
                    dying_with_parent(self.command()),  # a killed server leaves no camera connected
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            except OSError as exc:
                raise ExportFailed(f"cannot run FFmpeg ({self._ffmpeg}): {exc}") from exc
            return self._proc

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            if proc.poll() is None:
                proc.kill()
            self._proc = None
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.error("FFmpeg for %s did not exit after SIGKILL", self.display_url)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()

    def _kill(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()

    def _drain_stderr(self, pipe: IO[bytes]) -> None:
        try:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    self._stderr_tail.append(redact_text(line, self.url))
        except (OSError, ValueError):
            pass  # pipe closed under us while reaping

    def _monitor(self, started: float) -> None:
        """Kill connections that never deliver or that stall; FFmpeg may wait forever."""
        while not self._closed.wait(_MONITOR_PERIOD):
            now = time.monotonic()
            if self.first_packet_at is None:
                if now - started > self.first_packet_timeout:
                    self._timed_out = True
                    self._kill()
                    return
            elif self._last_packet_at is not None and now - self._last_packet_at > max(
                self.stall_timeout, self.reconnect_delay + self.first_packet_timeout
            ):
                self._last_packet_at = now  # one kill per stall; the reconnect resets it
                self._kill()
