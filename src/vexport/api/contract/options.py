"""Validating export ``Options`` into an ``ExportRequest``.

This is the one place that knows which parts of the contract vexport honours.
Everything else is refused here with the field's path in the message:
INVALID_ARGUMENT for malformed values, UNIMPLEMENTED for options we do not
support, NOT_FOUND for names that do not exist. A request that passes is safe
to queue: the export can only fail for reasons of the media itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from google.protobuf.message import Message

from vexport.api.contract import privacy as privacy_settings
from vexport.api.contract import text as text_settings
from vexport.api.contract import values
from vexport.api.contract.pdf import pdf_layout_from_settings
from vexport.api.contract.stream import package_password, rendering_from_stream_settings
from vexport.errors import FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from vexport.jobs.requests import ExportRequest
from vexport.media.formats import ContainerFormat, ExportKind
from vexport.media.plan import SourcePlan
from vexport.media.rendering import Rendering
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.sources.catalog import Catalog, Origin

__all__ = ["MAX_ARCHIVE_SPAN", "MIN_MAX_FILE_SIZE", "export_request"]

# Longest archive clip one session may ask for; longer requests are almost
# always a client bug (a swapped or mistyped date), and would tie up an agent.
MAX_ARCHIVE_SPAN = timedelta(days=1)
MIN_MAX_FILE_SIZE = 16 * 1024

_STREAM_FORMATS = {
    pb.StreamType.DEFAULT: ContainerFormat.MP4,
    pb.StreamType.MP4: ContainerFormat.MP4,
    pb.StreamType.MKV: ContainerFormat.MKV,
    pb.StreamType.AVI: ContainerFormat.AVI,
    pb.StreamType.MPEG_TS: ContainerFormat.MPEG_TS,
    pb.StreamType.MOV: ContainerFormat.MOV,
}
_SNAPSHOT_FORMATS = {
    pb.SnapshotType.DEFAULT: ContainerFormat.JPEG,
    pb.SnapshotType.JPEG: ContainerFormat.JPEG,
    pb.SnapshotType.PNG: ContainerFormat.PNG,
    pb.SnapshotType.PDF: ContainerFormat.PDF,
}


def export_request(
    options: pb.Options, catalog: Catalog, agents: Sequence[str], *, cloud_store: bool = False
) -> ExportRequest:
    """Check ``options`` against the contract and the catalog; raise on the first problem.

    ``cloud_store``: whether a result store for ``cloud_export`` is configured.
    """
    _check_enums(options, "session_options")
    mode = options.WhichOneof("mode")
    output = options.WhichOneof("output_type")
    if mode is None:
        raise InvalidArgument("set either 'live' or 'archive'", field="session_options.mode")
    if output is None:
        raise InvalidArgument(
            "set either 'stream' (a clip) or 'snapshot'", field="session_options.output_type"
        )
    kind = {
        ("archive", "stream"): ExportKind.ARCHIVE_CLIP,
        ("archive", "snapshot"): ExportKind.ARCHIVE_SNAPSHOT,
        ("live", "stream"): ExportKind.LIVE_CLIP,
        ("live", "snapshot"): ExportKind.LIVE_SNAPSHOT,
    }[(mode, output)]

    agent = _agent(options.export_agent_access_point, agents)
    file_stem, timezone = _common_settings(options)
    package, lock = _evidence_settings(options)
    container = _container(options)
    _unsupported_output_options(options)
    if options.cloud_export and not cloud_store:
        raise FailedPrecondition(
            "no object store is configured for cloud export; set [results] s3_bucket"
            " (and the [s3] endpoint and keys) in the server configuration",
            field="session_options.cloud_export",
        )
    rendering = Rendering()
    password = ""
    if options.HasField("stream"):
        rendering = rendering_from_stream_settings(
            options.stream.settings, container, field="session_options.stream.settings"
        )
        password, where = package_password(
            options.stream.settings, field="session_options.stream.settings"
        )
        if password and not package:
            raise InvalidArgument(
                "the password encrypts the evidence package: also set the common setting"
                " evidence_package",
                field=where,
            )
    pdf = None
    if options.HasField("snapshot"):
        layout = pdf_layout_from_settings(
            options.snapshot.settings, field="session_options.snapshot.settings"
        )
        pdf = layout if container is ContainerFormat.PDF else None

    start = end = None
    duration: float | None = None
    if mode == "archive":
        sources = _archive_sources(options, catalog, container)
        start, end = _archive_times(options.archive, kind)
    else:
        sources = _live_sources(options, catalog, container)
        duration = _live_duration(options.live, kind)

    max_file_size = options.max_file_size
    if max_file_size and max_file_size < MIN_MAX_FILE_SIZE:
        raise InvalidArgument(
            f"{max_file_size} bytes is too small; use 0 (no limit) or at least "
            f"{MIN_MAX_FILE_SIZE} bytes",
            field="session_options.max_file_size",
        )
    if max_file_size and not kind.is_clip:
        max_file_size = 0  # one snapshot is one file; the limit has nothing to split

    return ExportRequest(
        kind=kind,
        sources=sources,
        container=container,
        agent=agent,
        start=start,
        end=end,
        duration_seconds=duration,
        max_file_size=max_file_size,
        file_stem=file_stem,
        timezone_minutes=timezone,
        pdf=pdf,
        rendering=rendering,
        cloud_export=options.cloud_export,
        evidence_package=package,
        evidence_lock=lock,
        package_password=password or None,
    )


def _evidence_settings(options: pb.Options) -> tuple[bool, bool]:
    """``evidence_package`` and ``evidence_lock`` among the common settings."""
    package = lock = False
    for setting in options.settings:
        which = setting.WhichOneof("setting")
        if which == "evidence_package":
            package = setting.evidence_package
        elif which == "evidence_lock":
            lock = setting.evidence_lock
    return package, lock


def stored_options(options: pb.Options) -> bytes:
    """``options`` as the job keeps them (and ListSessions shows them): without passwords."""
    kept = pb.Options()
    kept.CopyFrom(options)
    if kept.HasField("stream"):
        for setting in kept.stream.settings:
            if setting.WhichOneof("setting") == "password":
                setting.password = "***"
    return kept.SerializeToString()


def _agent(access_point: str, agents: Sequence[str]) -> str | None:
    if not access_point:
        return None  # the engine picks: the origin's pinned agent, else the first
    if access_point not in agents:
        raise NotFound(
            f"unknown export agent {access_point!r}",
            field="session_options.export_agent_access_point",
        )
    return access_point


def _common_settings(options: pb.Options) -> tuple[str, int]:
    file_stem = "export"
    timezone = 0
    supported = (
        {"file_name", "timezone", "evidence_package", "evidence_lock"}
        | text_settings.COMMON_SETTINGS
        | privacy_settings.COMMON_SETTINGS
    )
    for index, setting in enumerate(options.settings):
        field = f"session_options.settings[{index}]"
        which = setting.WhichOneof("setting")
        if which is None:
            raise InvalidArgument("empty setting: set one of its fields", field=field)
        if which not in supported:
            raise Unimplemented(f"'{which}' is not supported", field=f"{field}.{which}")
        if which == "file_name":
            file_stem = _file_stem(setting.file_name, f"{field}.file_name")
        elif which == "timezone":
            if not -14 * 60 <= setting.timezone <= 14 * 60:
                raise InvalidArgument(
                    f"{setting.timezone} minutes is not a UTC offset (-840..840)",
                    field=f"{field}.timezone",
                )
            timezone = setting.timezone
    return file_stem, timezone


def _file_stem(name: str, field: str) -> str:
    """A client-chosen file name becomes a bare stem: no directories, no odd characters."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    if "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        raise InvalidArgument("a file name, not a path: no '/', '\\' or leading '.'", field=field)
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem).strip(" .")
    if not stem:
        raise InvalidArgument("file name is empty after removing unsafe characters", field=field)
    return stem[:100]


