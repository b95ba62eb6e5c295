"""Discovery for the adapters: origins, what an archive holds, thumbnails.

Every method is synchronous and reads manifests and segments: the adapters
call ``origins`` directly (it only reads the catalog), the index readers
from ``asyncio.to_thread``, and ``thumbnails`` on ``self.executor``, a
small pool of its own, so a page asking forty pictures at once queues them
there rather than taking the threads the session calls use.

Manifests are re-read at most every ``index_ttl`` seconds per archive (a
recording archive grows by a segment every few seconds; a timeline asking
twenty thumbnails should read it once), and rendered thumbnails are kept in
a small LRU cache: a timeline that is redrawn asks for the same ones again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta, tzinfo

from vexport.config import ArchiveConfig
from vexport.discovery.history import History, history, recorded_days
from vexport.discovery.origins import (
    OriginInfo,
    describe_origins,
    find_access_point,
    find_archive,
)
from vexport.discovery.thumbnails import MAX_IMAGES, ImageSpec, Thumbnail, render_thumbnail
from vexport.errors import InvalidArgument, ResourceExhausted, Unavailable
from vexport.sources.archive_index import (
    GAP_TOLERANCE,
    ArchiveError,
    ArchiveIndex,
    load_archive_index,
)
from vexport.sources.catalog import Catalog, Origin
from vexport.storage import StorageReader

__all__ = ["ArchiveRef", "Discovery"]

log = logging.getLogger(__name__)

ArchiveRef = tuple[Origin, ArchiveConfig]


class Discovery:
    def __init__(
        self,
        catalog: Catalog,
        reader: StorageReader,
        *,
        index_ttl: float = 2.0,
        cache_size: int = 512,
        workers: int = 2,
        max_pending: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self.reader = reader
        self.index_ttl = index_ttl
        self.clock = clock
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thumbnail")
        self._lock = threading.Lock()
        self._indexes: dict[str, tuple[float, ArchiveIndex]] = {}
        self._images: OrderedDict[tuple[object, ...], Thumbnail] = OrderedDict()
        self._cache_size = cache_size
        self._pending = 0
        self._max_pending = max_pending

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place in the thumbnail queue; RESOURCE_EXHAUSTED when it is full.

        The pool has few threads so that pictures never starve the session calls;
        this keeps a flood of requests from queueing without end behind them.
        """
        with self._lock:
            if self._pending >= self._max_pending:
                raise ResourceExhausted(
                    f"{self._pending} thumbnail requests are waiting; try again later"
                )
            self._pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- what exists --------------------------------------------------------------------

    def origins(self) -> list[OriginInfo]:
        return describe_origins(self.catalog)

    def archive(self, origin: str, storage: str | None = None) -> ArchiveRef:
        return find_archive(self.catalog, origin, storage)

    def access_point(self, access_point: str) -> ArchiveRef:
        return find_access_point(self.catalog, access_point)

    def index(self, ref: ArchiveRef) -> ArchiveIndex:
        """The archive's index, read again when older than ``index_ttl``; UNAVAILABLE if
        the manifest cannot be read (the reason is logged, never shown: it names URLs)."""
        origin, archive = ref
        now = self.clock()
        with self._lock:
            cached = self._indexes.get(archive.url)
        if cached is not None and now - cached[0] < self.index_ttl:
            return cached[1]
        try:
            index = load_archive_index(archive.url, self.reader)
        except ArchiveError as exc:
            log.warning("archive %s of %s unreadable: %s", archive.storage, origin.origin, exc)
            raise Unavailable(
                f"the archive {archive.storage!r} of {origin.origin!r} cannot be read now"
            ) from None
        with self._lock:
            self._indexes[archive.url] = (now, index)
        return index

    # -- what the archive holds ---------------------------------------------------------

    def history(
        self,
        ref: ArchiveRef,
        begin: datetime | None = None,
        end: datetime | None = None,
        *,
        min_gap: timedelta = GAP_TOLERANCE,
        max_count: int = 0,
        newest_first: bool = False,
    ) -> History:
        """Intervals and gaps in [begin, end); either bound unset: the archive's own."""
        index = self.index(ref)
        begin, end = _bounds(index, begin, end)
        if max_count < 0:
            raise InvalidArgument("must not be negative", field="max_count")
        return history(
            index, begin, end, min_gap=min_gap, max_count=max_count, newest_first=newest_first
        )

    def calendar(
        self,
        ref: ArchiveRef,
        zone: tzinfo,
        begin: datetime | None = None,
        end: datetime | None = None,
    ) -> list[date]:
        return recorded_days(self.history(ref, begin, end).intervals, zone)

    # -- pictures -----------------------------------------------------------------------

    def thumbnails(
        self, ref: ArchiveRef, times: Sequence[datetime], spec: ImageSpec, *, exact: bool = False
    ) -> list[Thumbnail]:
        """One thumbnail per instant, in the order asked; run it on ``self.executor``
        inside ``admit()``."""
        if not times:
            raise InvalidArgument("at least one time is needed", field="times")
        if len(times) > MAX_IMAGES:
            raise InvalidArgument(f"at most {MAX_IMAGES} images per call", field="times")
        index = self.index(ref)
        origin, archive = ref
        images: list[Thumbnail] = []
        for at in times:
            key = (archive.url, at, spec, exact)
            with self._lock:
                cached = self._images.get(key)
                if cached is not None:
                    self._images.move_to_end(key)
            if cached is None or not _still_valid(cached, index):
                cached = render_thumbnail(
                    index, at, self.reader, spec, exact=exact, origin=origin.origin
                )
                if not cached.error:
                    self._remember(key, cached)
            images.append(cached)
        return images

    def _remember(self, key: tuple[object, ...], image: Thumbnail) -> None:
        with self._lock:
            self._images[key] = image
            while len(self._images) > self._cache_size:
                self._images.popitem(last=False)


def _still_valid(image: Thumbnail, index: ArchiveIndex) -> bool:
    """A cached picture holds while the archive still covers its instant (not trimmed)."""
    return bool(index.segments_between(image.time, image.time))


def _bounds(
    index: ArchiveIndex, begin: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    first, last = index.start, index.end
    if begin is None:
        if first is None:
            raise InvalidArgument("the archive is empty: give begin", field="begin")
        begin = first
    if end is None:
        if last is None:
            raise InvalidArgument("the archive is empty: give end", field="end")
        end = last
    if end < begin:
        raise InvalidArgument("must not be before begin", field="end")
    return begin, end
