"""The export kinds (archive and live clips and snapshots): a stored plan run by the media
engine, its files hashed and, with ``cloud_export``, delivered to the object store.

The stored plan names origins and storages, not URLs; they are looked up
here, in the catalog of the process that runs the export, so credentials in
a camera's URL never leave the configuration.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from vexport.evidence.c2pa import SIDECAR_MIME, ContentCredentials
from vexport.evidence.manifest import SessionFacts
from vexport.evidence.package import PACKAGE_MIME, package_name, write_package
from vexport.evidence.sealing import PasswordUnreadable, sealing_key_of, unseal
from vexport.evidence.signer import Signer
from vexport.jobs.control import StoreJobControl
from vexport.jobs.model import Job
from vexport.jobs.worker import FinishedFile, RunResult
from vexport.media.decision import describe
from vexport.media.plan import ExportFailed, ExportPlan, ProducedFile, SourcePlan
from vexport.media.provenance import ReadLog
from vexport.media.runner import run_export
from vexport.results.base import ResultFile, sha256_of
from vexport.results.base import describe as describe_file
from vexport.results.s3 import S3ResultStore
from vexport.s3.client import S3Error
from vexport.sources.catalog import Catalog
from vexport.storage import StorageReader
from vexport.timeutil import utcnow

__all__ = ["ExportRunner", "reported_processing"]

log = logging.getLogger(__name__)


class ExportRunner:
    def __init__(
        self,
        catalog: Catalog,
        *,
        reader: StorageReader,
        ffmpeg: str | None,
        cloud: S3ResultStore | None = None,
        signer: Signer | None = None,
        credentials: ContentCredentials | None = None,
    ) -> None:
        self.catalog = catalog
        self.reader = reader
        self.ffmpeg = ffmpeg
        self.cloud = cloud
        self.signer = signer
        self.credentials = credentials

    def run(self, job: Job, control: StoreJobControl, workdir: Path) -> RunResult:
        plan = ExportPlan.from_json(dict(job.request["plan"]))
        if "evidence_package" in plan.extra and self.signer is None:
            return RunResult(error="this server signs no manifests ([evidence] manifest = false),"
                                   " so it makes no evidence packages")  # fmt: skip
        # Every object read is hashed as it is read, for the signed manifest.
        reads = ReadLog(self.reader) if self.signer is not None else None
        try:
            plan = self.resolved(plan)
            produced = run_export(
                plan, control, workdir=workdir, reader=reads or self.reader, ffmpeg=self.ffmpeg
            )
        except ExportFailed as exc:
            return RunResult(error=str(exc))
        if control.aborted:
            return RunResult()
        sidecars: list[ProducedFile] = []
        if self.credentials is not None:
            error = self._credentials(plan, produced, sidecars)
            if error:
                return RunResult(error=error)
        files = [FinishedFile(describe_file(p), p.path) for p in [*produced, *sidecars]]
        if self.signer is not None and files:
            facts = SessionFacts(
                session_id=job.id,
                created_at=job.created_at,
                plan=plan,
                produced=produced,
                files=[f.file for f in files],
                reads=reads.reads() if reads is not None else {},
                instance=job.owner,
                requested_by=_requesting_user(job),
                signed_at=utcnow(),
            )
            signed = [FinishedFile(f, p) for f, p in self.signer.sign(facts, workdir)]
            package = plan.extra.get("evidence_package")
            if isinstance(package, dict):
                try:
                    files = self._package(job, plan, files, signed, package, workdir)
                except (PasswordUnreadable, OSError) as exc:
                    return RunResult(error=f"the evidence package could not be made: {exc}")
            else:
                files += signed
        processing = reported_processing(plan, produced)
        if files and plan.extra.get("cloud_export"):
            files, error = self._deliver(job.id, files)
            return RunResult(files=files, error=error, processing=processing)
        return RunResult(files=files, processing=processing)

    def _credentials(
        self, plan: ExportPlan, produced: list[ProducedFile], sidecars: list[ProducedFile]
    ) -> str:
        """C2PA credentials into every file that holds them, a sidecar ``.c2pa`` beside the
        others (added to ``sidecars``), before the files are hashed; an error, or ""."""
        assert self.credentials is not None
        for file in produced:
            try:
                sidecar = self.credentials.embed(plan, file)
                if sidecar is not None:
                    sidecars.append(
                        dataclasses.replace(
                            file,
                            path=sidecar,
                            mime_type=SIDECAR_MIME,
                            processing="",
                            frames=(),
                            provenance=(),
                            frames_copied=0,
                            frames_reencoded=0,
                            reencoded_ranges=(),
                            copied_crcs=(),
                        )
                    )
            except Exception as exc:  # c2pa's errors name the asset, never a key
                log.warning("%s: C2PA credentials failed: %s", file.path.name, exc)
                return f"content credentials could not be added to {file.path.name}: {exc}"
        return ""

    def _package(
        self,
        job: Job,
        plan: ExportPlan,
        files: list[FinishedFile],
        signed: list[FinishedFile],
        package: dict[str, object],
        workdir: Path,
    ) -> list[FinishedFile]:
        """The evidence ZIP after the files; with a password, the ZIP alone (the files must
        not be downloadable in the clear)."""
        assert self.signer is not None
        sealed = package.get("password_sealed")
        password = None
        if isinstance(sealed, str):
            password = unseal(sealed, sealing_key_of(self.signer.key))
        manifest, signature = (f.path for f in signed)
        path = write_package(
            workdir / package_name(plan.file_stem),
            [f.path for f in files],
            manifest=manifest,
            signature=signature,
            key=self.signer.key,
            session_id=job.id,
            password=password,
        )
        first = min(f.file.first_frame for f in files)
        last = max(f.file.last_frame for f in files)
        described = ResultFile(
            file_id=path.name,
            origin=files[0].file.origin,
            size=path.stat().st_size,
            first_frame=first,
            last_frame=last,
            mime_type=PACKAGE_MIME,
            sha256=sha256_of(path),
        )
        zipped = FinishedFile(described, path)
        return [zipped] if password else [*files, *signed, zipped]

    def resolved(self, plan: ExportPlan) -> ExportPlan:
        """The plan with each source's live or archive URL from this process's catalog."""
        sources = tuple(self._resolved(plan, source) for source in plan.sources)
        return dataclasses.replace(plan, sources=sources)

    def _resolved(self, plan: ExportPlan, source: SourcePlan) -> SourcePlan:
        try:
            origin = self.catalog.get(source.origin)
            if plan.kind.is_live:
                if not origin.live_url:
                    raise ExportFailed(f"origin {source.origin!r} has no live stream any more")
                return dataclasses.replace(source, live_url=origin.live_url)
            archive = origin.archive(source.storage)
        except ExportFailed:
            raise
        except Exception as exc:  # NotFound, FailedPrecondition: the configuration changed
            raise ExportFailed(
                f"{exc} (the configuration changed since the export started)"
            ) from None
        return dataclasses.replace(source, archive_url=archive.url, storage=archive.storage)

    def _deliver(self, job_id: str, files: list[FinishedFile]) -> tuple[list[FinishedFile], str]:
        """Upload every file; all of them or (on failure) none stays in the bucket.

        The files are kept either way, so a failed delivery can still be downloaded.
        """
        if self.cloud is None:
            return files, "cloud export is no longer configured ([results] s3_bucket)"
        delivered: list[FinishedFile] = []
        try:
            for finished in files:
                done = self.cloud.upload(job_id, finished.file, finished.path)
                file = dataclasses.replace(finished.file, cloud_id=done.url)
                delivered.append(FinishedFile(file, finished.path))
        except Exception as exc:
            # S3Error messages name bucket and key, never credentials.
            if not isinstance(exc, S3Error):
                log.exception("cloud export of %s failed unexpectedly", job_id)
            self.cloud.delete_urls([f.file.cloud_id for f in delivered])
            return files, f"cloud export failed: {exc}"
        return delivered, ""


def _requesting_user(job: Job) -> str | None:
    """The authenticated user who started the session (None with authentication off)."""
    return job.created_by


def reported_processing(plan: ExportPlan, produced: list[ProducedFile]) -> str:
    """What the files say was done to the video (smart cut counts…), else the plan's intent."""
    reported = list(dict.fromkeys(p.processing for p in produced if p.processing))
    if not reported:
        return describe(plan)
    if len(reported) == 1:
        return reported[0]
    by_origin = dict.fromkeys(f"{p.origin}: {p.processing}" for p in produced if p.processing)
    return "; ".join(by_origin)
