"""What an archive holds: recorded intervals, the gaps between them, the days with video.

An operator (or a vendor client, before it exports) asks "what is there
between these two times"; the archive index already knows, segment by
segment. Here its segments are merged into intervals (neighbours closer
than a tolerance are one interval: a few milliseconds between segments are
rounding, not missing video), clipped to the asked range, and the days that
hold any of them are listed in the asked time zone.

Pure functions over an ``ArchiveIndex``: no I/O, so the adapters can call
them anywhere and the tests need no archive on disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vexport.errors import InvalidArgument
from vexport.sources.archive_index import GAP_TOLERANCE, ArchiveIndex, Segment

__all__ = ["History", "Interval", "history", "parse_zone", "recorded_days"]


@dataclass(frozen=True)
class Interval:
    """A span of wall-clock time: recorded video, or a gap in it. ``end`` is exclusive."""

    begin: datetime
    end: datetime


@dataclass(frozen=True)
class History:
    """The recorded intervals in a range, oldest first (newest first when reversed).

    ``complete`` is False when ``max_count`` cut the list short: the intervals
    given are the first ones in the asked order.
    """

    begin: datetime
    end: datetime
    intervals: tuple[Interval, ...]
    gaps: tuple[Interval, ...]
    complete: bool = True


def _merged(segments: Iterable[Segment], min_gap: timedelta) -> list[Interval]:
    merged: list[Interval] = []
    for segment in segments:
        if segment.duration <= 0:
            continue
        if merged and segment.start - merged[-1].end <= min_gap:
            last = merged[-1]
            merged[-1] = Interval(last.begin, max(last.end, segment.end))
        else:
            merged.append(Interval(segment.start, segment.end))
    return merged


def history(
    index: ArchiveIndex,
    begin: datetime,
    end: datetime,
    *,
    min_gap: timedelta = GAP_TOLERANCE,
    max_count: int = 0,
    newest_first: bool = False,
) -> History:
    """Recorded intervals and gaps of ``index`` within [begin, end), clipped to it.

    ``min_gap``: intervals closer than this are merged (never less than the
    index's own tolerance). ``max_count`` (0: all) limits the intervals; the
    gaps are those between and around the intervals returned.
    """
    tolerance = max(min_gap, GAP_TOLERANCE)
    overlapping = [s for s in index.segments_between(begin, end) if s.end > begin]
    intervals = [
        Interval(max(i.begin, begin), min(i.end, end))
        for i in _merged(overlapping, tolerance)
        if i.end > begin and i.begin < end
    ]
    intervals = [i for i in intervals if i.end > i.begin]
    if newest_first:
        intervals.reverse()
    complete = True
    if max_count and len(intervals) > max_count:
        intervals, complete = intervals[:max_count], False
    ordered = sorted(intervals, key=lambda i: i.begin)
    covered = (ordered[0].begin, ordered[-1].end) if (ordered and not complete) else (begin, end)
    gaps = _gaps(ordered, *covered, tolerance)
    if newest_first:
        gaps.reverse()
    return History(begin, end, tuple(intervals), tuple(gaps), complete)


def _gaps(
    intervals: Sequence[Interval], begin: datetime, end: datetime, tolerance: timedelta
) -> list[Interval]:
    gaps: list[Interval] = []
    covered_to = begin
    for interval in intervals:
        if interval.begin - covered_to > tolerance:
            gaps.append(Interval(covered_to, interval.begin))
        covered_to = max(covered_to, interval.end)
    if end - covered_to > tolerance:
        gaps.append(Interval(covered_to, end))
    return gaps


def recorded_days(intervals: Iterable[Interval], zone: tzinfo) -> list[date]:
    """The calendar days in ``zone`` that hold some recorded video, in order.

    An interval that ends exactly at midnight does not make the next day
    recorded (``end`` is exclusive).
    """
    days: set[date] = set()
    for interval in intervals:
        first = interval.begin.astimezone(zone).date()
        last = (interval.end - timedelta(microseconds=1)).astimezone(zone).date()
        day = first
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return sorted(days)


_OFFSET = re.compile(r"^(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})$")


def parse_zone(text: str, *, field: str = "tz") -> tzinfo:
    """A time zone by IANA name (``Europe/Berlin``), offset (``+03:00``), or UTC if empty."""
    value = text.strip()
    if value in ("", "UTC", "Z", "utc"):
        return UTC
    match = _OFFSET.match(value)
    if match:
        minutes = int(match["h"]) * 60 + int(match["m"])
        if minutes > 18 * 60:
            raise InvalidArgument(f"{value!r} is not a UTC offset", field=field)
        sign = -1 if match["sign"] == "-" else 1
        return timezone(timedelta(minutes=sign * minutes))
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(
            f"{value!r} is not a time zone: use an IANA name (Europe/Berlin) or an offset (+03:00)",
            field=field,
        ) from None
