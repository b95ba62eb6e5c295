"""The executor protocol: hand a job id to whatever will run it."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Executor"]


class Executor(Protocol):
    access_point: str

    def submit(self, job_id: str) -> None:
        """Have the job run (FIFO, at most the agent's ``max_running`` at once per worker).

        May be called again for a job already handed over (the timers re-publish
        jobs no worker took): the worker's claim makes every extra hand-over a
        no-op. Raises when the hand-over failed (the broker is down); the job
        stays queued in the store and the timers publish it again.
        """
        ...

    def wake(self, job_id: str) -> None:
        """The job's stop flag was raised: look now if you can (the heartbeat looks anyway)."""
        ...

    async def close(self) -> None:
        """Stop taking work; abort what runs here and wait for it to wind down."""
        ...
