"""Running an export plan: from sources to files.

This is the one entry point executors call, in a server thread or a Celery
worker, so it is synchronous and turns every failure it can explain into
``ExportFailed`` with a message for the user. Several sources run side by
side (a live clip of two cameras must record the same minutes), each
producing its own files.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av

from vexport.media.archive_source import iter_archive_packets
from vexport.media.audio_fit import fit_audio
from vexport.media.clip_writer import (
    CLIP_CONTAINERS,
    ClipRequest,
    ContainerCannotHold,
    write_clip,
)
from vexport.media.control import JobControl
from vexport.media.decision import AudioPath, Decision, VideoPath, decision_of
from vexport.media.ffmpeg import ffmpeg_binary
from vexport.media.formats import DISK_FULL, error_text
from vexport.media.packets import TimedPacket, wall_datetime
from vexport.media.pdf import PdfLayout, write_pdf
from vexport.media.pixels import PixelChain, pixel_chain, render_still
from vexport.media.plan import (
    ContainerFormat,
    ExportFailed,
    ExportKind,
    ExportPlan,
    ProducedFile,
    SourcePlan,
)
from vexport.media.rendering import Quality, VideoCodec, VideoEncoding
from vexport.media.seams import SeamCheckFailed, verify_seams
from vexport.media.smart_cut import SmartCutter, SmartCutUnavailable
from vexport.media.snapshot import (
    SNAPSHOT_FORMATS,
    StillWriter,
    archive_snapshot,
    live_snapshot,
    write_image,
)
from vexport.media.text import add_soft_subtitles, format_wall
from vexport.media.transcode import TranscodeJob, Transcoder, WallMap
from vexport.media.ts_passthrough import passthrough_clip
from vexport.redact import without_locations
from vexport.sources.archive_index import ArchiveError, ArchiveIndex, load_archive_index
from vexport.sources.live import LiveInput
from vexport.storage import StorageError, StorageReader, default_reader
from vexport.timeutil import format_timestamp

log = logging.getLogger(__name__)

# After a live clip's duration, how long to wait for a stalled input before giving up.
_LIVE_END_GRACE = 5.0
# How much archive after a snapshot instant to read (the next frame tells how long it shows).
_SNAPSHOT_LOOKAHEAD = timedelta(seconds=1)


@dataclass(frozen=True)
class _Output:
    """Where one source's files go: the run's work directory and the source's file prefix."""

    directory: Path
    prefix: str
    # Where the archive's segments held less video than the playlist says (wall seconds).
    holes: list[tuple[float, float]] = dataclasses.field(default_factory=list)

    def file(self, container: ContainerFormat) -> Path:
        return self.directory / f"{self.prefix}.{container.value}"


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

    @property
    def aborted(self) -> bool:
        return self._parent.aborted

    def report_progress(self, fraction: float, last_frame: datetime | None) -> None:
        self._report(self._index, fraction, last_frame)


