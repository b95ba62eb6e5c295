"""The package as a user gets it: sdist and wheel built from a clean tree, installed fresh.

The source tree is copied without any generated module (what a clone of the
repository holds), the sdist is built with setuptools' PEP 517 backend, and
the wheel is built from that sdist by ``pip wheel`` in pip's own isolated
build environment, so the build hook (``setup.py``) and ``build-system.requires``
are what produce the gRPC modules. The wheel goes into a new virtual
environment with ``--no-deps``; its dependencies come from the test
environment's site-packages through a ``.pth`` line (downloading every
dependency again would test PyPI, not vexport). A ``.pth`` line adds a
directory without running the ``.pth`` files inside it, so the development
tree's editable install stays out: the test checks that ``vexport`` is
imported from the new environment. Then ``vexport serve`` from that
environment runs a whole session over gRPC: StartSession, GetSessionState
until completed, DownloadFile, the file probed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import av
import grpc
import pytest

from tests.api.harness import download, free_port, start_session, wait_completed
from tests.media_fixtures import make_hls_archive
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ORIGIN = "hosts/pkg/DeviceIpint.1/SourceEndpoint.video:0:0"
STORAGE = "hosts/pkg/MultimediaStorage.Main/MultimediaStorage"
GENERATED = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi", "_pb2_grpc.pyi")


def _protos() -> list[str]:
    """Every .proto of the package, as a module path stem (``vexport/protos/.../Export``)."""
    return sorted(
        str(path.relative_to(ROOT / "src").with_suffix(""))
        for path in (ROOT / "src" / "vexport" / "protos").rglob("*.proto")
    )


def _clean_tree(target: Path) -> Path:
    """The files git tracks (plus this branch's own uncommitted ones), without generated code."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if name.startswith(("tests/", "bench/")) or "_pb2" in name:
            continue
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel) built from a clean copy of the tree."""
    work = tmp_path_factory.mktemp("build")
    tree = _clean_tree(work / "tree")
    assert not list((tree / "src").rglob("*_pb2*")), "the clean tree has generated code"
    subprocess.run(
        [sys.executable, "-c",
         "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])",
         str(work / "dist")],
        cwd=tree, check=True, capture_output=True,
    )  # fmt: skip
    (sdist,) = (work / "dist").glob("vexport-*.tar.gz")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(work / "dist"),
         str(sdist)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (work / "dist").glob("vexport-*.whl")
    return sdist, wheel


def test_sdist_and_wheel_carry_the_generated_grpc_code(built: tuple[Path, Path]) -> None:
    sdist, wheel = built
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    protos = _protos()
    assert len(protos) >= 3
    for stem in protos:
        for suffix in GENERATED:
            assert f"src/{stem}{suffix}" in in_sdist, f"sdist lacks {stem}{suffix}"
            assert f"{stem}{suffix}" in in_wheel, f"wheel lacks {stem}{suffix}"
        assert f"{stem}.proto" in in_wheel
    assert "vexport/py.typed" in in_wheel
    assert "vexport/fonts/DejaVuSans.ttf" in in_wheel


@pytest.fixture(scope="module")
def fresh_venv(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, wheel = built
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies of the test environment, after the new environment's own packages.
    (Path(site) / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEXPORT_", "PYTHON"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    return env


def test_version_and_the_import_come_from_the_fresh_environment(fresh_venv: Path) -> None:
    import vexport

    env = _clean_env()
    version = subprocess.run(
        [str(fresh_venv / "bin" / "vexport"), "--version"],
        env=env, cwd=fresh_venv, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert version.stdout.strip() == f"vexport {vexport.__version__}"
    where = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c",
         "from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as m\n"
         "print(m.__file__)"],
        env=env, cwd=fresh_venv, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.strip().startswith(str(fresh_venv)), where.stdout


@pytest.fixture
def installed_server(fresh_venv: Path, tmp_path: Path) -> Iterator[str]:
    playlist = make_hls_archive(tmp_path / "archive", START, 4.0)
    port = free_port()
    config = tmp_path / "vexport.toml"
    config.write_text(
        f'[server]\ngrpc = "127.0.0.1:{port}"\nhttp = "127.0.0.1:0"\n'
        f'data_dir = "{tmp_path / "var"}"\n'
        f'[[sources]]\norigin = "{ORIGIN}"\n'
        f'  [[sources.archives]]\n  storage = "{STORAGE}"\n  url = "{playlist.as_uri()}"\n'
    )
    server = subprocess.Popen(
        [str(fresh_venv / "bin" / "vexport"), "serve", "--config", str(config)],
        env=_clean_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    target = f"127.0.0.1:{port}"
    try:
        channel = grpc.insecure_channel(target)
        try:
            grpc.channel_ready_future(channel).result(timeout=60)
        except grpc.FutureTimeoutError:
            server.kill()
            _, err = server.communicate(timeout=10)
            raise AssertionError(f"vexport serve never listened: {err.decode()[-2000:]}") from None
        finally:
            channel.close()
        yield target
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


def test_a_whole_session_against_vexport_serve_from_the_wheel(
    installed_server: str, tmp_path: Path
) -> None:
    options = pb.Options()
    options.archive.sources.add(origin=ORIGIN)
    options.archive.start_timestamp = "20260101T120000.500"
    options.archive.end_timestamp = "20260101T120002.500"
    options.stream.format = pb.StreamType.MP4
    with grpc.insecure_channel(installed_server) as channel:
        stub = spb_grpc.ExportServiceStub(channel)
        session_id = start_session(stub, options)
        state = wait_completed(stub, session_id, timeout=60)
        assert state.result.succeeded, state
        # The clip, then the signed manifest and its signature (evidence is on by default).
        clips = [f for f in state.result.files if f.path.endswith(".mp4")]
        assert len(clips) == 1 and len(state.result.files) == 3, state.result.files
        assert any(f.path.endswith(".manifest.sig") for f in state.result.files)
        (file,) = clips
        data, _ = download(stub, session_id, file.path)
    assert len(data) == file.size
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(data)
    with av.open(str(clip)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 2 * 25 + 1  # both ends are shown frames
