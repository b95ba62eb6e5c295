"""``vexport agent``: one export agent's worker process in scaled-out mode.

It serves the agent's Celery queue with the same worker, store and result
store a serving process would use (``app.build_parts``): ``max_running``
exports at once, each under a heartbeat lease in the store. Start as many
as the agent needs, on any hosts; each one needs a node name of its own.
"""

from __future__ import annotations

import logging

from vexport.app import agent_limit, build_parts
from vexport.config import Settings
from vexport.demo import DemoCamera
from vexport.jobs.node import default_node
from vexport.sources.catalog import Catalog

__all__ = ["run_agent"]

log = logging.getLogger(__name__)


def run_agent(
    settings: Settings, access_point: str, *, node: str | None = None, log_level: str = "INFO"
) -> None:
    """Serve ``access_point``'s queue until SIGTERM (blocking)."""
    from vexport.jobs.executors.celery import serve_agent  # Celery only where it is used

    concurrency = agent_limit(settings, access_point)
    catalog = Catalog(settings.sources)
    if settings.demo.enabled:  # the serving process on this host records it
        catalog.add(DemoCamera(settings.demo, settings.server.data_dir).source())
    name = (
        node
        or settings.jobs.node
        or default_node(settings.server.data_dir, f"agent {access_point}")
    )
    parts = build_parts(settings, catalog, name)
    parts.presence.claim()
    parts.recovery.recover_own(name)
    parts.presence.start(settings.jobs.heartbeat_interval.total_seconds() * 2)
    log.info("agent %s: node %s serving up to %d exports at once", access_point, name, concurrency)
    try:
        serve_agent(
            settings, parts.worker, access_point, concurrency=concurrency, log_level=log_level
        )
    finally:
        parts.presence.release()
        parts.store.close()
