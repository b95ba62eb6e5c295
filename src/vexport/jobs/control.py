"""The control a running job gets: stop, abort, progress, and the heartbeat of its lease.

One heartbeat (every ``[jobs] heartbeat_interval``) does three things in one
short transaction: it renews the job's lease, writes the progress the media
engine reported since the last one, and reads the job's stop flag. So a
StopSession on any replica reaches the worker through the store within one
interval, whatever the broker does; progress is visible from every replica;
and a worker that dies stops renewing, which the sweeper notices after
``heartbeat_timeout``.

A heartbeat that finds the job no longer this worker's (the sweeper gave it
to another after a lost lease, a client destroyed it) aborts the run; so does
failing to renew for longer than the timeout (the database unreachable): a
worker never keeps running a job that someone else may already be running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from vexport.jobs.store import JobStore
from vexport.timeutil import utcnow

__all__ = ["StoreJobControl"]

log = logging.getLogger(__name__)

LOST = "another worker took this export over (this one's lease ran out)"


class StoreJobControl:
    """``media.control.JobControl`` for a job in the store; a context manager that runs the
    heartbeat thread while the job runs."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        owner: str,
        *,
        interval: timedelta,
        timeout: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._job_id = job_id
        self._owner = owner
        self._interval = interval.total_seconds()
        self._timeout = timeout
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._progress = 0.0
        self._last_frame: datetime | None = None
        self._renewed = clock()
        self._thread: threading.Thread | None = None
        self.abort_reason = ""
        self.lost = False

    # -- JobControl -----------------------------------------------------------

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_stop(self, timeout: float) -> bool:
        return self._stop.wait(timeout)

    def report_progress(self, fraction: float, last_frame: datetime | None) -> None:
        with self._lock:
            self._progress = max(0.0, min(1.0, fraction))
            if last_frame is not None:
                self._last_frame = last_frame

    @property
    def aborted(self) -> bool:
        return bool(self.abort_reason)

    # -- the engine's side ----------------------------------------------------

    @property
    def progress(self) -> float:
        return self._progress

    @property
    def last_frame(self) -> datetime | None:
        return self._last_frame

    def stop(self) -> None:
        """Finish up: what was exported so far becomes the result."""
        self._stop.set()

    def abort(self, reason: str) -> None:
        """Stop, and what was made does not count (shutdown, a lost lease)."""
        if not self.abort_reason:
            self.abort_reason = reason
        self._stop.set()

    def wake(self) -> None:
        """Heartbeat now rather than at the next interval (a local stop request)."""
        self._wake.set()

    def heartbeat(self) -> None:
        """One heartbeat: renew the lease, write progress, read the stop flag."""
        now = self._clock()
        with self._lock:
            progress, last_frame = self._progress, self._last_frame
        try:
            stop = self._store.heartbeat(
                self._job_id,
                owner=self._owner,
                lease_until=now + self._timeout,
                progress=progress,
                last_frame=last_frame,
            )
        except Exception as exc:  # the database is away: keep trying until the lease would end
            log.warning("heartbeat of %s failed: %s", self._job_id, type(exc).__name__)
            if now - self._renewed >= self._timeout:
                self.lost = True
                self.abort("this worker could not renew its lease in time")
            return
        self._renewed = now
        if stop is None:
            self.lost = True
            self.abort(LOST)
        elif stop:
            self._stop.set()

    def __enter__(self) -> StoreJobControl:
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{self._job_id[:8]}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 5)

    def _beat(self) -> None:
        while not self._done.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._done.is_set():
                return
            self.heartbeat()
