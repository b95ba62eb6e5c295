"""What happens to a job whose worker is gone: run it again, or end it with the reason.

Used for jobs whose lease ran out (their worker died or lost the database)
and, at start-up, for the jobs a restarted node held. Kinds that can run
again (archive exports, snapshots) are queued again for any worker, up to
``[jobs] max_attempts`` runs; the others (live clips, export-to-s3dir)
complete with ``succeeded=false`` and the reason. Both are compare-and-set
on the owner the decision was made for, so a worker that comes back just in
time and the sweeper cannot both win.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from vexport.config import JobsConfig
from vexport.jobs.store import Due, JobStore
from vexport.results.base import ResultStore
from vexport.timeutil import utcnow

__all__ = ["RESTARTED", "Recovery", "lease_lost"]

log = logging.getLogger(__name__)

RESTARTED = "the server restarted while this export was running"


def lease_lost(timeout_seconds: float) -> str:
    return (
        f"the export agent's worker stopped answering (no heartbeat for {timeout_seconds:g} s)"
        " while this export was running"
    )


class Recovery:
    def __init__(
        self,
        store: JobStore,
        results: ResultStore,
        config: JobsConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.results = results
        self.config = config
        self.clock = clock

    def recover(self, due: Due, reason: str) -> None:
        if due.owner is None:
            return
        if due.kind.rerunnable and due.attempts < self.config.max_attempts:
            if self.store.requeue(due.id, owner=due.owner):
                self.results.delete(due.id, due.attempts)
                log.info("job %s queued again (run %d of at most %d): %s",
                         due.id, due.attempts + 1, self.config.max_attempts, reason)  # fmt: skip
            return
        if self.store.complete(
            due.id,
            owner=due.owner,
            succeeded=False,
            error=reason,
            files=[],
            now=self.clock(),
            last_frame=due.last_frame,
        ):
            self.results.delete(due.id)
            log.info("job %s failed: %s", due.id, reason)

    def recover_own(self, node: str) -> None:
        """At start-up: the jobs this node held when its previous process ended."""
        for due in self.store.owned_by(node):
            self.recover(due, RESTARTED)

    def recover_expired(self) -> None:
        """Jobs whose lease ran out, whoever held them."""
        reason = lease_lost(self.config.heartbeat_timeout.total_seconds())
        for due in self.store.leases_expired(now=self.clock()):
            self.recover(due, reason)
