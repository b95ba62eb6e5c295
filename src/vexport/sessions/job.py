"""Running one session's export and recording its outcome.

This is the ``JobRunner`` every executor calls, in a thread of the server or
in a Celery worker: it reads the plan from the store, runs the media engine,
hashes the files and completes the session. Whatever happens, the session
ends S_COMPLETED with a reason; nothing escapes to crash a worker.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vexport.media.control import SimpleJobControl
from vexport.media.plan import ExportFailed, ExportPlan, ProducedFile
from vexport.results.local import LocalResultStore
from vexport.s3.client import S3Error
from vexport.sessions.model import ResultFile, SessionState
from vexport.sessions.store import SessionStore
from vexport.timeutil import utcnow

if TYPE_CHECKING:
    from vexport.results.s3 import S3ResultStore

log = logging.getLogger(__name__)

ExportFunction = Callable[[ExportPlan, SimpleJobControl, Path], list[ProducedFile]]

_PROGRESS_INTERVAL = 0.5


class StoreJobControl(SimpleJobControl):
    """A JobControl that mirrors progress into the store, at most twice a second.

    The stop flag is set in memory by the local pool; a remote worker would
    also poll ``stop_requested`` from the store (DESIGN.md section 7).
    """

    def __init__(self, store: SessionStore, session_id: str) -> None:
        super().__init__()
        self._store = store
        self._session_id = session_id
        self._last_write = 0.0
        self._lock = threading.Lock()

    def report_progress(self, fraction: float, last_frame: datetime | None) -> None:
        super().report_progress(fraction, last_frame)
        now = time.monotonic()
        with self._lock:
            if now - self._last_write < _PROGRESS_INTERVAL:
                return
            self._last_write = now
        values: dict[str, object] = {"progress": self.progress}
        if self.last_frame is not None:
            values["last_frame"] = self.last_frame
        self._store.update(self._session_id, **values)


def execute_session(
    store: SessionStore,
    results: LocalResultStore,
    export: ExportFunction,
    session_id: str,
    control: SimpleJobControl,
    *,
    cloud: S3ResultStore | None = None,
) -> None:
    """Run the export of ``session_id``; complete it whatever happens.

    ``cloud`` is the result store that sessions with ``cloud_export`` upload to.
    """
    if not store.transition(session_id, (SessionState.NONE,), state=SessionState.RUNNING):
        return  # stopped or destroyed while queued
    session = store.get(session_id)
    if session is None:
        return
    plan = ExportPlan.from_json(dict(session.plan))
    started = time.monotonic()
    files: list[ResultFile] = []
    error = ""
    try:
        produced = export(plan, control, results.session_dir(session_id))
        files = [results.register(session_id, item) for item in produced]
        if not files:
            error = (
                "stopped before any frame was exported"
                if control.stop_requested()
                else "the export produced no file"
            )
    except ExportFailed as exc:
        error = str(exc)
    except Exception as exc:  # a bug, not a media problem: say so, keep the server up
        log.exception("export %s failed unexpectedly", session_id)
        error = f"internal error: {type(exc).__name__}: {exc}"
    if files and not error and not control.aborted and plan.extra.get("cloud_export"):
        files, error = _cloud_export(cloud, results, session_id, files)
    if control.aborted:
        error = "the server shut down while this export was running"
        files = []
    if error:
        log.info("export %s failed: %s", session_id, error)
    else:
        log.info(
            "export %s done: %d file(s) in %.1fs",
            session_id,
            len(files),
            time.monotonic() - started,
        )
    last_frame = max((f.last_frame for f in files), default=control.last_frame)
    completed = store.complete(
        session_id,
        succeeded=not error,
        error=error,
        files=files,
        now=utcnow(),
        last_frame=last_frame,
    )
    if not completed or (error and not files):
        # Destroyed while running, or nothing worth keeping: leave no files behind.
        results.delete_session(session_id)


def _cloud_export(
    cloud: S3ResultStore | None,
    results: LocalResultStore,
    session_id: str,
    files: list[ResultFile],
) -> tuple[list[ResultFile], str]:
    """Upload every file; all of them or (on failure) none stays in the bucket.

    The local files stay either way, so a failed delivery can still be downloaded.
    """
    if cloud is None:
        return files, "cloud export is no longer configured ([results] s3_bucket)"
    uploaded: list[ResultFile] = []
    try:
        for file in files:
            done = cloud.upload(session_id, file, results.path_of(session_id, file))
            uploaded.append(dataclasses.replace(file, cloud_id=done.url))
    except Exception as exc:
        # S3Error messages name bucket and key, never credentials.
        if not isinstance(exc, S3Error):
            log.exception("cloud export of %s failed unexpectedly", session_id)
        cloud.delete([f.cloud_id for f in uploaded])
        return files, f"cloud export failed: {exc}"
    return uploaded, ""
