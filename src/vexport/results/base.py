"""The result store protocol and the description of one result file.

A worker hands the store the files it produced in its work directory
(``put``); the store keeps them under a key of its own (job, attempt, file),
and gives them back as a stream of bytes from any offset (``open``), which is
all DownloadFile and HTTP ``Range`` need. Keys are the store's business:
clients only ever see a file's ``file_id`` (the contract's ``path``), looked
up in the job's own list of files, so no request can name anything else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from vexport.media.plan import ProducedFile

__all__ = ["ResultFile", "ResultReader", "ResultStore", "describe", "sha256_of"]

_HASH_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class ResultFile:
    """One downloadable file of a job. ``file_id`` is the contract's opaque ``path``."""

    file_id: str
    origin: str
    size: int
    first_frame: datetime
    last_frame: datetime
    mime_type: str
    sha256: str
    # s3://bucket/key of the delivered copy (cloud_export), else empty.
    cloud_id: str = ""
    # Where the result store keeps it (relative to the store); set by ``put``.
    key: str = ""


class ResultReader(Protocol):
    """An open result file: its bytes from any offset, in blocks, without holding it whole."""

    size: int

    def chunks(self, start: int, chunk_size: int, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start`` .. ``end`` (exclusive; None: to the end) in blocks of exactly
        ``chunk_size`` (the last may be shorter). Blocking: call it from a thread."""
        ...

    def close(self) -> None: ...


class ResultStore(Protocol):
    def put(self, job_id: str, attempt: int, file: ResultFile, path: Path) -> ResultFile:
        """Take the file at ``path`` (the store may move it); the description with its key."""
        ...

    def open(self, file: ResultFile) -> ResultReader:
        """The stored file; ``NotFound`` if it is gone."""
        ...

    def delete(self, job_id: str, attempt: int | None = None) -> None:
        """Remove a job's files (only one attempt's, if given); missing files are no error."""
        ...

    def check(self) -> None:
        """Raise (a message without secrets or paths) if the store cannot be reached; /readyz."""
        ...


def describe(produced: ProducedFile) -> ResultFile:
    """A produced file as a result: its name, size and SHA-256 (no key yet)."""
    path = produced.path
    return ResultFile(
        file_id=path.name,
        origin=produced.origin,
        size=path.stat().st_size,
        first_frame=produced.first_frame,
        last_frame=produced.last_frame,
        mime_type=produced.mime_type,
        sha256=sha256_of(path),
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def with_key(file: ResultFile, key: str) -> ResultFile:
    return replace(file, key=key)


def exact_blocks(reads: Iterator[bytes], chunk_size: int) -> Iterator[bytes]:
    """Re-cut a stream of reads of any size into blocks of exactly ``chunk_size``."""
    pending = bytearray()
    for data in reads:
        pending.extend(data)
        while len(pending) >= chunk_size:
            yield bytes(pending[:chunk_size])
            del pending[:chunk_size]
    if pending:
        yield bytes(pending)


def attempt_key(job_id: str, attempt: int, file_id: str) -> str:
    """``<job>/<attempt>/<file>``: a re-run never overwrites the files of another attempt."""
    for part in (job_id, file_id):
        if not part or "/" in part or "\\" in part or part.startswith(".") or "\x00" in part:
            raise ValueError(f"not a safe name: {part!r}")
    return f"{job_id}/{attempt}/{file_id}"
