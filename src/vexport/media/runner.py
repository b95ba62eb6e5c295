"""Running an export plan: from sources to files.

This is the one entry point executors call, in a server thread or a Celery
worker, so it is synchronous and turns every failure it can explain into
``ExportFailed`` with a message for the user. Several sources run side by
side (a live clip of two cameras must record the same minutes), each
producing its own files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime, timedelta

import av

from vexport.media.archive_source import iter_archive_packets
from vexport.media.clip_writer import CLIP_CONTAINERS, ClipRequest, write_clip
from vexport.media.control import JobControl
from vexport.media.plan import ExportFailed, ExportKind, ExportPlan, ProducedFile, SourcePlan
from vexport.media.snapshot import SNAPSHOT_FORMATS, archive_snapshot, live_snapshot
from vexport.sources.archive_index import ArchiveError, ArchiveIndex, load_archive_index
from vexport.sources.live import LiveInput
from vexport.sources.storage import StorageError, StorageReader, default_reader
from vexport.timeutil import format_timestamp

log = logging.getLogger(__name__)

# How long a live clip waits for its input's first packet (plan.extra can override).
LIVE_CONNECT_TIMEOUT = 15.0
# After a live clip's duration, how long to wait for a stalled input before giving up.
_LIVE_END_GRACE = 5.0
# How much archive after a snapshot instant to read (the next frame tells how long it shows).
_SNAPSHOT_LOOKAHEAD = timedelta(seconds=1)


class _SourceControl:
    """One source's view of the job: its progress is a share of the whole."""

    def __init__(
        self, parent: JobControl, report: Callable[[int, float, datetime | None], None], index: int
    ) -> None:
        self._parent = parent
        self._report = report
        self._index = index

    def stop_requested(self) -> bool:
        return self._parent.stop_requested()

    def wait_stop(self, timeout: float) -> bool:
        return self._parent.wait_stop(timeout)

    def report_progress(self, fraction: float, last_frame: datetime | None) -> None:
        self._report(self._index, fraction, last_frame)


def run_export(
    plan: ExportPlan,
    control: JobControl,
    *,
    reader: StorageReader | None = None,
    ffmpeg: str | None = None,
) -> list[ProducedFile]:
    """Produce the files of ``plan``; files of each source in order, sources in plan order."""
    if not plan.sources:
        raise ExportFailed("the export names no source")
    if plan.kind.is_clip and plan.container not in CLIP_CONTAINERS:
        raise ExportFailed(f"{plan.container.value} is not a video clip format")
    if not plan.kind.is_clip and plan.container not in SNAPSHOT_FORMATS:
        raise ExportFailed(f"{plan.container.value} is not a snapshot format")
    try:
        plan.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportFailed(f"cannot create the output directory: {exc.strerror}") from exc
    storage = reader if reader is not None else default_reader()

    fractions = [0.0] * len(plan.sources)
    lock = threading.Lock()

    def report(index: int, fraction: float, last_frame: datetime | None) -> None:
        with lock:
            fractions[index] = fraction
            total = sum(fractions) / len(fractions)
        control.report_progress(total, last_frame)

    prefixes = file_prefixes(plan)

    def run_one(index: int) -> list[ProducedFile]:
        source = plan.sources[index]
        source_control = _SourceControl(control, report, index)
        return _run_source(plan, source, prefixes[index], source_control, storage, ffmpeg)

    control.report_progress(0.0, None)
    if len(plan.sources) == 1:
        produced = run_one(0)
    else:
        with ThreadPoolExecutor(max_workers=len(plan.sources)) as pool:
            futures = [pool.submit(run_one, i) for i in range(len(plan.sources))]
            outcomes: list[list[ProducedFile] | BaseException] = []
            for future in futures:
                try:
                    outcomes.append(future.result())
                except Exception as exc:
                    outcomes.append(exc)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise errors[0]
        produced = [f for o in outcomes if not isinstance(o, BaseException) for f in o]
    control.report_progress(1.0, None)
    return produced


def _run_source(
    plan: ExportPlan,
    source: SourcePlan,
    prefix: str,
    control: JobControl,
    reader: StorageReader,
    ffmpeg: str | None,
) -> list[ProducedFile]:
    try:
        if plan.kind is ExportKind.ARCHIVE_CLIP:
            return _archive_clip(plan, source, prefix, control, reader)
        if plan.kind is ExportKind.ARCHIVE_SNAPSHOT:
            return [_archive_snapshot(plan, source, prefix, reader)]
        if plan.kind is ExportKind.LIVE_CLIP:
            return _live_clip(plan, source, prefix, control, ffmpeg)
        return [_live_snapshot(plan, source, prefix, control, ffmpeg)]
    except ExportFailed:
        raise
    except (ArchiveError, StorageError) as exc:
        raise ExportFailed(f"archive of {source.origin}: {exc}") from exc
    except av.FFmpegError as exc:
        raise ExportFailed(f"video of {source.origin} could not be read: {exc}") from exc
    except OSError as exc:
        raise ExportFailed(f"{source.origin}: {exc.strerror or exc}") from exc


