"""Result files on local disk: ``<results_dir>/<job>/<attempt>/<file>``.

The embedded default. Files are moved (renamed) from the run's work
directory, which is on the same disk, so taking them costs nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vexport.errors import NotFound
from vexport.private import private_dir
from vexport.results.base import ResultFile, attempt_key, with_key

__all__ = ["LocalResultStore"]


class LocalResultStore:
    def __init__(self, root: Path) -> None:
        self.root = private_dir(root.resolve())

    def put(self, job_id: str, attempt: int, file: ResultFile, path: Path) -> ResultFile:
        key = attempt_key(job_id, attempt, file.file_id)
        target = self.root / key
        private_dir(target.parent)
        shutil.move(path, target)
        os.chmod(target, 0o600)
        return with_key(file, key)

    def path_of(self, file: ResultFile) -> Path:
        """The file on disk; only keys this store made resolve inside its root."""
        path = (self.root / file.key).resolve()
        if not file.key or not path.is_relative_to(self.root):
            raise NotFound(f"file {file.file_id!r} is not in the result store")
        return path

    def open(self, file: ResultFile) -> _LocalReader:
        try:
            handle = open(self.path_of(file), "rb")  # noqa: SIM115 (closed by the reader)
        except FileNotFoundError:
            raise NotFound(f"file {file.file_id!r} is missing from the result store") from None
        return _LocalReader(handle, os.fstat(handle.fileno()).st_size)

    def check(self) -> None:
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError("the results directory is missing or not writable")

    def delete(self, job_id: str, attempt: int | None = None) -> None:
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise ValueError(f"not a job id: {job_id!r}")
        directory = self.root / job_id
        if attempt is not None:
            directory = directory / str(attempt)
        shutil.rmtree(directory, ignore_errors=True)


class _LocalReader:
    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self.size = size

    def chunks(self, start: int, chunk_size: int, end: int | None = None) -> Iterator[bytes]:
        stop = self.size if end is None else min(end, self.size)
        self._handle.seek(start)
        position = start
        while position < stop:
            data = self._handle.read(min(chunk_size, stop - position))
            if not data:
                return
            position += len(data)
            yield data

    def close(self) -> None:
        self._handle.close()
