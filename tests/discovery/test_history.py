"""Intervals, gaps and recorded days from an archive index (no media needed)."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta

import pytest

from vexport.discovery import Discovery
from vexport.discovery.history import Interval, history, parse_zone, recorded_days
from vexport.errors import InvalidArgument, ResourceExhausted
from vexport.sources.archive_index import ArchiveIndex, Segment
from vexport.sources.catalog import Catalog
from vexport.storage import default_reader

T0 = datetime(2026, 3, 1, 22, 0, 0, tzinfo=UTC)


def _index(*spans: tuple[float, float]) -> ArchiveIndex:
    """Segments of 2 s covering each (start, end) span, in seconds after T0."""
    segments = []
    for begin, end in spans:
        at = begin
        while at < end:
            length = min(2.0, end - at)
            segments.append(
                Segment(f"file:///s{at}.ts", T0 + timedelta(seconds=at), length, "muxed")
            )
            at += length
    return ArchiveIndex("file:///index.m3u8", tuple(segments))


def _s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_segments_merge_into_intervals_with_the_gaps_between() -> None:
    index = _index((0, 10), (10.02, 14), (20, 30))  # 20 ms between 10 and 10.02: rounding
    found = history(index, _s(0), _s(30))
    assert found.intervals == (Interval(_s(0), _s(14)), Interval(_s(20), _s(30)))
    assert found.gaps == (Interval(_s(14), _s(20)),)
    assert found.complete


def test_intervals_are_clipped_to_the_range_and_gaps_reach_its_ends() -> None:
    index = _index((0, 10), (20, 30))
    found = history(index, _s(5), _s(40))
    assert found.intervals == (Interval(_s(5), _s(10)), Interval(_s(20), _s(30)))
    assert found.gaps == (Interval(_s(10), _s(20)), Interval(_s(30), _s(40)))


def test_min_gap_merges_close_intervals() -> None:
    index = _index((0, 10), (11, 20))
    assert len(history(index, _s(0), _s(20)).intervals) == 2
    merged = history(index, _s(0), _s(20), min_gap=timedelta(seconds=2))
    assert merged.intervals == (Interval(_s(0), _s(20)),)
    assert merged.gaps == ()


def test_max_count_cuts_the_list_and_says_so_newest_first_too() -> None:
    index = _index((0, 2), (4, 6), (8, 10))
    first = history(index, _s(0), _s(10), max_count=2)
    assert first.intervals == (Interval(_s(0), _s(2)), Interval(_s(4), _s(6)))
    assert not first.complete
    newest = history(index, _s(0), _s(10), max_count=2, newest_first=True)
    assert newest.intervals == (Interval(_s(8), _s(10)), Interval(_s(4), _s(6)))


def test_recorded_days_follow_the_time_zone_and_an_exclusive_end() -> None:
    # 22:00 to 02:00 UTC the next day, and a span that ends at midnight exactly.
    spans = [Interval(_s(0), _s(4 * 3600)), Interval(datetime(2026, 3, 5, 23, tzinfo=UTC),
                                                     datetime(2026, 3, 6, tzinfo=UTC))]  # fmt: skip
    assert recorded_days(spans, UTC) == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 5)]
    tokyo = parse_zone("Asia/Tokyo")  # +09:00: 07:00 to 11:00 on the 2nd; the 6th 08:00-09:00
    assert recorded_days(spans, tokyo) == [date(2026, 3, 2), date(2026, 3, 6)]
    assert recorded_days(spans, parse_zone("-05:00")) == [date(2026, 3, 1), date(2026, 3, 5)]


@pytest.mark.parametrize("text", ["Mars/Olympus", "+25:00", "3"])
def test_a_bad_time_zone_names_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_zone(text)
    assert caught.value.field == "tz"
    assert "time zone" in str(caught.value) or "offset" in str(caught.value)


def test_the_thumbnail_queue_refuses_beyond_its_limit() -> None:
    discovery = Discovery(Catalog([]), default_reader(), max_pending=2)
    try:
        with ExitStack() as held:
            held.enter_context(discovery.admit())
            held.enter_context(discovery.admit())
            with pytest.raises(ResourceExhausted) as caught:
                held.enter_context(discovery.admit())
            assert "waiting" in str(caught.value)
        with discovery.admit():  # the places were given back
            pass
    finally:
        discovery.close()
