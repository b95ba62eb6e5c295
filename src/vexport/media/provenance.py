"""Where each video packet of an export came from: the edit list a signed manifest records.

A stream copy or a smart cut writes most packets exactly as the camera
recorded them, and a few encoded anew. The writer notes, per output file and
in the order the packets go into it, runs of packets copied from one segment
(its URL, the first packet's place among the segment's video packets in
decode order, how many) and runs of packets encoded anew. With that list and
the archive, ``vexport verify --archive`` compares every copied packet with
the recording byte for byte (``evidence/verify.py``); the archive's bytes are
pinned by the SHA-256 of every object read, which ``ReadLog`` takes as the
reads happen (in a thread of its own, off the reader's and the writer's path).

The capture costs a comparison and an increment per packet and one SHA-256
pass over bytes already in memory per object read: see docs/design/evidence.md.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from vexport.media.packets import TimedPacket
from vexport.storage import StorageReader

__all__ = ["PacketRun", "ReadLog", "RunKind", "RunRecorder"]

RunKind = Literal["copied", "reencoded", "unsourced"]
"""``copied``: the recording's own packets; ``reencoded``: encoded by vexport (smart cut
ends, a transcode); ``unsourced``: copied from an input that has no segments (live)."""


@dataclass(frozen=True)
class PacketRun:
    """``count`` consecutive video packets of a file (decode order) of one kind; copied
    runs name their segment and the first packet's index among its video packets."""

    kind: RunKind
    count: int
    segment: str | None = None
    first: int = 0
    init: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "count": self.count}
        if self.kind == "copied":
            data["segment"] = self.segment
            data["first"] = self.first
            if self.init:
                data["init"] = self.init
        return data


class RunRecorder:
    """Folds the video packets a file receives into runs (one comparison per packet)."""

    def __init__(self) -> None:
        self._runs: list[list[Any]] = []  # [kind, segment, first, count, init]

    def add(self, tp: TimedPacket) -> None:
        runs = self._runs
        last = runs[-1] if runs else None
        if tp.reencoded:
            kind, segment, index = "reencoded", None, 0
        elif tp.segment is None:
            kind, segment, index = "unsourced", None, 0
        else:
            kind, segment, index = "copied", tp.segment, tp.segment_index
            if (
                last is not None
                and last[0] == "copied"
                and last[1] == segment
                and last[2] + last[3] == index
            ):
                last[3] += 1
                return
            runs.append([kind, segment, index, 1, tp.segment_init])
            return
        if last is not None and last[0] == kind:
            last[3] += 1
        else:
            runs.append([kind, segment, index, 1, None])

    def add_segment(self, segment: str, count: int) -> None:
        """``count`` packets of ``segment`` from its first on, passed through whole."""
        if count > 0:
            self._runs.append(["copied", segment, 0, count, None])

    def runs(self) -> tuple[PacketRun, ...]:
        return tuple(
            PacketRun(kind=kind, count=count, segment=segment, first=first, init=init)
            for kind, segment, first, count, init in self._runs
        )


class ReadLog(StorageReader):
    """A storage reader that remembers the SHA-256 and size of every object it read.

    The hashing runs in a thread of its own, off the path of the reads (the
    demuxer or the passthrough gets the bytes at once); hashlib releases the
    GIL over large buffers, so it runs beside the export. ``reads()`` waits
    for what is still being hashed.
    """

    def __init__(self, reader: StorageReader) -> None:
        self._reader = reader
        self._lock = threading.Lock()
        self._digests: dict[str, Future[tuple[str, int]]] = {}
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-hash")

    def read(self, url: str) -> bytes:
        data = self._reader.read(url)
        digest = self._hasher.submit(_digest, data)
        with self._lock:
            self._digests[url] = digest
        return data

    def reads(self) -> dict[str, tuple[str, int]]:
        """Every object read: URL -> (SHA-256 hex, size), once all are hashed."""
        with self._lock:
            pending = dict(self._digests)
        return {url: digest.result() for url, digest in pending.items()}


def _digest(data: bytes) -> tuple[str, int]:
    return hashlib.sha256(data).hexdigest(), len(data)
