"""Checking an export without the server: signature, hashes, completeness, the archive.

``verify_parts`` takes the parts a recipient holds (files, a directory, an
evidence ZIP: ``collect_parts``) and answers one verdict per file:

- ``verified``: listed in a correctly signed manifest, same size and SHA-256;
- ``modified``: listed, but its bytes differ (the manifest or its signature too);
- ``missing``: listed in the manifest, not among the parts;
- ``not signed``: among the parts, listed in no manifest (a foreign file).

With ``archive`` (directories or URLs where the recorded segments are),
every copied video packet of every clip is compared with the packet of the
segment the manifest says it came from, byte for byte (the coded pictures:
NAL units of the slices, whatever framing the container uses), the segment
first checked against the SHA-256 taken when the export read it. The
re-encoded frames are named by their frame numbers. docs/design/evidence.md
says what each check proves.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from vexport.evidence.keys import PublicKey
from vexport.evidence.signing import SignatureCheck, check_signature
from vexport.media import nal
from vexport.media.archive_source import segment_video_packets
from vexport.sources.archive_index import ArchiveError
from vexport.storage import StorageError, StorageReader, default_reader, resolve_url
from vexport.storage.base import is_plain_path

__all__ = [
    "PACKAGE_EXTRAS",
    "FileVerdict",
    "Part",
    "Report",
    "collect_parts",
    "verify_parts",
]

PACKAGE_EXTRAS = ("README.txt", "public-key.pem", "certificate-chain.pem")
"""Files an evidence package adds for the recipient; no manifest lists them."""

_MANIFEST_SUFFIX = ".manifest.json"
_SIGNATURE_SUFFIX = ".manifest.sig"


@dataclass(frozen=True)
class Part:
    """One file the recipient holds: its name and how to read it (a path or a ZIP member)."""

    name: str
    read: Callable[[], bytes]
    path: Path | None = None
    # (SHA-256 hex, size) without holding the file whole (a server's stored files).
    digest: Callable[[], tuple[str, int]] | None = None


@dataclass
class FileVerdict:
    name: str
    status: str  # verified | modified | missing | not signed
    detail: str = ""
    processed: list[dict[str, Any]] = field(default_factory=list)
    archive: str = ""  # the archive check's outcome, if asked
    archive_ok: bool | None = None
    c2pa: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.status == "verified"
            and self.archive_ok is not False
            and not self.c2pa.startswith("invalid")
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status, "ok": self.ok}
        if self.detail:
            data["detail"] = self.detail
        if self.processed:
            data["processed_frames"] = self.processed
        if self.archive:
            data["archive"] = {"ok": self.archive_ok, "detail": self.archive}
        if self.c2pa:
            data["c2pa"] = self.c2pa
        return data

    def line(self) -> str:
        text = f"{self.name}: {self.status}"
        if self.detail:
            text += f" ({self.detail})"
        if self.processed:
            text += "; processed frames " + ", ".join(
                f"{p['first']}..{p['last']} ({p.get('why', '')})" for p in self.processed
            )
        if self.archive:
            text += f"; archive: {self.archive}"
        if self.c2pa:
            text += f"; C2PA: {self.c2pa}"
        return text


@dataclass
class Report:
    files: list[FileVerdict] = field(default_factory=list)
    signer: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.files) and all(f.ok for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdict": "verified" if self.ok else "failed",
            "signer": self.signer,
            "files": [f.to_json() for f in self.files],
        }

    def lines(self) -> list[str]:
        out = [f.line() for f in self.files]
        if self.signer:
            out.append(f"signed by {self.signer}")
        out.append("VERIFIED" if self.ok else "FAILED")
        return out


def collect_parts(paths: Iterable[Path], password: str | None = None) -> list[Part]:
    """The parts in ``paths``: files as they are, directories' files, ZIP packages' members."""
    parts: list[Part] = []
    for path in paths:
        if path.is_dir():
            parts += [_file_part(p) for p in sorted(path.iterdir()) if p.is_file()]
        elif path.suffix.lower() == ".zip" and path.is_file():
            parts += _zip_parts(path, password)
        else:
            parts.append(_file_part(path))
    return parts


def _file_part(path: Path) -> Part:
    return Part(path.name, path.read_bytes, path)


def _zip_parts(path: Path, password: str | None) -> list[Part]:
    import pyzipper

    archive = pyzipper.AESZipFile(path)
    if password:
        archive.setpassword(password.encode("utf-8"))
    names = [i.filename for i in archive.infolist() if not i.is_dir()]

    def reader(name: str) -> Callable[[], bytes]:
        return lambda: bytes(archive.read(name))

    return [Part(Path(n).name, reader(n)) for n in names]


def verify_parts(
    parts: Sequence[Part],
    *,
    trusted: Sequence[PublicKey] = (),
    archive: Sequence[str] = (),
    archive_of: Mapping[str, Sequence[str]] | None = None,
    reader: StorageReader | None = None,
    c2pa_trust: bytes | None = None,
) -> Report:
    """``archive``: where the segments are (every file); ``archive_of``: per origin, which
    wins (a server knows each source's archive); ``reader`` reads them (default: file,
    HTTP(S) and S3 with boto3's own credentials)."""
    report = Report()
    by_name = {p.name: p for p in parts}
    manifests = [p for p in parts if p.name.endswith(_MANIFEST_SUFFIX)]
    claimed: set[str] = set()
    for part in manifests:
        claimed.add(part.name)
        _verify_manifest(
            part, by_name, claimed, report, trusted, archive, archive_of or {}, reader, c2pa_trust
        )
    for part in parts:
        if part.name in claimed or part.name in PACKAGE_EXTRAS:
            continue
        if part.name.endswith(_SIGNATURE_SUFFIX):
            detail = "a signature without its manifest"
        else:
            detail = "listed in no manifest" if manifests else "no manifest among the files"
        report.files.append(FileVerdict(part.name, "not signed", detail))
    return report


def _verify_manifest(
    part: Part,
    by_name: dict[str, Part],
    claimed: set[str],
    report: Report,
    trusted: Sequence[PublicKey],
    archive: Sequence[str],
    archive_of: Mapping[str, Sequence[str]],
    reader: StorageReader | None,
    c2pa_trust: bytes | None,
) -> None:
    data = part.read()
    signature_name = part.name[: -len(_MANIFEST_SUFFIX)] + _SIGNATURE_SUFFIX
    signature = by_name.get(signature_name)
    claimed.add(signature_name)
    if signature is None:
        report.files.append(FileVerdict(part.name, "not signed", "its signature file is missing"))
        report.files.append(FileVerdict(signature_name, "missing"))
        check = SignatureCheck(False)
    else:
        check = check_signature(data, signature.read(), trusted)
        if check.valid and check.trusted is not False:
            report.files.append(FileVerdict(part.name, "verified", "manifest, signature valid"))
            report.files.append(FileVerdict(signature_name, "verified", f"key {check.key_id}"))
            report.signer = check.key_id + (
                " (self-signed: compare the key id with the exporter's published keys)"
                if check.self_signed and check.trusted is None
                else ""
            )
        else:
            status = "modified" if check.reason.startswith("the signature does not") else "invalid"
            report.files.append(FileVerdict(part.name, "modified", check.reason))
            report.files.append(FileVerdict(signature_name, status, check.reason))
    try:
        manifest = json.loads(data)
        files = list(manifest["files"])
    except (ValueError, KeyError, TypeError):
        report.files.append(FileVerdict(part.name, "modified", "not a readable manifest"))
        return
    untrusted = "" if check.valid and check.trusted is not False else "; the manifest is not"
    segments = _segment_digests(manifest)
    for entry in files:
        name = str(entry.get("name", ""))
        claimed.add(name)
        held = by_name.get(name)
        processed = list(entry.get("frames", {}).get("processed", []))
        if held is None:
            report.files.append(FileVerdict(name, "missing", "listed in the manifest" + untrusted))
            continue
        source: Path | bytes
        if held.path is not None:
            source = held.path
            digest, size = _file_digest(held.path)
        elif held.digest is not None:
            source = b""
            digest, size = held.digest()
        else:
            source = held.read()
            digest, size = hashlib.sha256(source).hexdigest(), len(source)
        if digest == entry.get("sha256") and size == entry.get("size"):
            verdict = FileVerdict(
                name, "verified" if not untrusted else "modified", processed=processed
            )
            if untrusted:
                verdict.detail = "its hash matches a manifest whose signature does not"
        else:
            verdict = FileVerdict(
                name,
                "modified",
                f"SHA-256 {digest[:16]}…, the manifest says {str(entry.get('sha256'))[:16]}…",
                processed=processed,
            )
        bases = list(archive_of.get(str(entry.get("origin", "")), ())) or list(archive)
        copies = any(r.get("kind") == "copied" for r in entry.get("packets", []))
        if bases and copies:
            if not source and held.digest is not None:
                source = held.read()
            ok, detail = _check_archive(source, entry, segments, bases, reader)
            verdict.archive, verdict.archive_ok = detail, ok
        if source:
            sidecar = by_name.get(name + ".c2pa")
            verdict.c2pa = _c2pa_state(
                name, source, c2pa_trust, sidecar.read() if sidecar is not None else None
            )
        report.files.append(verdict)


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _segment_digests(manifest: dict[str, Any]) -> dict[str, str]:
    digests: dict[str, str] = {}
    for source in manifest.get("sources", []):
        archive = source.get("archive") or {}
        for segment in archive.get("segments", []):
            digests[str(segment["name"])] = str(segment["sha256"])
    return digests


class _Archive:
    """Reads segments by their manifest names from the places given (dirs, URLs)."""

    def __init__(self, bases: Sequence[str], reader: StorageReader | None = None) -> None:
        self.bases = [self._base(b) for b in bases]
        self.reader = reader or default_reader()
        self.cache: dict[str, bytes] = {}

    @staticmethod
    def _base(base: str) -> str:
        if is_plain_path(base):
            path = Path(base).resolve()
            if path.is_file():
                path = path.parent
            return path.as_uri() + "/"
        if base.endswith((".m3u8", ".mpd")):
            return base[: base.rfind("/") + 1]
        return base if base.endswith("/") else base + "/"

    def read(self, name: str) -> bytes:
        if name in self.cache:
            return self.cache[name]
        failures = []
        for base in self.bases:
            try:
                data = self.reader.read(resolve_url(base, name))
            except StorageError as exc:
                failures.append(str(exc))
                continue
            if len(self.cache) >= 4:  # a few segments at a time (and the init segment)
                self.cache.pop(next(iter(self.cache)))
            self.cache[name] = data
            return data
        raise StorageError(f"segment {name} is not in the archive given")


def _check_archive(
    source: Path | bytes,
    entry: dict[str, Any],
    digests: dict[str, str],
    bases: Sequence[str],
    reader: StorageReader | None,
) -> tuple[bool, str]:
    """Every copied video packet of the file against the segment it came from; the file's
    packets are read one by one as they are compared, never all at once."""
    try:
        with av.open(
            str(source) if isinstance(source, Path) else io.BytesIO(source), mode="r"
        ) as container:
            return _compare(container, entry, digests, _Archive(bases, reader))
    except (av.FFmpegError, IndexError) as exc:
        return False, f"the file's video cannot be read: {exc}"


def _compare(
    container: Any, entry: dict[str, Any], digests: dict[str, str], archive: _Archive
) -> tuple[bool, str]:
    stream = container.streams.video[0]
    codec = stream.codec_context.name
    framing = nal.framing(codec, bytes(stream.codec_context.extradata or b""))
    packets = (bytes(p) for p in container.demux(stream) if p.size > 0)
    runs = list(entry.get("packets", []))
    expected = sum(int(r.get("count", 0)) for r in runs)
    short = f"the file has fewer video packets than the {expected} the manifest lists"
    position = 0
    copied = 0
    segments: list[str] = []
    for run in runs:
        count = int(run["count"])
        if run.get("kind") != "copied":
            for _ in range(count):
                if next(packets, None) is None:
                    return False, short
            position += count
            continue
        name = str(run["segment"])
        try:
            media = archive.read(name)
            init = archive.read(str(run["init"])) if run.get("init") else b""
        except StorageError as exc:
            return False, str(exc)
        want = digests.get(name)
        if want is not None and hashlib.sha256(media).hexdigest() != want:
            return False, f"archive segment {name} differs from the one the export read"
        try:
            video = segment_video_packets(init + media, name)
        except ArchiveError as exc:
            return False, str(exc)
        first = int(run.get("first", 0))
        recorded = video.packets[first : first + count]
        if len(recorded) != count:
            return False, f"segment {name} has fewer video packets than the manifest copies"
        source_framing = nal.framing(video.codec, video.extradata)
        for offset, original in enumerate(recorded):
            mine = next(packets, None)
            if mine is None:
                return False, short
            if _pictures(codec, mine, framing) != _pictures(video.codec, original, source_framing):
                return False, (
                    f"video packet {position + offset} (decode order) differs from packet"
                    f" {first + offset} of segment {name}"
                )
        position += count
        copied += count
        if name not in segments:
            segments.append(name)
    extra = sum(1 for _ in packets)
    if extra:
        return False, f"{expected + extra} video packets in the file, the manifest lists {expected}"
    shown = ", ".join(segments[:3]) + (
        f" and {len(segments) - 3} more" if len(segments) > 3 else ""
    )
    return True, f"{copied} copied video packets identical to the recording ({shown})"


def _pictures(codec: str, data: bytes, framing: int) -> list[bytes] | bytes:
    if codec in ("h264", "hevc"):
        return nal.picture_nals(codec, data, framing)
    return data


def _c2pa_state(name: str, source: Path | bytes, trust: bytes | None, sidecar: bytes | None) -> str:
    """What the file's C2PA credentials say, if it has any (``evidence/c2pa.py``); MKV and
    MPEG-TS files have theirs in a sidecar ``<file>.c2pa``."""
    from vexport.evidence import c2pa as credentials

    return credentials.describe(name, source, trust, sidecar)
