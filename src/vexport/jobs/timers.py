"""The timers: one pass every ``[sessions] timer_interval``, run once across replicas.

Each process writes the signs of life its clients gave (the poll ledger) on
every pass. The rest runs only in the process that holds the ``timers``
lease in the store (renewed on every pass, taken over by another replica
when its holder stops renewing):

- the watchdog: stop active sessions nobody polled for 5 min (live clips)
  or 30 min (every other kind);
- retention: remove completed sessions not polled or downloaded for 1 h;
- export-to-s3dir answers: forget finished jobs after ``retention`` (24 h)
  and failed ones after ``failure_kept``, so the same request runs again;
- forgetting: drop S_REMOVED rows after ``removed_kept``;
- leases: re-run or fail jobs whose worker stopped heartbeating;
- publishing: hand queued jobs no worker took to their executor again
  (a broker restart loses queued messages, never jobs).

Every query is one indexed statement over the job table, so a pass costs
milliseconds with ten thousand sessions. Time comes from an injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from vexport.config import Settings
from vexport.jobs.ledger import PollLedger
from vexport.jobs.model import JobKind
from vexport.jobs.node import NodePresence
from vexport.jobs.recovery import Recovery
from vexport.jobs.service import JobService
from vexport.jobs.store import JobStore
from vexport.timeutil import utcnow

__all__ = ["TIMERS_LEASE", "Sweeper"]

log = logging.getLogger(__name__)

TIMERS_LEASE = "timers"


class Sweeper:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        service: JobService,
        ledger: PollLedger,
        recovery: Recovery,
        presence: NodePresence,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.store = store
        self.service = service
        self.ledger = ledger
        self.recovery = recovery
        self.presence = presence
        self.clock = clock
        interval = settings.sessions.timer_interval
        # Long enough to survive a slow pass; short enough that a dead holder is replaced soon.
        self.lease_ttl = max(interval * 5, timedelta(seconds=5))

    def tick(self) -> bool:
        """One pass; True if this process held the timers lease and swept."""
        self.ledger.flush(self.store)
        self.presence.renew()
        now = self.clock()
        if not self.store.acquire_lease(
            TIMERS_LEASE, owner=self.presence.instance, until=now + self.lease_ttl, now=now
        ):
            return False
        self.sweep(now)
        return True

    def sweep(self, now: datetime | None = None) -> None:
        now = now or self.clock()
        self.watchdog(now)
        self.retention(now)
        self.answers(now)
        self.forget(now)
        self.recovery.recover_expired()
        self.republish(now)

    def watchdog(self, now: datetime) -> None:
        config = self.settings.sessions
        for due in self.store.watchdog_due(
            live_before=now - config.watchdog_live_clip, other_before=now - config.watchdog
        ):
            limit = config.watchdog_live_clip if due.kind is JobKind.LIVE_CLIP else config.watchdog
            log.info("session %s: no GetSessionState for %s, stopping", due.id, limit)
            job = self.store.get(due.id)
            if job is not None and job.is_active:
                # Said in the result: nobody asked for this stop (docs/api.md, Timers).
                self.service.request_stop(
                    job,
                    reason=f"stopped by the watchdog: no GetSessionState for {limit}; the files"
                    " hold what was exported until then",
                )

    def retention(self, now: datetime) -> None:
        retention = self.settings.sessions.retention
        for due in self.store.retention_due(before=now - retention):
            log.info("session %s: retention of %s over, removing", due.id, retention)
            self.service.remove(due.id, now)

    def answers(self, now: datetime) -> None:
        config = self.settings.export_to_s3dir
        due = self.store.answers_due(
            succeeded_before=now - config.retention, failed_before=now - config.failure_kept
        )
        self.store.delete(d.id for d in due)

    def forget(self, now: datetime) -> None:
        due = self.store.forget_due(before=now - self.settings.sessions.removed_kept)
        self.store.delete(d.id for d in due)

    def republish(self, now: datetime) -> None:
        agents = [a for a in self.service.agent_names if a in self.service.executors]
        base = self.settings.jobs.republish_after.total_seconds()
        for due in self.store.publish_due(agents=agents, now=now, base_seconds=base):
            if not self.service.publish(due.id, due.agent):
                break  # the broker is away: try again next pass
        for due in self.store.queued_for_other_agents(self.service.agent_names):
            self.store.complete(
                due.id,
                succeeded=False,
                error=f"export agent {due.agent!r} is no longer configured",
                files=[],
                now=now,
            )