def run_export(
    plan: ExportPlan,
    control: JobControl,
    *,
    workdir: Path,
    reader: StorageReader | None = None,
    ffmpeg: str | None = None,
    holes: list[tuple[float, float]] | None = None,
) -> list[ProducedFile]:
    """Produce the files of ``plan`` in ``workdir``; each source's files in order, sources
    in plan order.

    ``holes`` is extended with the spans (wall seconds) where an archive's segments held
    less video than its playlist says (truncated, corrupt): gaps the index did not show.

    ``workdir`` belongs to this run (the job engine makes one per attempt and
    hands the produced files to its result store afterwards), so the plan
    names no directory and can run on any worker.
    """
    if not plan.sources:
        raise ExportFailed("the export names no source")
    if plan.kind.is_clip and plan.container not in CLIP_CONTAINERS:
        raise ExportFailed(f"{plan.container.value} is not a video clip format")
    if not plan.kind.is_clip and plan.container not in SNAPSHOT_FORMATS:
        raise ExportFailed(f"{plan.container.value} is not a snapshot format")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
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
        output = _Output(workdir, prefixes[index], holes if holes is not None else [])
        return _run_source(plan, source, output, source_control, storage, ffmpeg)

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
    output: _Output,
    control: JobControl,
    reader: StorageReader,
    ffmpeg: str | None,
) -> list[ProducedFile]:
    try:
        if plan.kind is ExportKind.ARCHIVE_CLIP:
            return _archive_clip(plan, source, output, control, reader, ffmpeg)
        if plan.kind is ExportKind.ARCHIVE_SNAPSHOT:
            return [_archive_snapshot(plan, source, output, reader, ffmpeg)]
        if plan.kind is ExportKind.LIVE_CLIP:
            return _live_clip(plan, source, output, control, ffmpeg)
        return [_live_snapshot(plan, source, output, control, ffmpeg)]
    except ExportFailed:
        raise
    except (ArchiveError, StorageError) as exc:
        # The segment's name, not where the archive lives (a server path, an internal URL).
        raise ExportFailed(f"archive of {source.origin}: {without_locations(str(exc))}") from exc
    except (av.FFmpegError, OSError) as exc:
        if getattr(exc, "errno", None) == errno.ENOSPC:
            raise ExportFailed(f"{source.origin}: {DISK_FULL}") from exc
        if isinstance(exc, av.FFmpegError):
            raise ExportFailed(
                f"video of {source.origin} could not be read: {error_text(exc)}"
            ) from exc
        raise ExportFailed(f"{source.origin}: {error_text(exc)}") from exc


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
    plan: ExportPlan,
    source: SourcePlan,
    output: _Output,
    control: JobControl,
    reader: StorageReader,
    ffmpeg: str | None,
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
    start, end = plan.start, plan.end
    passed = _passthrough(plan, source, index, reader, output, control)
    if passed is not None:
        return passed
    files = _write_source_clip(
        plan,
        source,
        lambda: iter_archive_packets(index, start, end, reader, holes=output.holes),
        ClipRequest(start=plan.start.timestamp(), end=plan.end.timestamp()),
        output,
        control,
        ffmpeg,
    )
    if not files and not control.stop_requested():
        raise missing
    return files


def _passthrough(
    plan: ExportPlan,
    source: SourcePlan,
    index: ArchiveIndex,
    reader: StorageReader,
    output: _Output,
    control: JobControl,
) -> list[ProducedFile] | None:
    """An MPEG-TS clip of an HLS-TS archive with the middle segments passed through, when
    nothing else touches the packets (``media/ts_passthrough.py``); else None."""
    decision = decision_of(plan, source)
    text = source.text
    if (
        plan.container is not ContainerFormat.MPEG_TS
        or decision.video not in (VideoPath.SMART_CUT, VideoPath.COPY)
        or decision.audio is not AudioPath.COPY
        or plan.max_file_size
        or (text is not None and text.soft_subtitles)
        or plan.start is None
        or plan.end is None
    ):
        return None
    try:
        files = passthrough_clip(
            index,
            plan.start,
            plan.end,
            reader,
            origin=source.origin,
            output=output.directory / f"{output.prefix}_001.{plan.container.value}",
            control=control,
            smart=decision.video is VideoPath.SMART_CUT,
        )
    except (SmartCutUnavailable, SeamCheckFailed, ArchiveError) as exc:
        # An unreadable segment is a gap the packet path handles (a new file after it).
        log.info("%s: no passthrough (%s)", source.origin, exc)
        return None
    if files is None:
        return None
    control.report_progress(1.0, files[-1].last_frame)
    return [dataclasses.replace(f, processing=_processing(decision, f)) for f in files]


PacketSource = Callable[[], Iterable[TimedPacket]]
"""Opens the source's packets; called again when a smart cut falls back to a re-encode."""


def _write_source_clip(
    plan: ExportPlan,
    source: SourcePlan,
    packets: PacketSource,
    request: ClipRequest,
    output: _Output,
    control: JobControl,
    ffmpeg: str | None,
    *,
    again: bool = True,
) -> list[ProducedFile]:
    """Copy, smart cut or re-encode one source's packets into clip files, as decided.

    A copy that cannot be made (a codec the smart cut does not encode, a container
    that cannot hold the codec) or whose seams do not decode to the frames they
    should is done again as a full re-encode, and the files say so. ``again``
    False (live inputs: their packets cannot be read twice) keeps what was written.
    """
    decision = decision_of(plan, source)
    try:
        return _write_decided(
            plan, source, decision, packets(), request, output, control, ffmpeg, verify=again
        )
    except (SmartCutUnavailable, SeamCheckFailed, ContainerCannotHold) as exc:
        if decision.video is VideoPath.REENCODE or not again:
            raise
        log.warning("%s: %s; re-encoding the whole clip instead", source.origin, exc)
        for stale in output.directory.glob(f"{output.prefix}_*"):
            stale.unlink(missing_ok=True)
        keeps_hevc = exc.codec == "hevc" and not isinstance(exc, ContainerCannotHold)
        codec = VideoCodec.H265 if keeps_hevc else VideoCodec.H264
        video = VideoEncoding(codec=codec, quality=Quality.FINE)
        fallback_plan = dataclasses.replace(
            plan, rendering=dataclasses.replace(plan.rendering, video=video)
        )
        fallback = Decision(
            video=VideoPath.REENCODE,
            audio=decision.audio,
            reasons=(f"in {codec.value}, as a copy was not possible: {exc}",),
        )
        return _write_decided(
            fallback_plan, source, fallback, packets(), request, output, control, ffmpeg
        )


