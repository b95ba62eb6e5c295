"""A node: one serving or agent process, by the name it owns jobs under.

Jobs are owned by node names that survive a restart, so a restarted process
recovers its own jobs at once ("a replica recovers only what it owns")
instead of waiting for their leases to run out. Two live processes must
never share a name (each would take the other's jobs for its own), so a
node holds a presence lease in the store while it lives: a second process
with the same name refuses to start, unless the holder is a process of this
host that no longer exists (the usual case after a crash and a restart).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from hashlib import sha256
from pathlib import Path

from vexport.jobs.store import JobStore
from vexport.timeutil import utcnow

__all__ = ["NodeInUse", "NodePresence", "default_node"]

log = logging.getLogger(__name__)


class NodeInUse(Exception):
    """Another live process holds this node name."""


def default_node(data_dir: Path, role: str = "serve") -> str:
    """``<host>/<role>/<hash of data_dir>``: stable across restarts, distinct per directory."""
    digest = sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}/{role}/{digest}"


class NodePresence:
    def __init__(
        self,
        store: JobStore,
        node: str,
        *,
        ttl: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.node = node
        self.ttl = ttl
        self.clock = clock
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._name = f"node:{node}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def claim(self) -> None:
        """Take the name, or raise ``NodeInUse`` naming who has it."""
        now = self.clock()
        if self.store.acquire_lease(self._name, owner=self.instance, until=now + self.ttl, now=now):
            return
        holder = self.store.lease_holder(self._name)
        if holder is not None and _dead_here(holder[0]):
            log.info("node %s: its previous process %s is gone; taking over", self.node, holder[0])
            self.store.release_lease(self._name, owner=holder[0])
            if self.store.acquire_lease(
                self._name, owner=self.instance, until=now + self.ttl, now=now
            ):
                return
        raise NodeInUse(
            f"node name {self.node!r} is in use by another running process"
            f" ({holder[0] if holder else 'unknown'}); give this one its own"
            " ([jobs] node, or --node)"
        )

    def renew(self) -> bool:
        now = self.clock()
        held = self.store.acquire_lease(
            self._name, owner=self.instance, until=now + self.ttl, now=now
        )
        if not held:
            log.error("node %s: another process took this node's name", self.node)
        return held

    def start(self, interval: float) -> None:
        """Renew in a thread of its own (agents, which run no timers)."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.renew()
                except Exception:
                    log.exception("node %s: renewing its presence failed", self.node)

        self._thread = threading.Thread(target=loop, name="node-presence", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.store.release_lease(self._name, owner=self.instance)
        except Exception:
            log.warning("node %s: could not release its presence", self.node)


def _dead_here(instance: str) -> bool:
    """Whether ``host:pid:tag`` names a process of this host that does not exist."""
    host, _, rest = instance.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # a previous incarnation with our pid (a container's process 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
