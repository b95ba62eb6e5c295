"""``/api/v1/evidence/keys``, ``/api/v1/sessions/{id}/verification`` and ``…/evidence-lock``.

The keys are what a recipient compares a manifest's key id with (every key
this server signed with, retired ones included, so old exports still
verify). The verification runs ``vexport verify``'s checks on the stored
files of a completed session: the signature, each file's hash, nothing
missing; it reads only: no retention clock is reset, nothing is written. The
evidence lock (PUT to lock, DELETE to unlock) exempts a session from
retention; unlocking is for admins once authentication exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query

from vexport.api.http.models import ERROR_RESPONSES
from vexport.errors import FailedPrecondition, NotFound, VexportError
from vexport.evidence.signer import Signer
from vexport.evidence.verify import Part, verify_parts
from vexport.jobs.model import Job, JobState
from vexport.jobs.service import JobService
from vexport.results.base import ResultFile
from vexport.sources.catalog import Catalog
from vexport.storage import StorageReader

__all__ = ["evidence_router"]

_BLOCK = 1024 * 1024


def evidence_router(
    service: JobService,
    signer: Signer | None,
    *,
    catalog: Catalog | None = None,
    reader: StorageReader | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["evidence"], responses=ERROR_RESPONSES)

    @router.get("/evidence/keys")
    async def keys() -> dict[str, Any]:
        if signer is None:
            raise FailedPrecondition("this server signs no manifests ([evidence] manifest)")
        return {
            "current": signer.key.key_id,
            "keys": [k.to_json() for k in signer.keyring.public_keys()],
        }

    @router.put("/sessions/{session_id}/evidence-lock")
    async def lock(session_id: str) -> dict[str, Any]:
        """Mark the session as evidence: retention keeps its files until it is unlocked."""
        job = await asyncio.to_thread(service.set_evidence_lock, session_id, True)
        return {"session_id": job.id, "evidence_locked": job.evidence_locked}

    @router.delete("/sessions/{session_id}/evidence-lock")
    async def unlock(session_id: str) -> dict[str, Any]:
        """Release the lock (an admin's call once authentication exists); retention resumes."""
        job = await asyncio.to_thread(service.set_evidence_lock, session_id, False)
        return {"session_id": job.id, "evidence_locked": job.evidence_locked}

    @router.get("/sessions/{session_id}/verification")
    async def verification(
        session_id: str,
        archive: Annotated[
            bool, Query(description="also compare every copied packet with the archive")
        ] = False,
    ) -> dict[str, Any]:
        archives = catalog if archive else None
        return await asyncio.to_thread(
            _verify_session, service, signer, session_id, archives, reader
        )

    return router


def _verify_session(
    service: JobService,
    signer: Signer | None,
    session_id: str,
    catalog: Catalog | None,
    reader: StorageReader | None,
) -> dict[str, Any]:
    job = service.get(session_id)
    if job.state is JobState.REMOVED:
        raise NotFound(f"session {session_id} was removed; its files are deleted")
    if job.state is not JobState.COMPLETED:
        raise FailedPrecondition(
            f"session {session_id} is S_{job.state.name}; it can be verified once S_COMPLETED"
        )
    trusted = signer.keyring.public_keys() if signer is not None else []
    if catalog is None:
        parts = [_part(service, f) for f in job.files]
        report = verify_parts(parts, trusted=trusted).to_json()
    else:
        # The archive check reads the clips packet by packet: from copies on local disk,
        # so a file is never held in memory whole, whichever store keeps it.
        with tempfile.TemporaryDirectory(prefix="vexport-verify-") as tmp:
            parts = [_spooled(service, f, Path(tmp)) for f in job.files]
            report = verify_parts(
                parts, trusted=trusted, archive_of=_archives(job, catalog), reader=reader
            ).to_json()
    report["session_id"] = session_id
    return report


def _archives(job: Job, catalog: Catalog) -> dict[str, list[str]]:
    """Each source's archive (the manifest's segment names are relative to it)."""
    found: dict[str, list[str]] = {}
    for source in job.request.get("plan", {}).get("sources", []):
        origin = str(source.get("origin", ""))
        try:
            found[origin] = [catalog.get(origin).archive(source.get("storage")).url]
        except VexportError:
            continue  # no longer configured: the check says the segments are not found
    return found


def _spooled(service: JobService, file: ResultFile, directory: Path) -> Part:
    path = directory / file.file_id
    with open(path, "wb") as out:
        for block in _chunks(service, file):
            out.write(block)
    return Part(file.file_id, path.read_bytes, path)


def _part(service: JobService, file: ResultFile) -> Part:
    def read() -> bytes:
        return b"".join(_chunks(service, file))

    def digest() -> tuple[str, int]:
        hashed = hashlib.sha256()
        size = 0
        for block in _chunks(service, file):
            hashed.update(block)
            size += len(block)
        return hashed.hexdigest(), size

    is_evidence = ".manifest." in file.file_id
    return Part(file.file_id, read, digest=None if is_evidence else digest)


def _chunks(service: JobService, file: ResultFile) -> Any:
    reader = service.results.open(file)
    try:
        yield from reader.chunks(0, _BLOCK)
    finally:
        reader.close()