def _write_decided(
    plan: ExportPlan,
    source: SourcePlan,
    decision: Decision,
    packets: Iterable[TimedPacket],
    request: ClipRequest,
    output: _Output,
    control: JobControl,
    ffmpeg: str | None,
    *,
    verify: bool = True,
) -> list[ProducedFile]:
    """``verify``: check a smart cut's seams (``media/seams.py``); a check that fails
    raises, so only where the caller can write the clip again another way."""
    binary = ffmpeg_binary(ffmpeg)
    cutter: SmartCutter | None = None
    with tempfile.TemporaryDirectory(prefix="vexport-") as workdir:
        packets, request, wall_map = _processed(
            plan, source, decision, packets, request, binary, Path(workdir)
        )
        if decision.video is not VideoPath.REENCODE:
            # The cutter cuts the ends of a smart cut; for every copy it also re-encodes an
            # open GOP's leading pictures where a size limit splits the clip.
            smart = decision.video is VideoPath.SMART_CUT
            cutter = SmartCutter(request.start if smart else None, request.end if smart else None)
            packets = cutter.packets(packets)
        files = write_clip(
            packets,
            request,
            origin=source.origin,
            container=plan.container,
            output_dir=output.directory,
            file_prefix=output.prefix,
            max_file_size=plan.max_file_size,
            control=control,
            edit_list=decision.video is VideoPath.EDIT_LIST,
            leading=cutter.leading_pictures if cutter is not None else None,
        )
    if verify and cutter is not None and cutter.codec is not None:
        verify_seams(files, cutter.codec)
    files = [dataclasses.replace(f, processing=_processing(decision, f)) for f in files]
    if wall_map is not None and wall_map.lapse is not None:
        files = [_true_times(f, wall_map) for f in files]
    text = source.text
    if text is not None and text.soft_subtitles:
        for file in files:
            add_soft_subtitles(
                file.path,
                plan.container,
                text,
                first_frame=file.first_frame.timestamp(),
                last_frame=file.last_frame.timestamp(),
                ffmpeg=binary,
            )
    return files


def _processing(decision: Decision, file: ProducedFile) -> str:
    """What was done to make ``file``, e.g. "smart cut: 37 of 1500 frames re-encoded"."""
    if decision.video is VideoPath.SMART_CUT:
        total = file.frames_copied + file.frames_reencoded
        text = f"smart cut: {file.frames_reencoded} of {total} frames re-encoded"
        return (
            Decision(video=VideoPath.COPY, audio=decision.audio)
            .describe()
            .replace("stream copy", text)
        )
    return decision.describe()


def _processed(
    plan: ExportPlan,
    source: SourcePlan,
    decision: Decision,
    packets: Iterable[TimedPacket],
    request: ClipRequest,
    ffmpeg: str,
    workdir: Path,
) -> tuple[Iterable[TimedPacket], ClipRequest, WallMap | None]:
    """The packets the clip writer (or the smart cutter) gets: copied, re-encoded, or
    without audio, as ``decision`` says (``media/decision.py``)."""
    rendering = plan.rendering
    chain = pixel_chain(source)
    if decision.video is VideoPath.REENCODE:
        log.info("%s: re-encoding the video: %s", source.origin, "; ".join(decision.reasons))
        transcoder = Transcoder(
            TranscodeJob(
                rendering=rendering,
                start=request.start,
                end=request.end,
                duration=request.duration,
                pixel_filters=chain,
                container=plan.container,
            ),
            ffmpeg=ffmpeg,
            workdir=workdir,
        )
        lapse = rendering.time_lapse is not None
        # The transcoder trims exactly; a time-lapse output has its own clock.
        trimmed = ClipRequest(
            end=None if lapse else request.end, duration=None if lapse else request.duration
        )
        return transcoder.packets(packets), trimmed, transcoder.wall_map
    if decision.audio is AudioPath.NONE:
        log.info("%s: %s", source.origin, decision.describe())
        return (tp for tp in packets if tp.kind == "video"), request, None
    if decision.audio is AudioPath.REENCODE:
        log.info("%s: %s", source.origin, decision.describe())
        transcoder = Transcoder(
            TranscodeJob(
                rendering=rendering,
                end=request.end,
                duration=request.duration,
                copy_video=True,
                container=plan.container,
            ),
            ffmpeg=ffmpeg,
            workdir=workdir,
        )
        return transcoder.packets(packets), request, None
    # Camera audio the container cannot hold as it is (G.711 in MP4) is converted.
    fitted = fit_audio(packets, container=plan.container, origin=source.origin)
    return fitted, request, None


