"""The export manifest: what was asked, what was read, what was done, what was delivered.

One manifest per session, in canonical JSON (``evidence/canonical.py``),
signed by ``evidence/signing.py``. It lists the exporter, the request, each
source with the SHA-256 of every archive object read (the playlist or MPD
and each segment, named relative to the archive, never with credentials),
the time asked and delivered with its gaps, the processing per source, and
every output file with its size, SHA-256, first and last frame times, the
frames processed (re-encoded, with frame numbers in presentation order) and
the edit list of its video packets (``media/provenance.py``). See
docs/design/evidence.md for the format.
"""

from __future__ import annotations

import dataclasses
import itertools
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from vexport import __version__
from vexport.evidence.canonical import canonical_json
from vexport.media.packets import DEFAULT_FRAME_SECONDS, wall_datetime
from vexport.media.plan import ExportPlan, ProducedFile, SourcePlan
from vexport.redact import redact_url
from vexport.results.base import ResultFile
from vexport.timeutil import format_timestamp

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_MIME",
    "SIGNATURE_MIME",
    "SessionFacts",
    "build_manifest",
    "manifest_names",
]

MANIFEST_FORMAT = "vexport-manifest/1"
MANIFEST_MIME = "application/vnd.vexport.manifest+json"
SIGNATURE_MIME = "application/vnd.vexport.signature+json"

_GAP_SECONDS = 0.5
"""Two files of a source further apart than this (beyond a frame) leave a gap."""


def manifest_names(file_stem: str) -> tuple[str, str]:
    """The result-file names of a session's manifest and its signature."""
    return f"{file_stem}.manifest.json", f"{file_stem}.manifest.sig"


@dataclass(frozen=True)
class SessionFacts:
    """What the manifest says, gathered by the job engine after the run.

    ``plan`` is the resolved plan (its archive URLs name where segments were
    read; they appear in the manifest only relative to the archive, redacted).
    ``reads``: URL -> (SHA-256, size) of every object the run read.
    ``requested_by``: the authenticated user who started the session (None with
    authentication off).
    """

    session_id: str
    created_at: datetime
    plan: ExportPlan
    produced: Sequence[ProducedFile]
    files: Sequence[ResultFile]
    reads: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    instance: str | None = None
    requested_by: str | None = None
    signed_at: datetime | None = None
    extra_files: Sequence[ResultFile] = ()


def build_manifest(facts: SessionFacts) -> bytes:
    """The manifest's canonical bytes."""
    return canonical_json(manifest_document(facts))


def manifest_document(facts: SessionFacts) -> dict[str, Any]:
    plan = facts.plan
    comment = next((s.text.comment for s in plan.sources if s.text and s.text.comment), "")
    by_path = {p.path.name: p for p in facts.produced}
    sources = [_source(plan, s, facts) for s in plan.sources]
    names = {url: name for source in sources for url, name in source.pop("_names").items()}
    files = [_file(f, by_path.get(f.file_id), names) for f in facts.files]
    files += [_file(f, None, names) for f in facts.extra_files]
    return {
        "format": MANIFEST_FORMAT,
        "exporter": {"name": "vexport", "version": __version__, "instance": facts.instance},
        "session": {"id": facts.session_id, "created": _time(facts.created_at)},
        "requested_by": facts.requested_by,
        "signed_at": _time(facts.signed_at) if facts.signed_at else None,
        "request": {
            "kind": plan.kind.value,
            "container": plan.container.value,
            "comment": comment,
            "options": _options(plan),
        },
        "time": _times(plan, facts.produced),
        "sources": sources,
        "processing": [_processing(s) for s in plan.sources],
        "files": files,
    }


def _time(value: datetime) -> str:
    return format_timestamp(value)


def _options(plan: ExportPlan) -> dict[str, Any]:
    """The plan as stored, without any URL (stored plans carry none; resolved ones do)."""
    data = plan.to_json()
    for source in data["sources"]:
        source.pop("live_url", None)
        source.pop("archive_url", None)
    data.pop("extra", None)
    data["cloud_export"] = bool(plan.extra.get("cloud_export"))
    return data


