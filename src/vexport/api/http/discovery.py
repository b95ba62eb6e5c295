"""``/api/v1/origins``: the configured origins, what their archives hold, thumbnails.

The HTTP twin of ``vexport.v1.DiscoveryService`` (``docs/api.md``,
"Discovery"). Times in answers are ISO 8601 UTC with milliseconds
(``2026-01-01T12:00:00.000Z``), which a browser's ``Date`` reads; the query
takes those or the contract's ``YYYYMMDDTHHMMSS``. An origin's name holds
slashes, so it is the rest of the path before the last segment:
``/api/v1/origins/hosts/N/DeviceIpint.1/SourceEndpoint.video:0:0/intervals``.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from vexport.api.http.models import ERROR_RESPONSES
from vexport.discovery import (
    MAX_IMAGES,
    ArchiveRef,
    Discovery,
    ImageFormat,
    ImageSpec,
    Interval,
    Thumbnail,
    sample_times,
)
from vexport.discovery.history import parse_zone
from vexport.discovery.thumbnails import MAX_SIDE, MEDIA_ERROR
from vexport.errors import FailedPrecondition, InvalidArgument, NotFound
from vexport.sources.archive_index import GAP_TOLERANCE
from vexport.timeutil import TimestampError, parse_duration, parse_timestamp

__all__ = ["discovery_router", "iso"]


def iso(moment: datetime) -> str:
    """``2026-01-01T12:00:00.000Z``: what the discovery answers say, and ``Date`` parses."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _moment(value: str | None, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise InvalidArgument(str(exc), field=field) from None


