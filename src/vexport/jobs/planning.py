"""From a checked request to the plan a worker runs: the operator's choices added, the
copy-or-re-encode decision made, once, when the job is created.

Everything here is decided by the accepting process from the request and the
configuration alone, and stored with the job, so a plan made on one replica
runs the same way on any worker.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from vexport.config import Settings
from vexport.errors import InvalidArgument
from vexport.evidence.sealing import seal, sealing_key
from vexport.jobs.requests import ExportRequest
from vexport.media.decision import CutMode, decided
from vexport.media.plan import ExportPlan, SourcePlan

__all__ = ["plan_of", "stored_plan", "with_configured_fill"]


def plan_of(request: ExportRequest, settings: Settings) -> ExportPlan:
    """The export plan of ``request`` with every source's decision made."""
    plan = ExportPlan(
        kind=request.kind,
        sources=with_configured_fill(
            request.sources, settings.media.mask_fill, settings.media.mosaic_cell
        ),
        container=request.container,
        start=request.start,
        end=request.end,
        duration_seconds=request.duration_seconds,
        max_file_size=request.max_file_size,
        snapshot_wait_seconds=settings.sessions.snapshot_wait.total_seconds(),
        reconnect_delay_seconds=settings.sessions.reconnect_delay.total_seconds(),
        live_connect_timeout_seconds=settings.sessions.live_connect_timeout.total_seconds(),
        file_stem=request.file_stem,
        rendering=request.rendering,
        pdf=request.pdf,
        timezone_minutes=request.timezone_minutes,
        extra=_extra(request, settings),
    )
    return decided(plan, CutMode(settings.media.cut))


def stored_plan(plan: ExportPlan) -> dict[str, Any]:
    """The plan as its job row keeps it, read back once before it is written.

    A row that cannot be read back cannot be written: a worker, the listing and
    every poll read it, and one that fails to parse would fail them all for as
    long as it is kept. The request validators refuse such values first; this is
    the net under them (docs/design/robustness.md).
    """
    data = plan.to_json()
    try:
        stored = json.loads(json.dumps(data, allow_nan=False))  # PostgreSQL's JSON: no NaN
        again = json.loads(json.dumps(ExportPlan.from_json(stored).to_json()))
        if again != stored:
            raise ValueError("the plan reads back differently")
    except (ValueError, TypeError, KeyError, OverflowError):
        raise InvalidArgument(
            "holds a value that cannot be stored and read back", field="session_options"
        ) from None
    return data


def _extra(request: ExportRequest, settings: Settings) -> dict[str, object]:
    """The plan's options beyond the media: cloud delivery, the evidence package and lock.

    A package password is stored sealed (``evidence/sealing.py``), never as typed.
    """
    extra: dict[str, object] = {}
    if request.cloud_export:
        extra["cloud_export"] = True
    if request.evidence_package:
        package: dict[str, str] = {}
        if request.package_password:
            key = sealing_key(settings.evidence, settings.server.data_dir)
            package["password_sealed"] = seal(request.package_password, key)
        extra["evidence_package"] = package
    if request.evidence_lock:
        extra["evidence_lock"] = True
    return extra


def with_configured_fill(
    sources: Sequence[SourcePlan], fill: str, mosaic_cell: float
) -> tuple[SourcePlan, ...]:
    """The sources with the operator's mask fill (``[media] mask_fill``, ``mosaic_cell``)."""
    return tuple(
        dataclasses.replace(
            source,
            privacy=dataclasses.replace(source.privacy, fill=fill, mosaic_cell=mosaic_cell),
        )
        if source.privacy is not None
        else source
        for source in sources
    )