def _container(options: pb.Options) -> ContainerFormat:
    if options.HasField("stream"):
        fmt = options.stream.format
        if fmt == pb.StreamType.EXE:
            raise Unimplemented(
                "EXE (self-playing) exports are not supported; use MP4, MKV, AVI, MOV or MPEG_TS",
                field="session_options.stream.format",
            )
        return _STREAM_FORMATS[fmt]
    return _SNAPSHOT_FORMATS[options.snapshot.format]


def _unsupported_output_options(options: pb.Options) -> None:
    if options.store_result_by_export_agent:
        raise Unimplemented(
            "storing results in the agent's own directory is not supported",
            field="session_options.store_result_by_export_agent",
        )
    if options.external_directory:
        raise Unimplemented(
            "writing results to an external directory is not supported",
            field="session_options.external_directory",
        )


def _source_settings(settings: list[pb.SourceSetting], field: str) -> None:
    """Refuse per-source settings that no part of vexport reads."""
    supported = text_settings.SOURCE_SETTINGS | privacy_settings.SOURCE_SETTINGS
    for index, setting in enumerate(settings):
        which = setting.WhichOneof("setting")
        if which is None:
            raise InvalidArgument(
                "empty setting: set one of its fields", field=f"{field}.settings[{index}]"
            )
        if which not in supported:
            raise Unimplemented(
                f"'{which}' is not supported", field=f"{field}.settings[{index}].{which}"
            )


