"""Discovery over gRPC: the vendor's ArchiveService (GetHistory2, GetCalendar) and ours.

``axxonsoft.bl.archive.ArchiveService`` is served wire-compatibly for the two
calls the vendor's export clients make first: they find an archive's
intervals and days in milliseconds since 1900-01-01 UTC, the archive named by
its storage source access point. ``vexport.v1.DiscoveryService`` says the
same with protobuf Timestamps, adds the origin list and the thumbnails.
Index reads run in threads, thumbnails on the discovery's own pool.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from vexport.api.grpc.servicer import status_of
from vexport.discovery import MAX_IMAGES, Discovery, ImageFormat, ImageSpec, Interval, sample_times
from vexport.discovery.history import parse_zone
from vexport.errors import InvalidArgument, Unavailable, VexportError
from vexport.protos.axxonsoft.bl.archive import ArchiveService_pb2 as apb
from vexport.protos.axxonsoft.bl.archive import ArchiveService_pb2_grpc as apb_grpc
from vexport.protos.vexport.v1 import discovery_service_pb2 as dpb
from vexport.protos.vexport.v1 import discovery_service_pb2_grpc as dpb_grpc
from vexport.sources.archive_index import GAP_TOLERANCE

__all__ = [
    "ArchiveServicer",
    "DiscoveryServicer",
    "discovery_services",
    "from_vendor_ms",
    "to_vendor_ms",
]

VENDOR_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

T = TypeVar("T")


def from_vendor_ms(ms: int) -> datetime:
    """Milliseconds since 1900-01-01T00:00:00Z (the vendor's archive times)."""
    try:
        return VENDOR_EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise InvalidArgument(f"{ms} ms is out of range", field="begin_time") from None


def to_vendor_ms(moment: datetime, *, up: bool = False) -> int:
    """The vendor's milliseconds; ``up`` rounds up (an interval's end still covers it)."""
    ms = (moment - VENDOR_EPOCH) / _MS
    return math.ceil(ms) if up else math.floor(ms)


def _unary(
    method: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]]:
    @wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except VexportError as exc:
            await context.abort(status_of(exc), str(exc))
            raise

    return wrapper


class ArchiveServicer(apb_grpc.ArchiveServiceServicer):
    def __init__(self, discovery: Discovery) -> None:
        self.discovery = discovery

    def _range(self, request: Any) -> tuple[datetime, datetime, bool]:
        begin, end = from_vendor_ms(request.begin_time), from_vendor_ms(request.end_time)
        if begin > end:  # the vendor's way of asking newest first
            return end, begin, True
        return begin, end, False

    @_unary
    async def GetHistory2(
        self, request: apb.GetHistory2Request, context: grpc.aio.ServicerContext
    ) -> apb.GetHistory2Response:
        ref = self.discovery.access_point(request.access_point)
        begin, end, newest_first = self._range(request)
        try:
            found = await asyncio.to_thread(
                self.discovery.history,
                ref,
                begin,
                end,
                min_gap=max(timedelta(milliseconds=request.min_gap_ms), GAP_TOLERANCE),
                max_count=request.max_count,
                newest_first=newest_first,
            )
        except Unavailable:
            return apb.GetHistory2Response(result=apb.GetHistory2Response.TRY_LATER)
        answer = apb.GetHistory2Response
        return answer(
            result=answer.FULL if found.complete else answer.PARTIAL,
            intervals=[
                apb.Interval(
                    begin_time=to_vendor_ms(i.begin), end_time=to_vendor_ms(i.end, up=True)
                )
                for i in found.intervals
            ],
        )

    @_unary
    async def GetCalendar(
        self, request: apb.GetCalendarRequest, context: grpc.aio.ServicerContext
    ) -> apb.GetCalendarResponse:
        ref = self.discovery.access_point(request.access_point)
        begin, end, _ = self._range(request)
        days = await asyncio.to_thread(self.discovery.calendar, ref, UTC, begin, end)
        return apb.GetCalendarResponse(
            days=[to_vendor_ms(datetime(d.year, d.month, d.day, tzinfo=UTC)) for d in days]
        )


