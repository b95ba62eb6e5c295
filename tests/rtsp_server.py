"""A real RTSP server for the tests: GStreamer's ``gst-rtsp-server``, as cameras speak it.

The server sends files that FFmpeg encoded beforehand (x264/x265 with their
default B-frames, G.711 or AAC audio) at real time, without re-encoding them,
the way a camera's encoder output goes out: SPS/PPS (and VPS) in-band before
every keyframe, RTP timestamps from the presentation times, RTCP sender
reports, over RTP/AVP/TCP (interleaved) or RTP/AVP over UDP.

The project's virtualenv cannot import ``gi`` (PyGObject comes from Debian),
so the server runs as a child process under Debian's own ``/usr/bin/python3``
(this file is also its script: everything GStreamer lives in ``_serve``) and
the tests talk to it over real sockets only.

- ``RtspServer(mounts, credentials=...)``: a context manager that starts the
  server on a free loopback port and yields itself; ``url(path)`` gives the
  ``rtsp://`` URL of a mount (with credentials if asked), ``events`` the
  server's log (``DESCRIBE /path``, ``SETUP /path <Transport header>``,
  ``PLAY /path``, ``DROP /path``) and ``wait_event(prefix)`` waits for one.
- ``Mount``: one path: its file, codecs, allowed transports, and
  ``drop_after`` seconds after which the server closes the first ``drops``
  connections (a camera that reboots or a link that
  fails mid-clip).
- ``gstreamer_missing()``: why the server cannot run here (None when it can),
  for a clean skip on machines without the Debian packages (``make test``
  installs them when run as root).

Each connection gets its own pipeline, so every (re)connection starts again
at the file's first frame (an IDR), as a camera starts a new session with a
keyframe.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

SYSTEM_PYTHON = "/usr/bin/python3"
# Debian packages the server needs (the Makefile's TEST_DEB_PACKAGES installs them).
GST_ELEMENTS = (
    "qtdemux",
    "h264parse",
    "h265parse",
    "aacparse",
    "rtph264pay",
    "rtph265pay",
    "rtppcmupay",
    "rtppcmapay",
    "rtpmp4gpay",
)
_START_TIMEOUT = 15.0

VideoCodecName = str  # "h264" | "h265"
AudioCodecName = str  # "pcmu" | "pcma" | "aac" | ""


@dataclass(frozen=True)
class Mount:
    """One RTSP path of the server."""

    path: str
    file: Path
    video: VideoCodecName = "h264"
    audio: AudioCodecName = ""
    transports: tuple[str, ...] = ("tcp", "udp")
    # Close each of the first ``drops`` connections this long after its PLAY.
    drop_after: float | None = None
    drops: int = 1


@dataclass
class Credentials:
    user: str
    password: str


@dataclass
class _Config:
    mounts: list[dict[str, object]] = field(default_factory=list)
    user: str = ""
    password: str = ""


@functools.cache
def gstreamer_missing() -> str | None:
    """Why the GStreamer RTSP server cannot run on this machine, or None when it can."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} not found"
    check = subprocess.run(
        [SYSTEM_PYTHON, __file__, "--check"], capture_output=True, text=True, timeout=30
    )
    if check.returncode == 0:
        return None
    return check.stderr.strip().splitlines()[-1] if check.stderr.strip() else "check failed"