def _true_times(file: ProducedFile, wall_map: WallMap) -> ProducedFile:
    """A time-lapse file's first and last frame in the original time."""
    return dataclasses.replace(
        file,
        first_frame=wall_datetime(wall_map(file.first_frame.timestamp())),
        last_frame=wall_datetime(wall_map(file.last_frame.timestamp())),
    )


def _still_writer(plan: ExportPlan, source: SourcePlan, ffmpeg: str | None) -> StillWriter | None:
    """How a snapshot's frame becomes its file, when it is more than a plain image."""
    chain = _still_chain(plan, source)
    if chain is None and plan.container is not ContainerFormat.PDF:
        return None
    binary = ffmpeg_binary(ffmpeg)

    def write(frame: Any, wall: float, path: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="vexport-") as tmp:
            workdir = Path(tmp)
            image = workdir / "frame.png"
            write_image(frame, image, ContainerFormat.PNG)
            if chain is not None:
                target = workdir / "drawn.png" if plan.container is ContainerFormat.PDF else path
                still_format = (
                    ContainerFormat.PNG if plan.container is ContainerFormat.PDF else plan.container
                )
                render_still(
                    image,
                    target,
                    chain,
                    width=frame.width,
                    height=frame.height,
                    wall=wall,
                    container=still_format,
                    ffmpeg=binary,
                    workdir=workdir,
                )
                image = target
            if plan.container is ContainerFormat.PDF:
                text = source.text
                write_pdf(
                    image,
                    path,
                    plan.pdf or PdfLayout(),
                    comment=text.comment if text else "",
                    timestamp_text=format_wall(
                        wall,
                        (text.timestamp_format if text else None) or "",
                        text.timezone_minutes if text else plan.timezone_minutes,
                    ),
                )

    return write


def _still_chain(plan: ExportPlan, source: SourcePlan) -> PixelChain | None:
    """The pixels drawn on a snapshot: on a PDF page text is real text, never pixels."""
    chain = pixel_chain(source)
    if chain is not None and plan.container is ContainerFormat.PDF:
        chain = PixelChain(privacy=chain.privacy, text=None) if chain.privacy else None
    return chain


def _archive_snapshot(
    plan: ExportPlan, source: SourcePlan, output: _Output, reader: StorageReader, ffmpeg: str | None
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
            path=output.file(plan.container),
            write=_still_writer(plan, source, ffmpeg),
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
        rtsp_transport=source.rtsp_transport,
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
    plan: ExportPlan, source: SourcePlan, output: _Output, control: JobControl, ffmpeg: str | None
) -> list[ProducedFile]:
    duration = plan.duration_seconds
    with _live_input(plan, source, ffmpeg, plan.live_connect_timeout_seconds) as live:

        def deadline() -> float | None:
            if duration is None or live.first_packet_at is None:
                return None
            return live.first_packet_at + live.settle_seconds + duration + _LIVE_END_GRACE

        unwatch = _watch(live, control, deadline)
        try:
            return _write_source_clip(
                plan,
                source,
                live.packets,
                ClipRequest(duration=duration),
                output,
                control,
                ffmpeg,
                again=False,
            )
        finally:
            unwatch()


def _live_snapshot(
    plan: ExportPlan, source: SourcePlan, output: _Output, control: JobControl, ffmpeg: str | None
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
                path=output.file(plan.container),
                wait_seconds=wait,
                write=_still_writer(plan, source, ffmpeg),
            )
        except ExportFailed as exc:
            if control.stop_requested():
                raise ExportFailed(f"stopped before a frame from {source.origin} arrived") from exc
            reason = live.last_error
            raise ExportFailed(f"{failed}: {reason}" if reason else str(failed)) from exc
        finally:
            unwatch()