def _source_plan(
    options: pb.Options,
    settings: Sequence[pb.SourceSetting],
    origin: Origin,
    field: str,
    container: ContainerFormat,
    *,
    storage: str | None = None,
) -> SourcePlan:
    """One source with what is drawn on it: common settings, then its own.

    The plan names the origin and its storage, not their URLs: those stay in
    the catalog of whichever process runs the export.
    """
    _source_settings(list(settings), field)
    text = text_settings.text_overlay_from_settings(
        options.settings,
        settings,
        common_field="session_options.settings",
        source_field=f"{field}.settings",
        origin=origin.origin,
        origin_name=origin.name,
        container=container,
    )
    privacy = privacy_settings.privacy_from_settings(
        options.settings,
        settings,
        common_field="session_options.settings",
        source_field=f"{field}.settings",
    )
    return SourcePlan(
        origin=origin.origin,
        name=origin.name,
        storage=storage,
        text=text,
        privacy=privacy,
        rtsp_transport=origin.rtsp_transport,
    )


def _archive_sources(
    options: pb.Options, catalog: Catalog, container: ContainerFormat
) -> tuple[SourcePlan, ...]:
    archive = options.archive
    if not archive.sources:
        raise InvalidArgument("name at least one source", field="session_options.archive.sources")
    if archive.timeline_mask:
        raise Unimplemented(
            "timeline masks are not supported", field="session_options.archive.timeline_mask"
        )
    if archive.discrete:
        raise Unimplemented(
            "discrete archive export is not supported", field="session_options.archive.discrete"
        )
    plans: list[SourcePlan] = []
    seen: set[str] = set()
    for index, source in enumerate(archive.sources):
        field = f"session_options.archive.sources[{index}]"
        if not source.origin:
            raise InvalidArgument("origin is empty", field=f"{field}.origin")
        if source.origin in seen:
            raise InvalidArgument(f"origin {source.origin!r} is listed twice", field=field)
        seen.add(source.origin)
        if source.timeline_mask:
            raise Unimplemented("timeline masks are not supported", field=f"{field}.timeline_mask")
        if source.mask_filter:
            raise Unimplemented("mask filters are not supported", field=f"{field}.mask_filter")
        if source.tracks:
            raise Unimplemented("track selection is not supported", field=f"{field}.tracks")
        origin = _origin(catalog, source.origin, f"{field}.origin")
        try:
            archive_config = origin.archive(source.storages[0] if source.storages else None)
        except NotFound as exc:
            raise NotFound(str(exc), field=f"{field}.storages") from None
        if len(source.storages) > 1:
            for storage in source.storages[1:]:
                origin.archive(storage)  # every named storage must exist
        plans.append(
            _source_plan(
                options, source.settings, origin, field, container, storage=archive_config.storage
            )
        )
    return tuple(plans)


