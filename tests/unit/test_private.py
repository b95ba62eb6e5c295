"""Owner-only files and directories, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vexport.private import private_dir, private_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_made_directories_and_files_are_owner_only_under_a_permissive_umask(
    tmp_path: Path,
) -> None:
    old = os.umask(0)
    try:
        made = private_dir(tmp_path / "a" / "b")
        database = private_file(made / "x.db")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a") == _mode(made) == 0o700
    assert _mode(database) == 0o600


def test_an_existing_file_of_ours_is_tightened_and_a_missing_directory_left_to_its_opener(
    tmp_path: Path,
) -> None:
    loose = tmp_path / "loose"
    loose.write_text("row")
    loose.chmod(0o644)
    assert _mode(private_file(loose)) == 0o600
    assert loose.read_text() == "row"
    assert not private_file(tmp_path / "nowhere" / "x.db").exists()