class RtspServer:
    """The server process; use as a context manager.

    With ``credentials`` every mount asks for HTTP basic authentication.
    """

    def __init__(self, mounts: Sequence[Mount], *, credentials: Credentials | None = None) -> None:
        self.mounts = {m.path: m for m in mounts}
        self.credentials = credentials
        self.port = 0
        self.events: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._stderr_thread: threading.Thread | None = None

    def __enter__(self) -> RtspServer:
        config = _Config(mounts=[_mount_json(m) for m in self.mounts.values()])
        if self.credentials is not None:
            config.user = self.credentials.user
            config.password = self.credentials.password
        self._proc = subprocess.Popen(
            [SYSTEM_PYTHON, __file__, json.dumps(asdict(config))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "GST_DEBUG": os.environ.get("GST_DEBUG", "1")},
        )
        self._reader = threading.Thread(target=self._read, name="rtsp-server-out", daemon=True)
        self._reader.start()
        self._stderr_thread = threading.Thread(
            target=self._drain_stderr, name="rtsp-server-err", daemon=True
        )
        self._stderr_thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self.port:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the RTSP server did not start: {self._stderr()}")
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for thread in (self._reader, self._stderr_thread):
            if thread is not None:
                thread.join(timeout=5)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()

    def url(self, path: str, *, credentials: Credentials | None = None) -> str:
        userinfo = ""
        if credentials is not None:
            userinfo = f"{quote(credentials.user, safe='')}:{quote(credentials.password, safe='')}@"
        return f"rtsp://{userinfo}127.0.0.1:{self.port}{path}"

    def wait_event(self, prefix: str, timeout: float = 10.0) -> str:
        """The first event that starts with ``prefix``, waiting for it if need be."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if event.startswith(prefix):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no server event {prefix!r} in {self.events}")

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.strip()
            if line.startswith("PORT "):
                self._lines.put(line)
            elif line:
                self.events.append(line)
        self._lines.put(None)

    def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            self._stderr_tail.append(raw.rstrip())

    def _stderr(self) -> str:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=2)
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=2)
        return "\n".join(self._stderr_tail)


def _mount_json(mount: Mount) -> dict[str, object]:
    data = asdict(mount)
    data["file"] = str(mount.file)
    data["transports"] = list(mount.transports)
    return data


# -- the server process (Debian's python3 with gi) ------------------------------------------

_VIDEO = {
    "h264": "h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1",
    "h265": "h265parse ! rtph265pay name=pay0 pt=96 config-interval=-1",
}
_AUDIO = {
    "pcmu": "rtppcmupay name=pay1",
    "pcma": "rtppcmapay name=pay1",
    "aac": "aacparse ! rtpmp4gpay name=pay1 pt=97",
}


def _launch(mount: dict[str, object]) -> str:
    """The media pipeline of a mount: the file demuxed and payloaded, never re-encoded."""
    video = _VIDEO[str(mount["video"])]
    parts = [f'filesrc location="{mount["file"]}" ! qtdemux name=demux']
    parts.append(f"demux.video_0 ! queue ! {video}")
    audio = str(mount.get("audio") or "")
    if audio:
        parts.append(f"demux.audio_0 ! queue ! {_AUDIO[audio]}")
    return "( " + " ".join(parts) + " )"


def _check() -> int:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import Gst, GstRtspServer  # noqa: F401

    Gst.init(None)
    missing = [name for name in GST_ELEMENTS if Gst.ElementFactory.find(name) is None]
    if missing:
        print(f"GStreamer elements missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def _serve(config: dict[str, object]) -> None:  # pragma: no cover - runs under /usr/bin/python3
    import signal

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    Gst.init(None)
    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    mounts = server.get_mount_points()
    lower = {"tcp": GstRtsp.RTSPLowerTrans.TCP, "udp": GstRtsp.RTSPLowerTrans.UDP}
    mount_list: list[dict[str, object]] = config["mounts"]  # type: ignore[assignment]
    user, password = str(config.get("user") or ""), str(config.get("password") or "")
    if user:
        # No default token: a client without credentials is challenged (401), as cameras do.
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
    drops_left: dict[str, int] = {}
    for mount in mount_list:
        path = str(mount["path"])
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(_launch(mount))
        factory.set_shared(False)
        protocols = GstRtsp.RTSPLowerTrans(0)
        for name in mount["transports"]:  # type: ignore[attr-defined]
            protocols |= lower[name]
        factory.set_protocols(protocols)
        if user:
            factory.add_role_from_structure(
                Gst.Structure.from_string(
                    "user, media.factory.access=(boolean)true,"
                    " media.factory.construct=(boolean)true"
                )[0]
            )
        mounts.add_factory(path, factory)
        if mount.get("drop_after") is not None:
            drops_left[path] = int(mount.get("drops") or 1)
    by_path = {str(m["path"]): m for m in mount_list}

    def say(text: str) -> None:
        print(text, flush=True)

    def mount_of(ctx: object) -> str:
        uri = ctx.uri  # type: ignore[attr-defined]
        path = uri.abspath if uri is not None else ""
        for candidate in sorted(by_path, key=len, reverse=True):
            if path == candidate or path.startswith(candidate + "/"):
                return candidate
        return path

    def on_client(_server: object, client: object) -> None:
        def on_describe(_client: object, ctx: object) -> None:
            say(f"DESCRIBE {mount_of(ctx)}")

        def on_setup(_client: object, ctx: object) -> None:
            found, transport = ctx.request.get_header(  # type: ignore[attr-defined]
                GstRtsp.RTSPHeaderField.TRANSPORT, 0
            )
            say(f"SETUP {mount_of(ctx)} {transport if found == GstRtsp.RTSPResult.OK else '?'}")

        def on_play(_client: object, ctx: object) -> None:
            path = mount_of(ctx)
            say(f"PLAY {path}")
            left = drops_left.get(path, 0)
            if left > 0:
                drops_left[path] = left - 1
                delay = float(by_path[path]["drop_after"])  # type: ignore[arg-type]

                def drop() -> bool:
                    say(f"DROP {path}")
                    client.close()  # type: ignore[attr-defined]
                    return False

                GLib.timeout_add(int(delay * 1000), drop)

        client.connect("describe-request", on_describe)  # type: ignore[attr-defined]
        client.connect("setup-request", on_setup)  # type: ignore[attr-defined]
        client.connect("play-request", on_play)  # type: ignore[attr-defined]

    server.connect("client-connected", on_client)
    if server.attach(None) == 0:
        print("cannot attach the RTSP server", file=sys.stderr)
        sys.exit(1)

    # Sessions of clients that went away are removed by the pool's timeout check.
    def clean() -> bool:
        server.get_session_pool().cleanup()
        return True

    GLib.timeout_add(500, clean)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    say(f"PORT {server.get_bound_port()}")
    loop.run()


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(_check())
    _serve(json.loads(sys.argv[1]))