def _duration(value: str, field: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidArgument(str(exc), field=field) from None


class ArchiveModel(BaseModel):
    storage: str
    access_point: str = Field(description="what ArchiveService.GetHistory2 and GetCalendar take")


class OriginModel(BaseModel):
    origin: str
    label: str
    live: bool = Field(description="whether the origin has a live stream")
    archives: list[ArchiveModel]


class OriginList(BaseModel):
    origins: list[OriginModel]


class IntervalModel(BaseModel):
    begin: str
    end: str = Field(description="exclusive")


class IntervalsAnswer(BaseModel):
    origin: str
    storage: str
    begin: str
    end: str
    complete: bool = Field(description="false: max_count cut the intervals short")
    intervals: list[IntervalModel]
    gaps: list[IntervalModel]


class CalendarAnswer(BaseModel):
    origin: str
    storage: str
    tz: str
    days: list[str] = Field(description="YYYY-MM-DD, days in `tz` that hold recorded video")


class ImageModel(BaseModel):
    time: str = Field(description="the instant asked")
    frame_time: str | None = Field(description="the time of the frame shown")
    mime_type: str
    width: int
    height: int
    data: str | None = Field(description="the image, base64")
    error: str = Field(description='"", NO_MEDIA or MEDIA_ERROR')
    message: str


class ImagesAnswer(BaseModel):
    images: list[ImageModel]
    next_time: str | None = Field(
        description="when max_results cut the sampled instants short: the next `begin`"
    )


def _intervals(intervals: tuple[Interval, ...]) -> list[IntervalModel]:
    return [IntervalModel(begin=iso(i.begin), end=iso(i.end)) for i in intervals]


def _image(image: Thumbnail) -> ImageModel:
    return ImageModel(
        time=iso(image.time),
        frame_time=iso(image.frame_time) if image.frame_time else None,
        mime_type=image.mime_type,
        width=image.width,
        height=image.height,
        data=base64.b64encode(image.data).decode() if image.data else None,
        error=image.error,
        message=image.message,
    )


Storage = Annotated[str, Query(max_length=1000, description="empty: the origin's first archive")]
Width = Annotated[int | None, Query(ge=1, le=MAX_SIDE)]
Format = Annotated[ImageFormat, Query(description="jpeg or png")]
Quality = Annotated[int, Query(ge=1, le=100, description="JPEG quality")]
Exact = Annotated[
    bool, Query(description="the frame shown at the instant, not the keyframe at or before it")
]


def discovery_router(discovery: Discovery) -> APIRouter:
    router = APIRouter(prefix="/api/v1/origins", tags=["discovery"], responses=ERROR_RESPONSES)

    async def render(
        ref: ArchiveRef, times: list[datetime], spec: ImageSpec, exact: bool
    ) -> list[Thumbnail]:
        loop = asyncio.get_running_loop()
        with discovery.admit():
            return await loop.run_in_executor(
                discovery.executor, lambda: discovery.thumbnails(ref, times, spec, exact=exact)
            )

    @router.get("", response_model=OriginList)
    async def list_origins() -> OriginList:
        return OriginList(
            origins=[
                OriginModel(
                    origin=o.origin,
                    label=o.label,
                    live=o.live,
                    archives=[
                        ArchiveModel(storage=a.storage, access_point=a.access_point)
                        for a in o.archives
                    ],
                )
                for o in discovery.origins()
            ]
        )

    @router.get("/{origin:path}/intervals", response_model=IntervalsAnswer)
    async def intervals(
        origin: str,
        storage: Storage = "",
        begin: str | None = None,
        end: str | None = None,
        min_gap_ms: Annotated[int, Query(ge=0, le=86_400_000)] = 0,
        max_count: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> IntervalsAnswer:
        ref = discovery.archive(origin, storage)
        min_gap = max(timedelta(milliseconds=min_gap_ms), GAP_TOLERANCE)
        found = await asyncio.to_thread(
            discovery.history,
            ref,
            _moment(begin, "begin"),
            _moment(end, "end"),
            min_gap=min_gap,
            max_count=max_count,
        )
        return IntervalsAnswer(
            origin=ref[0].origin,
            storage=ref[1].storage,
            begin=iso(found.begin),
            end=iso(found.end),
            complete=found.complete,
            intervals=_intervals(found.intervals),
            gaps=_intervals(found.gaps),
        )

    @router.get("/{origin:path}/calendar", response_model=CalendarAnswer)
    async def calendar(
        origin: str,
        storage: Storage = "",
        begin: str | None = None,
        end: str | None = None,
        tz: Annotated[str, Query(max_length=64, description="IANA name, +HH:MM, or UTC")] = "UTC",
    ) -> CalendarAnswer:
        ref = discovery.archive(origin, storage)
        zone = await asyncio.to_thread(parse_zone, tz)  # may read the tz database
        days = await asyncio.to_thread(
            discovery.calendar, ref, zone, _moment(begin, "begin"), _moment(end, "end")
        )
        return CalendarAnswer(
            origin=ref[0].origin,
            storage=ref[1].storage,
            tz=tz or "UTC",
            days=[d.isoformat() for d in days],
        )

    @router.get("/{origin:path}/thumbnails", response_model=ImagesAnswer)
    async def thumbnails(
        origin: str,
        storage: Storage = "",
        times: Annotated[
            str | None, Query(max_length=4000, description="comma-separated instants")
        ] = None,
        begin: str | None = None,
        end: str | None = None,
        interval: Annotated[str | None, Query(description="e.g. 10s, 500ms")] = None,
        format: Format = ImageFormat.JPEG,
        width: Width = None,
        height: Width = None,
        max_results: Annotated[int, Query(ge=1, le=MAX_IMAGES)] = MAX_IMAGES,
        exact: Exact = False,
        quality: Quality = 80,
    ) -> ImagesAnswer:
        ref = discovery.archive(origin, storage)
        spec = ImageSpec(format=format, width=width, height=height, quality=quality)
        following: datetime | None = None
        if times:
            if interval:
                raise InvalidArgument("give times or an interval, not both", field="interval")
            moments = [_moment(t.strip(), "times") for t in times.split(",") if t.strip()]
            wanted = [m for m in moments if m is not None]
            if len(wanted) > max_results:
                raise InvalidArgument(f"at most {max_results} images per call", field="times")
        else:
            first, last = _moment(begin, "begin"), _moment(end, "end")
            for name, value in (("begin", first), ("end", last), ("interval", interval)):
                if value is None:
                    raise InvalidArgument("is required without times", field=name)
            assert first is not None and last is not None and interval is not None
            wanted, following = sample_times(
                first, last, _duration(interval, "interval"), max_results
            )
        images = await render(ref, wanted, spec, exact)
        return ImagesAnswer(
            images=[_image(i) for i in images],
            next_time=iso(following) if following else None,
        )

    @router.get(
        "/{origin:path}/thumbnail",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
    )
    async def thumbnail(
        origin: str,
        time: str,
        storage: Storage = "",
        format: Format = ImageFormat.JPEG,
        width: Width = None,
        height: Width = None,
        exact: Exact = False,
        quality: Quality = 80,
    ) -> Response:
        """One picture, for an ``<img src>``; ``X-Frame-Time`` is the frame's own time."""
        ref = discovery.archive(origin, storage)
        at = _moment(time, "time")
        if at is None:
            raise InvalidArgument("is required", field="time")
        spec = ImageSpec(format=format, width=width, height=height, quality=quality)
        (image,) = await render(ref, [at], spec, exact)
        if image.error == MEDIA_ERROR:
            raise FailedPrecondition(f"{image.message} ({iso(at)})", field="time")
        if image.data is None:
            raise NotFound(f"{image.message} ({iso(at)})", field="time")
        headers = {"Cache-Control": "private, max-age=300"}
        if image.frame_time is not None:
            headers["X-Frame-Time"] = iso(image.frame_time)
        return Response(image.data, media_type=image.mime_type, headers=headers)

    return router
