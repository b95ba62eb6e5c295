"""Files and directories only the server's user may read: the database, results, keys.

A session row names who exported which camera when, a result file is a
recording of people, and the data directory holds keys: none of it is for
the other users of the machine. Everything vexport creates under its data
directory is owner-only (directories 0700, files 0600), whatever the umask,
and the SQLite database is created 0600 before SQLite opens it (SQLite gives
its ``-wal`` and ``-shm`` files the database file's mode).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "private_file"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner may enter (made, with its parents, if absent).

    Only directories vexport made or owns are tightened: a parent it did not
    make (``/srv``) is left alone.
    """
    missing = [parent for parent in (path, *path.parents) if not parent.exists()]
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for made in missing:
        os.chmod(made, DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner may read; created empty (0600) if absent."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)
    except FileNotFoundError:
        pass  # no such directory: whoever opens the file next says so in its own words
    return path


def _tighten(path: Path, mode: int) -> None:
    """Drop the group's and others' bits of our own file (another user's is left alone)."""
    info = path.stat()
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077 & 0o7777 | (mode & 0o700))
