"""Export agents: where and when exports run.

An executor takes session ids, runs at most ``max_running`` of them at once
and queues the rest in order. It knows nothing of gRPC or of what an export
does: it calls the ``JobRunner`` it was given (the session layer's
``execute_session``) with a ``JobControl`` and lets it write results to the
store. The local pool runs jobs in threads of this process; a Celery
executor publishes the id to a queue named after the agent and a worker
process calls the same runner (DESIGN.md section 7).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from vexport.media.control import JobControl

JobRunner = Callable[[str, JobControl], None]
"""Runs the export of one session to its end (blocking); writes outcome to the store."""


class Executor(Protocol):
    access_point: str

    def has_room(self) -> bool:
        """False when the queue is full; the caller answers RESOURCE_EXHAUSTED."""
        ...

    def submit(self, session_id: str) -> None:
        """Queue the session; it runs when a slot is free (FIFO)."""
        ...

    def stop(self, session_id: str) -> bool:
        """Ask a queued or running export to stop; False if this executor doesn't hold it."""
        ...

    def running_count(self) -> int: ...

    def queued_count(self) -> int: ...

    async def close(self) -> None:
        """Stop everything and wait for running jobs to finalise."""
        ...
