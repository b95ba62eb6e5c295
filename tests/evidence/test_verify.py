"""`vexport verify`: untouched exports verify; every change is named, and exits non-zero."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from tests import corpus
from vexport.cli import app

runner = CliRunner()


def verify(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", *map(str, args)])
    return result.exit_code, result.output


def verdicts(*args: str | Path) -> tuple[int, dict[str, dict[str, object]]]:
    result = runner.invoke(app, ["verify", "--json", *map(str, args)])
    report = json.loads(result.output)
    return result.exit_code, {f["name"]: f for f in report["files"]}


def media(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if ".manifest." not in p.name)


def flip(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


KINDS = ["mp4", "mkv", "ts", "avi", "mov", "jpeg", "png", "pdf"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_untouched_export_verifies(exports: dict[str, Path], kind: str) -> None:
    code, files = verdicts(exports[kind])
    assert code == 0
    assert files and all(f["status"] == "verified" for f in files.values())
    assert len(files) == len(media(exports[kind])) + 2  # the manifest and its signature


@pytest.mark.parametrize("kind", KINDS)
def test_one_changed_byte_in_an_output_file_is_named(
    copy_of: Callable[[str], Path], kind: str
) -> None:
    directory = copy_of(kind)
    changed = media(directory)[0]
    flip(changed)
    code, files = verdicts(directory)
    assert code == 1
    assert files[changed.name]["status"] == "modified"
    others = {n: f["status"] for n, f in files.items() if n != changed.name}
    assert set(others.values()) == {"verified"}
    _, text = verify(directory)
    assert f"{changed.name}: modified" in text
    assert text.strip().endswith("FAILED")


def test_a_changed_manifest_fails_its_signature(copy_of: Callable[[str], Path]) -> None:
    directory = copy_of("mp4")
    manifest = directory / "export.manifest.json"
    text = manifest.read_text()
    manifest.write_text(text.replace('"instance":"test-node"', '"instance":"test-nodf"'))
    code, files = verdicts(directory)
    assert code == 1
    assert files["export.manifest.json"]["status"] == "modified"
    assert "signature does not match" in str(files["export.manifest.json"]["detail"])
    # Files that match a manifest nobody signed are not verified either.
    assert all(f["status"] != "verified" for f in files.values())


def test_a_changed_signature_is_named(copy_of: Callable[[str], Path]) -> None:
    directory = copy_of("jpeg")
    signature = directory / "export.manifest.sig"
    document = json.loads(signature.read_text())
    raw = document["signature"]
    document["signature"] = ("B" if raw[0] != "B" else "C") + raw[1:]
    signature.write_text(json.dumps(document))
    code, files = verdicts(directory)
    assert code == 1
    assert files["export.manifest.sig"]["status"] == "modified"
    assert files["export.manifest.json"]["status"] == "modified"


def test_a_missing_signature_means_not_signed(copy_of: Callable[[str], Path]) -> None:
    directory = copy_of("pdf")
    (directory / "export.manifest.sig").unlink()
    code, files = verdicts(directory)
    assert code == 1
    assert files["export.manifest.json"]["status"] == "not signed"
    assert files["export.manifest.sig"]["status"] == "missing"


def test_a_removed_part_of_a_split_clip_is_missing(copy_of: Callable[[str], Path]) -> None:
    directory = copy_of("mp4")
    parts = media(directory)
    assert len(parts) >= 2, "the size limit splits the clip"
    parts[1].unlink()
    code, files = verdicts(directory)
    assert code == 1
    assert files[parts[1].name]["status"] == "missing"
    assert files[parts[0].name]["status"] == "verified"


def test_a_foreign_file_is_not_signed(copy_of: Callable[[str], Path]) -> None:
    directory = copy_of("mkv")
    (directory / "export_camera_002.mkv").write_bytes(b"not from the exporter")
    code, files = verdicts(directory)
    assert code == 1
    assert files["export_camera_002.mkv"]["status"] == "not signed"
    _, text = verify(directory)
    assert "export_camera_002.mkv: not signed" in text


def test_files_without_a_manifest_are_not_signed(exports: dict[str, Path]) -> None:
    code, files = verdicts(*media(exports["mkv"]))
    assert code == 1
    assert {f["status"] for f in files.values()} == {"not signed"}


def test_a_trusted_key_that_did_not_sign_fails(exports: dict[str, Path], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = tmp_path / "other.pem"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    code, files = verdicts(exports["jpeg"], "--key", other)
    assert code == 1
    assert "not among the trusted keys" in str(files["export.manifest.json"]["detail"])


# -- the archive --------------------------------------------------------------------------


def test_archive_check_confirms_every_copied_packet_and_names_processed_frames(
    exports: dict[str, Path], archive: corpus.Archive
) -> None:
    manifest = json.loads((exports["mkv"] / "export.manifest.json").read_text())
    (entry,) = manifest["files"]
    copied = sum(r["count"] for r in entry["packets"] if r["kind"] == "copied")
    reencoded = sum(r["count"] for r in entry["packets"] if r["kind"] == "reencoded")
    assert copied > 0 and reencoded > 0  # a smart cut: both ends re-encoded, the middle copied
    processed = entry["frames"]["processed"]
    assert processed[0]["first"] == 0 and processed[-1]["last"] == entry["frames"]["total"] - 1
    code, files = verdicts(exports["mkv"], "--archive", archive.manifest.parent)
    assert code == 0
    verdict = files[entry["name"]]
    segments = dict.fromkeys(r["segment"] for r in entry["packets"] if r["kind"] == "copied")
    assert verdict["archive"] == {
        "ok": True,
        "detail": f"{copied} copied video packets identical to the recording"
        f" ({', '.join(segments)})",
    }
    assert verdict["processed_frames"] == processed
    _, text = verify(exports["mkv"], "--archive", archive.manifest)
    first, last = processed[0], processed[-1]
    assert f"processed frames {first['first']}..{first['last']}" in text
    assert f"{last['first']}..{last['last']}" in text


@pytest.mark.parametrize("kind", ["mp4", "ts", "ts-passthrough"])
def test_archive_check_of_every_part(
    exports: dict[str, Path], archive: corpus.Archive, kind: str
) -> None:
    code, files = verdicts(exports[kind], "--archive", archive.manifest.parent)
    assert code == 0
    manifest = json.loads((exports[kind] / "export.manifest.json").read_text())
    copying = [
        f["name"] for f in manifest["files"] if any(r["kind"] == "copied" for r in f["packets"])
    ]
    assert copying  # (a part of the split MP4 may be all re-encoded: nothing to compare)
    assert all(files[name]["archive"]["ok"] for name in copying)  # type: ignore[index]
    if kind == "ts-passthrough":  # the middle segments went through as bytes, whole
        (entry,) = manifest["files"]
        whole = [r for r in entry["packets"] if r["kind"] == "copied" and r["first"] == 0]
        assert len(whole) >= 3
        clip = (exports[kind] / entry["name"]).read_bytes()
        middle = (archive.manifest.parent / whole[1]["segment"]).read_bytes()
        assert clip.find(middle[188 * 100 + 4 : 188 * 101]) > 0  # a TS packet, CC aside


def test_a_tampered_copied_packet_is_found_in_the_archive_check(
    copy_of: Callable[[str], Path], archive: corpus.Archive
) -> None:
    directory = copy_of("mkv")
    manifest = json.loads((directory / "export.manifest.json").read_text())
    (entry,) = manifest["files"]
    clip = directory / entry["name"]
    first_copied = 0
    for run in entry["packets"]:
        if run["kind"] == "copied":
            break
        first_copied += run["count"]
    target = first_copied + 5
    with av.open(str(clip)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size > 0]
        position, size = packets[target].pos, packets[target].size
    flip(clip, position + size - 3)  # inside the coded slice, past every header
    code, files = verdicts(directory, "--archive", archive.manifest.parent)
    assert code == 1
    verdict = files[entry["name"]]
    assert verdict["status"] == "modified"
    assert verdict["archive"]["ok"] is False  # type: ignore[index]
    assert f"video packet {target} (decode order) differs" in verdict["archive"]["detail"]  # type: ignore[index]


def test_a_changed_archive_segment_is_named(
    exports: dict[str, Path], archive: corpus.Archive, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "archive"
    shutil.copytree(archive.manifest.parent, copy)
    manifest = json.loads((exports["mkv"] / "export.manifest.json").read_text())
    segment = next(r["segment"] for r in manifest["files"][0]["packets"] if r["kind"] == "copied")
    flip(copy / segment)
    code, files = verdicts(exports["mkv"], "--archive", copy)
    assert code == 1
    detail = files[manifest["files"][0]["name"]]["archive"]["detail"]  # type: ignore[index]
    assert detail == f"archive segment {segment} differs from the one the export read"
