"""Export plans: plain data that says what one export must produce.

The job engine turns a validated export request into a plan; the media
layer runs it. Keeping the plan free of protobuf and of FFmpeg objects lets both
sides be tested alone and lets a plan travel to a remote worker as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from vexport.media.decision import Decision
from vexport.media.formats import ContainerFormat, ExportFailed, ExportKind
from vexport.media.pdf import PdfLayout
from vexport.media.privacy import Privacy
from vexport.media.provenance import PacketRun
from vexport.media.rendering import Rendering
from vexport.media.text import TextOverlay
from vexport.redact import redact_url
from vexport.timeutil import format_timestamp, parse_timestamp

__all__ = [
    "ContainerFormat",
    "ExportFailed",
    "ExportKind",
    "ExportPlan",
    "ProducedFile",
    "RtspTransport",
    "SourcePlan",
]

RtspTransport = Literal["tcp", "udp"]
"""How an ``rtsp://`` live input carries RTP: in the RTSP connection, or over UDP."""


@dataclass(frozen=True)
class SourcePlan:
    """One source of the export, already resolved against the catalog.

    ``archive_url`` is set for archive exports (the manifest of the chosen
    storage), ``live_url`` for live ones. ``name`` is a file-name-safe label
    used for this source's output files. ``storage`` names the chosen archive
    of the origin: a stored plan keeps origin and storage and leaves the URLs
    out (they may carry credentials), and the worker that runs it fills them
    in from its own catalog. ``rtsp_transport`` is the source's configured RTP
    transport for an ``rtsp://`` live URL.
    """

    origin: str
    name: str
    live_url: str | None = None
    archive_url: str | None = None
    storage: str | None = None
    text: TextOverlay | None = None
    privacy: Privacy | None = None
    rtsp_transport: RtspTransport = "tcp"
    # Copy, smart cut or re-encode, decided once when the export is planned.
    decision: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "name": self.name,
            # Stored plans leave URLs out; should one be set, never its credentials.
            "live_url": redact_url(self.live_url, keep_query=True) if self.live_url else None,
            "archive_url": self.archive_url,
            "storage": self.storage,
            "rtsp_transport": self.rtsp_transport,
            "text": self.text.to_json() if self.text else None,
            "privacy": self.privacy.to_json() if self.privacy else None,
            "decision": self.decision.to_json() if self.decision else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourcePlan:
        return cls(
            origin=data["origin"],
            name=data["name"],
            live_url=data.get("live_url"),
            archive_url=data.get("archive_url"),
            storage=data.get("storage"),
            rtsp_transport="udp" if data.get("rtsp_transport") == "udp" else "tcp",
            text=TextOverlay.from_json(data["text"]) if data.get("text") else None,
            privacy=Privacy.from_json(data["privacy"]) if data.get("privacy") else None,
            decision=Decision.from_json(data["decision"]) if data.get("decision") else None,
        )


@dataclass(frozen=True)
class ExportPlan:
    kind: ExportKind
    sources: tuple[SourcePlan, ...]
    container: ContainerFormat
    # Archive: the requested interval (end only for clips).
    start: datetime | None = None
    end: datetime | None = None
    # Live clip: how long to record; None records until stopped.
    duration_seconds: float | None = None
    # 0 means no limit.
    max_file_size: int = 0
    # Live snapshot: how long to wait for a decodable frame.
    snapshot_wait_seconds: float = 10.0
    # Live input: pause before reopening a dropped input.
    reconnect_delay_seconds: float = 1.0
    # Live clip: how long to wait for the input's first packet.
    live_connect_timeout_seconds: float = 15.0
    file_stem: str = "export"
    rendering: Rendering = field(default_factory=Rendering)
    # UTC offset for text that has none of its own (PDF timestamps).
    timezone_minutes: int = 0
    # PDF snapshots: the page layout.
    pdf: PdfLayout | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "sources": [s.to_json() for s in self.sources],
            "container": self.container.value,
            "start": format_timestamp(self.start) if self.start else None,
            "end": format_timestamp(self.end) if self.end else None,
            "duration_seconds": self.duration_seconds,
            "max_file_size": self.max_file_size,
            "snapshot_wait_seconds": self.snapshot_wait_seconds,
            "reconnect_delay_seconds": self.reconnect_delay_seconds,
            "live_connect_timeout_seconds": self.live_connect_timeout_seconds,
            "file_stem": self.file_stem,
            "rendering": self.rendering.to_json(),
            "timezone_minutes": self.timezone_minutes,
            "pdf": self.pdf.to_json() if self.pdf else None,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportPlan:
        return cls(
            kind=ExportKind(data["kind"]),
            sources=tuple(SourcePlan.from_json(s) for s in data["sources"]),
            container=ContainerFormat(data["container"]),
            start=parse_timestamp(data["start"]) if data.get("start") else None,
            end=parse_timestamp(data["end"]) if data.get("end") else None,
            duration_seconds=data.get("duration_seconds"),
            max_file_size=data.get("max_file_size", 0),
            snapshot_wait_seconds=data.get("snapshot_wait_seconds", 10.0),
            reconnect_delay_seconds=data.get("reconnect_delay_seconds", 1.0),
            live_connect_timeout_seconds=data.get("live_connect_timeout_seconds", 15.0),
            file_stem=data.get("file_stem", "export"),
            rendering=Rendering.from_json(data.get("rendering")),
            timezone_minutes=int(data.get("timezone_minutes", 0)),
            pdf=PdfLayout.from_json(data["pdf"]) if data.get("pdf") else None,
            extra=data.get("extra", {}),
        )


@dataclass(frozen=True)
class ProducedFile:
    """A file the media layer wrote; the results layer gives it an id and a hash.

    ``first_frame``/``last_frame`` are the wall-clock times of the first and
    last frame a player shows (for a snapshot both are the frame's time).
    """

    path: Path
    origin: str
    first_frame: datetime
    last_frame: datetime
    mime_type: str
    # What was done to make this file, e.g. "smart cut: 37 of 1500 frames re-encoded".
    processing: str = ""
    # Video frames copied from the recording and encoded anew (clips only), and the
    # first/last frame of each stretch of re-encoded frames, in presentation order.
    frames_copied: int = 0
    frames_reencoded: int = 0
    reencoded_ranges: tuple[tuple[datetime, datetime], ...] = ()
    # For the seam check of a smart cut: every frame's wall time (sorted) with whether it
    # was re-encoded, and a CRC of each copied video packet's picture data, in decode order.
    frames: tuple[tuple[float, bool], ...] = field(default=(), repr=False)
    copied_crcs: tuple[int, ...] = field(default=(), repr=False)
    # Runs of video packets in the file's decode order: copied from which segment, or
    # encoded anew (``media/provenance.py``); what a signed manifest records.
    provenance: tuple[PacketRun, ...] = field(default=(), repr=False)

    def reencoded_frame_runs(self) -> list[tuple[int, int]]:
        """First and last index (presentation order) of each run of re-encoded frames."""
        runs: list[tuple[int, int]] = []
        start: int | None = None
        for index, (_wall, again) in enumerate([*self.frames, (0.0, False)]):
            if again and start is None:
                start = index
            elif not again and start is not None:
                runs.append((start, index - 1))
                start = None
        return runs
