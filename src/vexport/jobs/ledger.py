"""Clients' signs of life, noted in memory and written in one batch.

GetSessionState and DownloadFile reset the watchdog and the retention clock.
Writing a row on every poll would put a write on the read path of the most
frequent call (and, on SQLite, serialise the readers behind it); instead a
poll is noted here and the timers write all notes since their last pass in
one transaction, every ``timer_interval``. The watchdog counts minutes, so a
second's delay changes nothing; a process that dies loses at most one
interval of notes, which only makes a session look older by as much.
"""

from __future__ import annotations

import threading
from datetime import datetime

from vexport.jobs.store import JobStore

__all__ = ["PollLedger"]


class PollLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._polls: dict[str, datetime] = {}
        self._accesses: dict[str, datetime] = {}

    def poll(self, job_id: str, at: datetime) -> None:
        """A client asked about an active job (the watchdog's clock)."""
        with self._lock:
            self._polls[job_id] = at

    def access(self, job_id: str, at: datetime) -> None:
        """A client polled or downloaded a completed job (the retention clock)."""
        with self._lock:
            self._accesses[job_id] = at

    def pending(self) -> int:
        with self._lock:
            return len(self._polls) + len(self._accesses)

    def flush(self, store: JobStore) -> None:
        """Write everything noted so far; on failure the notes wait for the next flush."""
        with self._lock:
            polls, self._polls = self._polls, {}
            accesses, self._accesses = self._accesses, {}
        try:
            store.record_touches(polls, accesses)
        except Exception:
            with self._lock:
                for notes, pending in ((polls, self._polls), (accesses, self._accesses)):
                    for job_id, at in notes.items():
                        pending.setdefault(job_id, at)
            raise