def file_prefixes(plan: ExportPlan) -> list[str]:
    """``{stem}_{name}`` per source; a name given twice gets ``-2``, ``-3``… so no file is lost."""
    seen: dict[str, int] = {}
    prefixes = []
    for source in plan.sources:
        count = seen[source.name] = seen.get(source.name, 0) + 1
        name = source.name if count == 1 else f"{source.name}-{count}"
        prefixes.append(f"{plan.file_stem}_{name}")
    return prefixes


def _load_index(source: SourcePlan, reader: StorageReader) -> ArchiveIndex:
    if not source.archive_url:
        raise ExportFailed(f"{source.origin} has no archive")
    return load_archive_index(source.archive_url, reader)


def _archive_clip(
    plan: ExportPlan, source: SourcePlan, prefix: str, control: JobControl, reader: StorageReader
) -> list[ProducedFile]:
    if plan.start is None or plan.end is None:
        raise ExportFailed("an archive clip needs a start and an end")
    if plan.end <= plan.start:
        raise ExportFailed("the end of the interval must come after its start")
    index = _load_index(source, reader)
    missing = ExportFailed(
        f"no archive for {source.origin} between {format_timestamp(plan.start)}"
        f" and {format_timestamp(plan.end)}"
    )
    if not index.segments_between(plan.start, plan.end):
        raise missing
    for gap in index.gaps_between(plan.start, plan.end):
        log.info(
            "archive of %s lacks %s..%s",
            source.origin,
            format_timestamp(gap.start),
            format_timestamp(gap.end),
        )
    files = write_clip(
        iter_archive_packets(index, plan.start, plan.end, reader),
        ClipRequest(start=plan.start.timestamp(), end=plan.end.timestamp()),
        origin=source.origin,
        container=plan.container,
        output_dir=plan.output_dir,
        file_prefix=prefix,
        max_file_size=plan.max_file_size,
        control=control,
    )
    if not files and not control.stop_requested():
        raise missing
    return files


def _archive_snapshot(
    plan: ExportPlan, source: SourcePlan, prefix: str, reader: StorageReader
) -> ProducedFile:
    if plan.start is None:
        raise ExportFailed("an archive snapshot needs a time")
    index = _load_index(source, reader)
    at = plan.start
    if not index.segments_between(at, at):
        raise ExportFailed(f"no archive for {source.origin} at {format_timestamp(at)}")
    # Closing the generator stops it reading segments past the snapshot.
    with closing(iter_archive_packets(index, at, at + _SNAPSHOT_LOOKAHEAD, reader)) as packets:
        return archive_snapshot(
            packets,
            at,
            origin=source.origin,
            container=plan.container,
            path=plan.output_dir / f"{prefix}.{plan.container.value}",
        )


def _live_input(
    plan: ExportPlan, source: SourcePlan, ffmpeg: str | None, first_packet_timeout: float
) -> LiveInput:
    if not source.live_url:
        raise ExportFailed(f"{source.origin} has no live video")
    return LiveInput(
        source.live_url,
        ffmpeg=ffmpeg,
        reconnect_delay=plan.reconnect_delay_seconds,
        first_packet_timeout=first_packet_timeout,
    )


def _watch(
    live: LiveInput, control: JobControl, deadline: Callable[[], float | None]
) -> Callable[[], None]:
    """Close ``live`` on a stop request or past ``deadline()`` (a blocked read cannot look)."""
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            if control.wait_stop(0.1):
                live.close()
                return
            limit = deadline()
            if limit is not None and time.time() > limit:
                live.close()
                return

    thread = threading.Thread(target=loop, name="live-watch", daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join(timeout=2)

    return stop


def _live_clip(
    plan: ExportPlan, source: SourcePlan, prefix: str, control: JobControl, ffmpeg: str | None
) -> list[ProducedFile]:
    timeout = float(plan.extra.get("live_connect_timeout_seconds", LIVE_CONNECT_TIMEOUT))
    duration = plan.duration_seconds
    with _live_input(plan, source, ffmpeg, timeout) as live:

        def deadline() -> float | None:
            if duration is None or live.first_packet_at is None:
                return None
            return live.first_packet_at + live.settle_seconds + duration + _LIVE_END_GRACE

        unwatch = _watch(live, control, deadline)
        try:
            return write_clip(
                live.packets(),
                ClipRequest(duration=duration),
                origin=source.origin,
                container=plan.container,
                output_dir=plan.output_dir,
                file_prefix=prefix,
                max_file_size=plan.max_file_size,
                control=control,
            )
        finally:
            unwatch()


def _live_snapshot(
    plan: ExportPlan, source: SourcePlan, prefix: str, control: JobControl, ffmpeg: str | None
) -> ProducedFile:
    wait = plan.snapshot_wait_seconds
    failed = ExportFailed(f"no decodable frame from {source.origin} within {wait:g} s")
    with _live_input(plan, source, ffmpeg, wait) as live:
        give_up = time.time() + wait
        unwatch = _watch(live, control, lambda: give_up)
        try:
            return live_snapshot(
                live.packets(),
                origin=source.origin,
                container=plan.container,
                path=plan.output_dir / f"{prefix}.{plan.container.value}",
                wait_seconds=wait,
            )
        except ExportFailed as exc:
            if control.stop_requested():
                raise ExportFailed(f"stopped before a frame from {source.origin} arrived") from exc
            reason = live.last_error
            raise ExportFailed(f"{failed}: {reason}" if reason else str(failed)) from exc
        finally:
            unwatch()
