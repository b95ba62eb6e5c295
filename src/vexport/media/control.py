"""How a running export talks back to whoever runs it.

The same media code runs in a thread of the server (local pool) and in a
Celery worker; both give it a ``JobControl`` that answers "should I stop?"
and takes progress. Stopping is cooperative: the export finalises what it has
so far into playable files and returns them. The job engine's control
(``vexport.jobs.control``) also heartbeats the job's lease and reads stop
requests from the store; media code only sees this protocol.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol


class JobControl(Protocol):
    def stop_requested(self) -> bool:
        """True once the session was stopped; the export should finish up and return."""
        ...

    def wait_stop(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking early (and returning True) on stop."""
        ...

    def report_progress(self, fraction: float, last_frame: datetime | None) -> None:
        """Progress in 0..1 and the wall-clock time of the last frame written."""
        ...

    @property
    def aborted(self) -> bool:
        """True when the stop is an abort (shutdown, a lost lease): what was made so far
        must not count as the result, so there is no point finalising it carefully."""
        ...


class SimpleJobControl:
    """A thread-safe JobControl for tests and the local pool."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.aborted = False
        self.progress = 0.0
        self.last_frame: datetime | None = None

    def stop(self) -> None:
        self._stop.set()

    def abort(self) -> None:
        """Stop because the process is shutting down: the result must not count as done."""
        self.aborted = True
        self._stop.set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_stop(self, timeout: float) -> bool:
        return self._stop.wait(timeout)

    def report_progress(self, fraction: float, last_frame: datetime | None) -> None:
        self.progress = max(0.0, min(1.0, fraction))
        if last_frame is not None:
            self.last_frame = last_frame