def _times(plan: ExportPlan, produced: Sequence[ProducedFile]) -> dict[str, Any]:
    asked: dict[str, Any] = {
        "start": _time(plan.start) if plan.start else None,
        "end": _time(plan.end) if plan.end else None,
        "duration_seconds": plan.duration_seconds,
    }
    delivered: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    for source in plan.sources:
        own = sorted(
            (p for p in produced if p.origin == source.origin), key=lambda p: p.first_frame
        )
        spans: list[list[datetime]] = []
        for file in own:
            if spans and (file.first_frame - spans[-1][1]).total_seconds() <= (
                _GAP_SECONDS + DEFAULT_FRAME_SECONDS
            ):
                spans[-1][1] = max(spans[-1][1], file.last_frame)
            else:
                spans.append([file.first_frame, file.last_frame])
        delivered += [
            {"origin": source.origin, "first_frame": _time(a), "last_frame": _time(b)}
            for a, b in spans
        ]
        gaps += [
            {"origin": source.origin, "after": _time(a[1]), "before": _time(b[0])}
            for a, b in itertools.pairwise(spans)
        ]
        if plan.kind.is_clip and plan.start and plan.end and spans:
            if (spans[0][0] - plan.start).total_seconds() > _GAP_SECONDS:
                gaps.insert(
                    0, {"origin": source.origin, "after": None, "before": _time(spans[0][0])}
                )
            if (plan.end - spans[-1][1]).total_seconds() > _GAP_SECONDS:
                gaps.append({"origin": source.origin, "after": _time(spans[-1][1]), "before": None})
    return {"asked": asked, "delivered": delivered, "gaps": gaps}


def _base(url: str) -> str:
    """The directory of an archive manifest URL, with a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme:
        return url[: url.rfind("/") + 1] if "/" in parts.path else url + "/"
    return posixpath.dirname(url) + "/"


def _name(url: str, base: str) -> str:
    """A read object's name: relative to the archive, else the URL without credentials."""
    if base and url.startswith(base) and "?" not in url[len(base) :]:
        return url[len(base) :]
    return redact_url(url)


def _source(plan: ExportPlan, source: SourcePlan, facts: SessionFacts) -> dict[str, Any]:
    data: dict[str, Any] = {
        "origin": source.origin,
        "storage": source.storage,
        "kind": "live" if plan.kind.is_live else "archive",
    }
    names: dict[str, str] = {}
    if source.archive_url:
        base = _base(source.archive_url)
        archive_manifest = None
        segments = []
        used = {
            run.segment
            for p in facts.produced
            if p.origin == source.origin
            for run in p.provenance
            if run.segment
        }
        for url, (digest, size) in sorted(facts.reads.items()):
            if not (url.startswith(base) or url in used or url == source.archive_url):
                continue
            name = _name(url, base)
            names[url] = name
            entry = {"name": name, "sha256": digest, "size": size}
            if url == source.archive_url:
                archive_manifest = entry
            else:
                segments.append(entry)
        data["archive"] = {
            "manifest": archive_manifest,
            "segments": segments,
        }
    data["_names"] = names
    return data


def _processing(source: SourcePlan) -> dict[str, Any]:
    decision = source.decision
    privacy = source.privacy
    text = source.text
    overlays = []
    if text is not None and text.has_text:
        if text.burns_pixels:
            overlays.append("text burnt into the picture")
        if text.soft_subtitles:
            overlays.append("subtitle track")
    return {
        "origin": source.origin,
        "video": decision.video.value if decision else None,
        "audio": decision.audio.value if decision else None,
        "reasons": list(decision.reasons) if decision else [],
        "masks": len(privacy.masks) if privacy else 0,
        "masks_inverted": bool(privacy and privacy.masks and privacy.invert),
        "crop": dataclasses.asdict(privacy.crop) if privacy and privacy.crop else None,
        "overlays": overlays,
    }


def _file(
    file: ResultFile, produced: ProducedFile | None, names: Mapping[str, str]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": file.file_id,
        "origin": file.origin,
        "size": file.size,
        "sha256": file.sha256,
        "mime_type": file.mime_type,
        "first_frame": _time(file.first_frame),
        "last_frame": _time(file.last_frame),
    }
    if produced is None:
        return entry
    entry["processing"] = produced.processing
    frames = [again for _wall, again in produced.frames]
    walls = [wall for wall, _again in produced.frames]
    runs = produced.provenance
    copied = sum(r.count for r in runs if r.kind == "copied")
    whole = bool(frames) and not copied and produced.processing.startswith("re-encoded")
    processed: list[dict[str, Any]]
    if not frames:  # a snapshot: one decoded frame, encoded as an image or a page
        processed = [{"first": 0, "last": 0, "why": "decoded and encoded as a still"}]
    elif whole:
        processed = [{"first": 0, "last": len(frames) - 1, "why": produced.processing}]
    else:
        processed = [
            {"first": a, "last": b, "why": "re-encoded at a cut (smart cut)"}
            for a, b in produced.reencoded_frame_runs()
        ]
    for item in processed:
        if walls:
            item["first_time"] = _wall(walls[int(item["first"])])
            item["last_time"] = _wall(walls[int(item["last"])])
    entry["frames"] = {
        "total": len(frames) if frames else 1,
        "copied": copied,
        "processed": processed,
    }
    entry["packets"] = [_run(run.to_json(), names) for run in runs]
    return entry


def _run(run: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A packet run with its segment (and init segment) named as the source lists them."""
    for key in ("segment", "init"):
        if run.get(key):
            run[key] = names.get(run[key], redact_url(run[key]))
    return run


def _wall(seconds: float) -> str:
    return _time(wall_datetime(seconds))
