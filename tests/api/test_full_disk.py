"""A full disk: reads keep working, an export that runs out of space fails with a clear
message, and older results stay downloadable.

The server's data directory (database and results) is a small tmpfs mounted
for the test (root only; skipped otherwise), filled to the last bytes with a
filler file: a real ENOSPC from the kernel, for SQLite and FFmpeg alike.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import httpx
import pytest

from tests.api.conftest import ARCHIVE_START, CAMERA, sources
from tests.api.harness import (
    RunningServer,
    download,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import archive_clip
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

SIZE = 8 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int = 0) -> Path:
    """Write a filler file until the disk has ``leave`` bytes (or nothing) left."""
    filler = disk / "filler"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as out:
        while True:
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            if free <= leave:
                break
            try:
                out.write(block[: max(4096, min(len(block), free - leave))])
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


def _clip(seconds: float) -> pb.Options:
    start = ARCHIVE_START + timedelta(seconds=0.5)
    return archive_clip(CAMERA, start, start + timedelta(seconds=seconds), fmt=pb.StreamType.MKV)


@pytest.fixture
def server(small_disk: Path, archive_playlist: Path) -> Iterator[RunningServer]:
    settings = make_settings(small_disk / "var", sources=sources(archive_playlist))
    with running_server(settings) as running:
        yield running


def _no_internals(text: str, server: RunningServer) -> None:
    for internal in (
        "INSERT",
        "UPDATE",
        "sqlite",
        "Traceback",
        str(server.settings.server.data_dir),
    ):
        assert internal not in text, text


def test_reads_work_on_a_full_disk_and_an_export_fails_clearly(
    server: RunningServer, small_disk: Path
) -> None:
    stub = server.stub()
    old = start_session(stub, _clip(2))
    old_state = wait_completed(stub, old)
    assert old_state.result.succeeded, old_state.error
    old_file = old_state.result.files[0]

    filler = _fill(small_disk, leave=64 * 1024)  # room for a row, not for a clip
    try:
        new = start_session(stub, _clip(10))
        failed = wait_completed(stub, new)
        assert not failed.result.succeeded
        assert "disk is full" in failed.error, failed.error
        _no_internals(failed.error, server)

        _fill(small_disk)  # not a byte left
        # Reads: state, listing, downloads over both APIs.
        state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=old)).session_state
        assert state.state == spb.S_COMPLETED and state.result.succeeded
        listed = next(iter(stub.ListSessions(spb.ListSessionsRequest())))
        assert {old, new} <= {info.session.id for info in listed.sessions}
        data, _ = download(stub, old, old_file.path)
        assert hashlib.sha256(data).hexdigest() == old_file.sha256
        url = server.http_url
        assert httpx.get(f"{url}/api/v1/sessions").status_code == 200
        assert httpx.get(f"{url}/api/v1/sessions/{old}").status_code == 200
        answer = httpx.get(f"{url}/api/v1/sessions/{old}/files/{old_file.path}")
        assert answer.status_code == 200
        assert hashlib.sha256(answer.content).hexdigest() == old_file.sha256

        # A new session either fits or is refused clearly: never UNKNOWN, never SQL text.
        with contextlib.suppress(grpc.RpcError):
            start_session(stub, _clip(1))
        try:
            start_session(stub, _clip(1))
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
            assert "disk is full" in exc.details()
            _no_internals(exc.details(), server)
    finally:
        filler.unlink()
    # Space again: the old result is intact and exports work.
    data, _ = download(stub, old, old_file.path)
    assert hashlib.sha256(data).hexdigest() == old_file.sha256
    again = wait_completed(stub, start_session(stub, _clip(1)))
    assert again.result.succeeded, again.error
