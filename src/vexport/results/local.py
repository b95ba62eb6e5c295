"""Result files on local disk: one directory per session under ``results_dir``.

Downloads never join a client string onto a path: the session row lists the
files and their ids, and a file is opened only by looking its id up there, so
nothing outside the session's directory can be served.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from vexport.media.plan import ProducedFile
from vexport.sessions.model import ResultFile

_HASH_BLOCK = 1024 * 1024


class LocalResultStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def session_dir(self, session_id: str) -> Path:
        if not session_id or "/" in session_id or session_id.startswith("."):
            raise ValueError(f"not a session id: {session_id!r}")
        return self.root / session_id

    def register(self, session_id: str, produced: ProducedFile) -> ResultFile:
        """Describe a file the media layer wrote into the session's directory."""
        path = produced.path.resolve()
        directory = self.session_dir(session_id)
        if path.parent != directory:
            raise ValueError(f"{path} is not in the results of session {session_id}")
        return ResultFile(
            file_id=path.name,
            origin=produced.origin,
            size=path.stat().st_size,
            first_frame=produced.first_frame,
            last_frame=produced.last_frame,
            mime_type=produced.mime_type,
            sha256=sha256_of(path),
        )

    def path_of(self, session_id: str, file: ResultFile) -> Path:
        return self.session_dir(session_id) / file.file_id

    def delete_session(self, session_id: str) -> None:
        shutil.rmtree(self.session_dir(session_id), ignore_errors=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
