from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vexport.timeutil import TimestampError, format_timestamp, parse_duration, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260101T120000", datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ("20260101T120000.5", datetime(2026, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("20260101T120000.123456", datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-01T14:00:00+02:00", datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ("2026-01-01T12:00:00Z", datetime(2026, 1, 1, 12, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_accepts_contract_and_iso_forms(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "20261301T000000", "2026-01-01T12:00:00"])
def test_parse_timestamp_refuses_garbage_and_zoneless_iso(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(text)


def test_format_round_trips() -> None:
    moment = datetime(2026, 11, 22, 7, 5, 3, 40000, tzinfo=UTC)
    assert format_timestamp(moment) == "20261122T070503.040000"
    assert parse_timestamp(format_timestamp(moment)) == moment


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("2", 2), ("1.5s", 1.5)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5 parsecs", "m5", "5m x"])
def test_parse_duration_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    "text",
    [
        "00010101T000000",  # year 1: written as '10101T...' by strftime, never read back
        "09990101T000000",
        "18991231T235959",
        "99991231T235959",
        "9999-12-31T23:00:00-05:00",  # past datetime.max once in UTC (OverflowError)
        "0001-01-01T00:00:00+05:00",
    ],
)
def test_unrepresentable_times_are_refused(text: str) -> None:
    with pytest.raises(TimestampError, match="out of range"):
        parse_timestamp(text)


def test_the_edges_of_the_range_are_accepted_and_round_trip() -> None:
    for text in ("19000101T000000", "99991229T235959.999999"):
        assert parse_timestamp(format_timestamp(parse_timestamp(text))) == parse_timestamp(text)


def test_a_long_value_is_not_echoed_whole() -> None:
    with pytest.raises(TimestampError) as caught:
        parse_timestamp("x" * 100_000)
    assert len(str(caught.value)) < 200


def test_format_pads_the_year() -> None:
    assert format_timestamp(datetime(999, 1, 2, tzinfo=UTC)) == "09990102T000000.000000"