def _live_sources(
    options: pb.Options, catalog: Catalog, container: ContainerFormat
) -> tuple[SourcePlan, ...]:
    live = options.live
    if not live.sources:
        raise InvalidArgument("name at least one source", field="session_options.live.sources")
    if live.discrete:
        raise Unimplemented(
            "discrete live export is not supported", field="session_options.live.discrete"
        )
    plans: list[SourcePlan] = []
    seen: set[str] = set()
    for index, source in enumerate(live.sources):
        field = f"session_options.live.sources[{index}]"
        if not source.origin:
            raise InvalidArgument("origin is empty", field=f"{field}.origin")
        if source.origin in seen:
            raise InvalidArgument(f"origin {source.origin!r} is listed twice", field=field)
        seen.add(source.origin)
        if source.tracks:
            raise Unimplemented("track selection is not supported", field=f"{field}.tracks")
        origin = _origin(catalog, source.origin, f"{field}.origin")
        if not origin.live_url:
            raise NotFound(f"origin {origin.origin!r} has no live stream", field=f"{field}.origin")
        plans.append(_source_plan(options, source.settings, origin, field, container))
    return tuple(plans)


def _origin(catalog: Catalog, origin: str, field: str) -> Origin:
    try:
        return catalog.get(origin)
    except NotFound as exc:
        raise NotFound(str(exc), field=field) from None


def _archive_times(archive: pb.ArchiveMode, kind: ExportKind) -> tuple[datetime, datetime | None]:
    start = values.timestamp(archive.start_timestamp, "session_options.archive.start_timestamp")
    if kind is ExportKind.ARCHIVE_SNAPSHOT:
        return start, None
    end = values.timestamp(archive.end_timestamp, "session_options.archive.end_timestamp")
    if end <= start:
        raise InvalidArgument(
            "must be after start_timestamp", field="session_options.archive.end_timestamp"
        )
    if end - start > MAX_ARCHIVE_SPAN:
        raise InvalidArgument(
            f"the clip spans {end - start}; at most {MAX_ARCHIVE_SPAN} per session",
            field="session_options.archive.end_timestamp",
        )
    return start, end


def _live_duration(live: pb.LiveMode, kind: ExportKind) -> float | None:
    if not live.HasField("duration") or kind is ExportKind.LIVE_SNAPSHOT:
        return None
    seconds = live.duration.seconds + live.duration.nanos / 1e9
    if seconds <= 0:
        raise InvalidArgument(
            "must be positive; leave it unset to record until StopSession",
            field="session_options.live.duration",
        )
    if seconds > MAX_ARCHIVE_SPAN.total_seconds():
        raise InvalidArgument(
            f"at most {MAX_ARCHIVE_SPAN} per session", field="session_options.live.duration"
        )
    return seconds


def _check_enums(message: Message, path: str) -> None:
    """Proto3 keeps unknown enum numbers; refuse them instead of guessing."""
    for descriptor, value in message.ListFields():
        field = f"{path}.{descriptor.name}"
        if descriptor.enum_type is not None:
            values = value if descriptor.is_repeated else [value]
            known = {v.number for v in descriptor.enum_type.values}
            for item in values:
                if item not in known:
                    raise InvalidArgument(
                        f"{item} is not a value of {descriptor.enum_type.name}", field=field
                    )
        elif descriptor.message_type is not None:
            if descriptor.message_type.GetOptions().map_entry:
                continue
            if descriptor.is_repeated:
                for index, item in enumerate(value):
                    _check_enums(item, f"{field}[{index}]")
            else:
                _check_enums(value, field)
