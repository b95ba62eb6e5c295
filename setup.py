"""Build hook: the gRPC modules are generated from the ``.proto`` files at build time.

``pyproject.toml`` holds all the metadata; this file only adds one step to
setuptools' ``build_py`` (wheels and editable installs) and ``sdist``: run
``grpc_tools.protoc`` (with mypy-protobuf's plugin for the ``.pyi`` stubs) on
every ``.proto`` under ``src/vexport/protos``. The generated modules are never
committed, so they cannot drift from the ``.proto`` files, and a ``.proto``
added on any branch is picked up without a regeneration step
(``docs/design/operations.md``, "Packaging").
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"


def _mypy_plugin() -> str | None:
    """``protoc-gen-mypy`` of the build environment, wherever its scripts went."""
    found = shutil.which("protoc-gen-mypy")
    if found:
        return found
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / "protoc-gen-mypy"
        if candidate.exists():
            return str(candidate)
    return None


def generate_grpc_code(source_root: Path, out: Path) -> list[Path]:
    """Generate ``*_pb2.py``, ``*_pb2_grpc.py`` (and their ``.pyi``) into ``out``."""
    from importlib import resources

    from grpc_tools import protoc

    protos = sorted(
        str(path.relative_to(source_root))
        for path in (source_root / "vexport" / "protos").rglob("*.proto")
    )
    if not protos:
        raise RuntimeError(f"no .proto files under {source_root / 'vexport' / 'protos'}")
    include = str(resources.files("grpc_tools") / "_proto")
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{source_root}",
        f"-I{include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
    ]
    plugin = _mypy_plugin()
    if plugin is not None:
        args += [f"--plugin=protoc-gen-mypy={plugin}", f"--mypy_out={out}"]
        grpc_plugin = Path(plugin).with_name("protoc-gen-mypy_grpc")
        if grpc_plugin.exists():
            args += [f"--plugin=protoc-gen-mypy_grpc={grpc_plugin}", f"--mypy_grpc_out={out}"]
    # protoc resolves the inputs against -I; run from the source root.
    if protoc.main([*args, *(str(source_root / name) for name in protos)]) != 0:
        raise RuntimeError("grpc_tools.protoc failed on the .proto files")
    return [out / name for name in protos]


class BuildPyWithGrpc(build_py):
    """``build_py`` that also writes the generated gRPC modules."""

    def run(self) -> None:
        super().run()
        # Editable installs import from src/: generate there; wheels: into build_lib.
        target = SRC if getattr(self, "editable_mode", False) else Path(self.build_lib)
        generate_grpc_code(SRC, target)


class SdistWithGrpc(sdist):
    """An sdist that carries the generated modules too (installable without grpcio-tools)."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        generate_grpc_code(SRC, Path(base_dir) / "src")


setup(cmdclass={"build_py": BuildPyWithGrpc, "sdist": SdistWithGrpc})