def _time(message: Any, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    value: Timestamp = getattr(message, name)
    return value.ToDatetime(tzinfo=UTC)


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _intervals(intervals: tuple[Interval, ...]) -> list[dpb.TimeInterval]:
    return [dpb.TimeInterval(begin=_timestamp(i.begin), end=_timestamp(i.end)) for i in intervals]


def _duration(message: Any, name: str) -> timedelta | None:
    if not message.HasField(name):
        return None
    value: Duration = getattr(message, name)
    return value.ToTimedelta()


class DiscoveryServicer(dpb_grpc.DiscoveryServiceServicer):
    def __init__(self, discovery: Discovery) -> None:
        self.discovery = discovery

    @_unary
    async def ListOrigins(
        self, request: dpb.ListOriginsRequest, context: grpc.aio.ServicerContext
    ) -> dpb.ListOriginsResponse:
        return dpb.ListOriginsResponse(
            origins=[
                dpb.Origin(
                    origin=o.origin,
                    label=o.label,
                    live=o.live,
                    archives=[
                        dpb.Archive(storage=a.storage, access_point=a.access_point)
                        for a in o.archives
                    ],
                )
                for o in self.discovery.origins()
            ]
        )

    @_unary
    async def GetIntervals(
        self, request: dpb.GetIntervalsRequest, context: grpc.aio.ServicerContext
    ) -> dpb.GetIntervalsResponse:
        ref = self.discovery.archive(request.origin, request.storage)
        min_gap = _duration(request, "min_gap") or GAP_TOLERANCE
        found = await asyncio.to_thread(
            self.discovery.history,
            ref,
            _time(request, "begin"),
            _time(request, "end"),
            min_gap=min_gap,
            max_count=request.max_count,
        )
        return dpb.GetIntervalsResponse(
            begin=_timestamp(found.begin),
            end=_timestamp(found.end),
            intervals=_intervals(found.intervals),
            gaps=_intervals(found.gaps),
            complete=found.complete,
        )

    @_unary
    async def GetDays(
        self, request: dpb.GetDaysRequest, context: grpc.aio.ServicerContext
    ) -> dpb.GetDaysResponse:
        ref = self.discovery.archive(request.origin, request.storage)
        # Off the loop: an unknown zone name is looked up in the tz database files.
        zone = await asyncio.to_thread(parse_zone, request.time_zone, field="time_zone")
        days = await asyncio.to_thread(
            self.discovery.calendar, ref, zone, _time(request, "begin"), _time(request, "end")
        )
        return dpb.GetDaysResponse(days=[d.isoformat() for d in days])

    async def GetImages(
        self, request: dpb.GetImagesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[dpb.GetImagesResponse]:
        try:
            ref = self.discovery.archive(request.origin, request.storage)
            times, following = self._times(request)
            spec = ImageSpec(
                format=ImageFormat.PNG
                if request.format == dpb.IMAGE_FORMAT_PNG
                else ImageFormat.JPEG,
                width=request.width or None,
                height=request.height or None,
                quality=request.quality or 80,
            )
            loop = asyncio.get_running_loop()
            with self.discovery.admit():
                images = await loop.run_in_executor(
                    self.discovery.executor,
                    lambda: self.discovery.thumbnails(ref, times, spec, exact=request.exact),
                )
        except VexportError as exc:
            await context.abort(status_of(exc), str(exc))
            return
        for position, image in enumerate(images):
            response = dpb.GetImagesResponse(
                images=[
                    dpb.Image(
                        time=_timestamp(image.time),
                        frame_time=_timestamp(image.frame_time) if image.frame_time else None,
                        data=image.data or b"",
                        mime_type=image.mime_type,
                        width=image.width,
                        height=image.height,
                        error=image.error,
                        message=image.message,
                    )
                ]
            )
            if following is not None and position == len(images) - 1:
                response.next_time.CopyFrom(_timestamp(following))
            yield response

    def _times(self, request: dpb.GetImagesRequest) -> tuple[list[datetime], datetime | None]:
        limit = request.max_results or MAX_IMAGES
        if request.times:
            if request.HasField("interval"):
                raise InvalidArgument("give times or an interval, not both", field="interval")
            if len(request.times) > min(limit, MAX_IMAGES):
                raise InvalidArgument(
                    f"at most {min(limit, MAX_IMAGES)} images per call", field="times"
                )
            return [t.ToDatetime(tzinfo=UTC) for t in request.times], None
        begin, end = _time(request, "begin"), _time(request, "end")
        interval = _duration(request, "interval")
        for name, value in (("begin", begin), ("end", end), ("interval", interval)):
            if value is None:
                raise InvalidArgument("is required without times", field=name)
        assert begin is not None and end is not None and interval is not None
        return sample_times(begin, end, interval, limit)


def discovery_services(discovery: Discovery) -> list[tuple[str, Callable[[grpc.aio.Server], None]]]:
    """The two discovery services, as ``GrpcServer`` registrations."""
    archive = ArchiveServicer(discovery)
    own = DiscoveryServicer(discovery)
    return [
        (
            apb.DESCRIPTOR.services_by_name["ArchiveService"].full_name,
            lambda server: apb_grpc.add_ArchiveServiceServicer_to_server(archive, server),
        ),
        (
            dpb.DESCRIPTOR.services_by_name["DiscoveryService"].full_name,
            lambda server: dpb_grpc.add_DiscoveryServiceServicer_to_server(own, server),
        ),
    ]
