"""The local pool: jobs run in worker threads of this process.

Media work happens in FFmpeg (subprocesses or libav) and releases the GIL,
so threads are enough: a slot is a thread, the queue an ordered set of ids.
The embedded default runs every agent this way; scaled out, API replicas use
one for export-to-s3dir (whose caller's key must not leave the process).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from vexport.jobs.control import StoreJobControl

log = logging.getLogger(__name__)

__all__ = ["SHUTDOWN", "LocalPool"]

SHUTDOWN = "the server shut down or restarted while this export was running"

Run = Callable[[str, StoreJobControl | None], None]
ControlFactory = Callable[[str], StoreJobControl]


class LocalPool:
    def __init__(
        self,
        access_point: str,
        run: Run,
        make_control: ControlFactory,
        *,
        max_running: int,
    ) -> None:
        self.access_point = access_point
        self._run = run
        self._make_control = make_control
        self._max_running = max_running
        self._lock = threading.Lock()
        self._queue: OrderedDict[str, None] = OrderedDict()
        self._running: dict[str, StoreJobControl] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._closed = False

    def submit(self, job_id: str) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            if job_id in self._running:
                return
            self._queue[job_id] = None
        self._pump()

    def wake(self, job_id: str) -> None:
        with self._lock:
            control = self._running.get(job_id)
        if control is not None:
            control.wake()

    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    def queued_count(self) -> int:
        with self._lock:
            return len(self._queue)

    def _pump(self) -> None:
        """Start queued jobs while slots are free."""
        with self._lock:
            while self._queue and len(self._running) < self._max_running and not self._closed:
                job_id, _ = self._queue.popitem(last=False)
                control = self._make_control(job_id)
                self._running[job_id] = control
                thread = threading.Thread(
                    target=self._thread, args=(job_id, control), name=f"export-{job_id[:8]}"
                )
                self._threads[job_id] = thread
                thread.start()

    def _thread(self, job_id: str, control: StoreJobControl) -> None:
        try:
            self._run(job_id, control)
        except Exception:  # the worker records failures itself; this is the last guard
            log.exception("job %s crashed", job_id)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
                self._threads.pop(job_id, None)
            self._pump()

    async def close(self, wait: float = 30.0) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            for control in self._running.values():
                control.abort(SHUTDOWN)
            threads = list(self._threads.values())
        for thread in threads:
            await asyncio.to_thread(thread.join, wait)
