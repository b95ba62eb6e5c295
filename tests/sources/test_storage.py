"""Storage readers against the real local disk and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from vexport.redact import redact_url
from vexport.storage import (
    DispatchReader,
    HttpReader,
    StorageError,
    default_reader,
    resolve_url,
)


class _Handler(BaseHTTPRequestHandler):
    counts: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/ok.bin":
            self._answer(200, b"segment bytes")
        elif path.startswith("/flaky/"):  # /flaky/<failures before success>/<key>
            failures = int(path.split("/")[2])
            served = self.counts.get(path, 0)
            self.counts[path] = served + 1
            self._answer(503 if served < failures else 200, b"finally")
        elif path == "/broken.bin":
            self._answer(500, b"oops")
        else:
            self._answer(404, b"nope")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _no_sleep(_: float) -> None:
    pass


def test_reads_plain_paths_and_file_urls(tmp_path: Path) -> None:
    target = tmp_path / "a b.ts"
    target.write_bytes(b"\x47data")
    reader = default_reader()
    assert reader.read(str(target)) == b"\x47data"
    assert reader.read(target.as_uri()) == b"\x47data"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.ts"
    with pytest.raises(StorageError, match=r"nothing\.ts: no such file"):
        default_reader().read(str(missing))


def test_relative_paths_are_refused() -> None:
    with pytest.raises(StorageError, match="absolute"):
        default_reader().read("relative/seg.ts")


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(StorageError, match="unsupported URL scheme 'ftp'"):
        default_reader().read("ftp://host/x.ts")


def test_readers_are_registered_by_scheme(tmp_path: Path) -> None:
    class Memory:
        def read(self, url: str) -> bytes:
            return url.encode()

    reader = DispatchReader({"mem": Memory})
    assert reader.read("mem://bucket/key") == b"mem://bucket/key"
    with pytest.raises(StorageError, match="unsupported"):
        reader.read(str(tmp_path))


@pytest.mark.parametrize(
    ("base", "reference", "expected"),
    [
        ("file:///arch/cam1/index.m3u8", "seg1.ts", "file:///arch/cam1/seg1.ts"),
        ("/arch/cam1/index.m3u8", "seg1.ts", "file:///arch/cam1/seg1.ts"),
        ("/arch/cam1/index.m3u8", "../cam2/seg1.ts", "file:///arch/cam2/seg1.ts"),
        ("https://h/a/b/x.mpd", "v/init.mp4", "https://h/a/b/v/init.mp4"),
        ("https://h/a/b/x.mpd", "/root/s.m4s", "https://h/root/s.m4s"),
        ("https://h/a/x.m3u8", "https://cdn/s.ts?sig=1", "https://cdn/s.ts?sig=1"),
        ("/arch/index.m3u8", "http://cdn/s.ts", "http://cdn/s.ts"),
    ],
)
def test_resolve_url(base: str, reference: str, expected: str) -> None:
    assert resolve_url(base, reference) == expected


def test_redact_url_drops_credentials_and_query() -> None:
    assert (
        redact_url("https://user:pw@host:8443/a/s.ts?X-Amz-Signature=abc#f")
        == "https://host:8443/a/s.ts"
    )
    assert redact_url("/plain/path.ts") == "/plain/path.ts"


def test_http_read(http_base: str) -> None:
    assert default_reader().read(f"{http_base}/ok.bin") == b"segment bytes"


def test_http_404_is_not_retried_and_hides_secrets(http_base: str) -> None:
    reader = HttpReader(sleep=_no_sleep)
    with pytest.raises(StorageError) as caught:
        reader.read(f"{http_base.replace('//', '//u:secret@')}/gone.ts?token=secret")
    message = str(caught.value)
    assert "HTTP 404" in message
    assert "/gone.ts" in message
    assert "secret" not in message


def test_http_5xx_is_retried(http_base: str) -> None:
    delays: list[float] = []
    reader = HttpReader(retries=2, backoff=0.1, sleep=delays.append)
    assert reader.read(f"{http_base}/flaky/2/retried") == b"finally"
    assert delays == [0.1, 0.2]


def test_http_5xx_gives_up_after_retries(http_base: str) -> None:
    delays: list[float] = []
    reader = HttpReader(retries=2, sleep=delays.append)
    with pytest.raises(StorageError, match="HTTP 500"):
        reader.read(f"{http_base}/broken.bin")
    assert len(delays) == 2


def test_connection_refused_is_a_storage_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reader = HttpReader(retries=1, sleep=_no_sleep)
    with pytest.raises(StorageError, match=rf"127\.0\.0\.1:{port}/x\.ts: cannot connect"):
        reader.read(f"http://127.0.0.1:{port}/x.ts")
