"""What a client asked for, checked: the typed requests the API adapters hand the engine.

The adapters (``vexport.api.contract``) build these from the wire messages
and refuse anything malformed, unsupported or unknown on the way, so a
request that reaches the engine is safe to queue: an export can then fail
only for reasons of the media itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from vexport.media.formats import ContainerFormat, ExportKind
from vexport.media.pdf import PdfLayout
from vexport.media.plan import SourcePlan
from vexport.media.rendering import Rendering

__all__ = ["ExportRequest"]


@dataclass(frozen=True)
class ExportRequest:
    """An export session's request (archive/live clip or snapshot).

    ``sources`` name origins and storages, never URLs (the worker resolves
    them in its catalog). ``agent`` is the export agent the client named,
    already known to exist; None lets the engine choose (the origin's pinned
    agent, else the first one).
    """

    kind: ExportKind
    sources: tuple[SourcePlan, ...]
    container: ContainerFormat
    agent: str | None
    start: datetime | None
    end: datetime | None
    duration_seconds: float | None
    max_file_size: int
    file_stem: str
    timezone_minutes: int
    pdf: PdfLayout | None = None
    rendering: Rendering = field(default_factory=Rendering)
    cloud_export: bool = False
    # Evidence (docs/design/evidence.md): one ZIP of the session, AES-256 encrypted with the
    # password if one is given; the session locked against retention.
    evidence_package: bool = False
    evidence_lock: bool = False
    package_password: str | None = field(default=None, repr=False)
