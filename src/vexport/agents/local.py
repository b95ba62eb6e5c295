"""The local pool: exports run in worker threads of this process.

Media work happens in FFmpeg (subprocess or libav) and releases the GIL, so
threads are enough; a slot is a thread, the queue a deque. Stopping a queued
job just takes it out of the queue; stopping a running one sets its control's
flag and the export finalises its files.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from vexport.agents.executor import JobRunner
from vexport.media.control import SimpleJobControl

log = logging.getLogger(__name__)

ControlFactory = Callable[[str], SimpleJobControl]


class LocalPool:
    def __init__(
        self,
        access_point: str,
        runner: JobRunner,
        *,
        max_running: int,
        max_queued: int,
        make_control: ControlFactory | None = None,
        on_dequeued_stop: Callable[[str], None] | None = None,
    ) -> None:
        self.access_point = access_point
        self._runner = runner
        self._max_running = max_running
        self._max_queued = max_queued
        self._make_control = make_control or (lambda _sid: SimpleJobControl())
        self._on_dequeued_stop = on_dequeued_stop
        self._lock = threading.Lock()
        self._queue: OrderedDict[str, None] = OrderedDict()
        self._running: dict[str, SimpleJobControl] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._closed = False

    def has_room(self) -> bool:
        with self._lock:
            free_slots = self._max_running - len(self._running)
            return len(self._queue) < self._max_queued + max(0, free_slots)

    def submit(self, session_id: str) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            self._queue[session_id] = None
        self._pump()

    def stop(self, session_id: str) -> bool:
        with self._lock:
            if session_id in self._queue:
                del self._queue[session_id]
                dequeued = True
            elif session_id in self._running:
                self._running[session_id].stop()
                return True
            else:
                return False
        if dequeued and self._on_dequeued_stop is not None:
            self._on_dequeued_stop(session_id)
        return True

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
                session_id, _ = self._queue.popitem(last=False)
                control = self._make_control(session_id)
                self._running[session_id] = control
                thread = threading.Thread(
                    target=self._run, args=(session_id, control), name=f"export-{session_id[:8]}"
                )
                self._threads[session_id] = thread
                thread.start()

    def _run(self, session_id: str, control: SimpleJobControl) -> None:
        try:
            self._runner(session_id, control)
        except Exception:  # the runner records failures itself; this is the last guard
            log.exception("export %s crashed", session_id)
        finally:
            with self._lock:
                self._running.pop(session_id, None)
                self._threads.pop(session_id, None)
            self._pump()

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            for control in self._running.values():
                control.abort()
            threads = list(self._threads.values())
        for thread in threads:
            await asyncio.to_thread(thread.join, 30)
