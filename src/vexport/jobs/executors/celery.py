"""The Celery executor: one queue per export agent, served by ``vexport agent`` workers.

A message carries a job id and nothing else; the worker claims the job in
the store (so two deliveries of one id run it once) and heartbeats its lease
there. The store, not the broker, decides what happens to a job whose worker
died (re-run or fail it after ``heartbeat_timeout``, never after the
broker's visibility timeout: a message the broker delivers again later finds
the job claimed, or finished, and does nothing), and the timers publish
queued jobs again when a broker restart lost their message.

Workers run jobs in threads (``pool="threads"``), ``max_running`` at a time.
A message is acknowledged when its job ends and a worker takes one per free
slot (late acknowledgement, prefetch 1): with early acknowledgement the first
worker would take every queued message and leave the others idle. Redis is
the default broker; RabbitMQ (``amqp://``) works the same.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from celery import Celery, signals

from vexport.config import Settings
from vexport.jobs.control import StoreJobControl
from vexport.jobs.executors.local import SHUTDOWN
from vexport.jobs.worker import JobWorker

__all__ = ["TASK", "CeleryExecutor", "celery_app", "queue_name", "serve_agent"]

log = logging.getLogger(__name__)

TASK = "vexport.run_job"


def queue_name(settings: Settings, access_point: str) -> str:
    return settings.jobs.queue_prefix + access_point


def celery_app(settings: Settings) -> Celery:
    app = Celery(
        "vexport", broker=settings.jobs.broker_url.get_secret_value(), set_as_current=False
    )
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=5,
        broker_transport_options={"socket_connect_timeout": 3, "socket_timeout": 10},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_enable_remote_control=False,  # no broadcast queues: nothing here uses them
    )
    return app


class CeleryExecutor:
    """Publishes job ids to the agent's queue (API replicas in scaled-out mode)."""

    def __init__(self, app: Celery, access_point: str, queue: str) -> None:
        self.access_point = access_point
        self._app = app
        self._queue = queue

    def submit(self, job_id: str) -> None:
        self._app.send_task(
            TASK,
            args=[job_id],
            queue=self._queue,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0.1, "interval_step": 0.2},
        )

    def wake(self, job_id: str) -> None:
        """Nothing to do: the worker reads the stop flag with its next heartbeat."""

    async def close(self) -> None:
        self._app.pool.force_close_all()


class _Running:
    """The controls of the jobs this worker process runs, for a shutdown to abort."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._controls: dict[str, StoreJobControl] = {}

    def add(self, job_id: str, control: StoreJobControl) -> None:
        with self._lock:
            self._controls[job_id] = control

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._controls.pop(job_id, None)

    def abort_all(self, reason: str) -> None:
        with self._lock:
            for control in self._controls.values():
                control.abort(reason)


def serve_agent(
    settings: Settings,
    worker: JobWorker,
    access_point: str,
    *,
    concurrency: int,
    log_level: str = "INFO",
) -> None:
    """Run a Celery worker for ``access_point``'s queue until SIGTERM (blocking).

    On a warm shutdown the jobs running here are aborted: kinds that can run
    again go back to the queue for another worker, the others fail with the
    reason; nothing waits for a live clip that would never end.
    """
    app = celery_app(settings)
    running = _Running()

    @app.task(name=TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_job(job_id: str) -> None:
        control = worker.control(job_id)
        running.add(job_id, control)
        try:
            worker.run(job_id, control)
        finally:
            running.remove(job_id)

    def shutting_down(**_: Any) -> None:
        log.info("agent %s shutting down: aborting running exports", access_point)
        running.abort_all(SHUTDOWN)

    signals.worker_shutting_down.connect(shutting_down, weak=False)
    node = "".join(c if c.isalnum() or c in "-_." else "-" for c in worker.node)
    celery_worker = app.Worker(
        queues=[queue_name(settings, access_point)],
        concurrency=concurrency,
        pool="threads",
        hostname=f"{node}@{socket.gethostname()}",
        loglevel=log_level,
        without_mingle=True,
        without_gossip=True,
        optimization="fair",
    )
    celery_worker.start()
