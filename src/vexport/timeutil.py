"""Timestamps as the export contract writes them.

The contract speaks UTC strings ``YYYYMMDDTHHMMSS[.ffffff]``; people and
scripts also send ISO 8601 with a zone, so both are accepted. Inside vexport
every time is an aware ``datetime`` in UTC, never a naive one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = [
    "EARLIEST",
    "LATEST",
    "UTC",
    "TimestampError",
    "format_timestamp",
    "parse_duration",
    "parse_timestamp",
    "utcnow",
]

_COMPACT = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})T(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?(?P<zone>Z)?$"
)


# The times a request may name. Below 1900 nothing was recorded (and the vendor's archive
# API counts from 1900-01-01); above LATEST, a day of clip and a time zone added to a
# time would leave what ``datetime`` can hold. A time outside is refused at the door, so
# no stored row holds one that cannot be computed with or read back (docs/design/robustness.md).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 29, 23, 59, 59, 999999, tzinfo=UTC)


class TimestampError(ValueError):
    """A timestamp string that is neither the contract's form nor ISO 8601, or out of range."""


def parse_timestamp(text: str) -> datetime:
    """Parse a contract or ISO 8601 timestamp into an aware UTC datetime.

    A compact timestamp without a zone is UTC (the contract says so); an ISO
    timestamp without a zone is refused, because guessing a zone for evidence
    is worse than asking.
    """
    moment = _parse(text)
    if not EARLIEST <= moment <= LATEST:
        raise TimestampError(f"{_shown(text)} is out of range: {_RANGE}")
    return moment


_RANGE = "times from 1900-01-01 to 9999-12-29 (UTC) can be exported"


def _shown(text: str) -> str:
    """The client's text as echoed in a message: bounded, so a huge value is not sent back."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _parse(text: str) -> datetime:
    value = text.strip()
    match = _COMPACT.match(value)
    if match:
        frac = (match["frac"] or "").ljust(6, "0")[:6]
        try:
            return datetime(
                int(match["y"]),
                int(match["mo"]),
                int(match["d"]),
                int(match["h"]),
                int(match["mi"]),
                int(match["s"]),
                int(frac),
                tzinfo=UTC,
            )
        except ValueError as exc:
            raise TimestampError(f"{_shown(text)} is not a valid date and time: {exc}") from exc
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise TimestampError(
            f"{_shown(text)} is not a timestamp: use YYYYMMDDTHHMMSS[.ffffff] (UTC) "
            "or ISO 8601 with a zone"
        ) from exc
    if parsed.tzinfo is None:
        raise TimestampError(
            f"{_shown(text)} has no time zone: add 'Z' or an offset such as +02:00"
        )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past what a datetime holds in UTC
        raise TimestampError(f"{_shown(text)} is out of range: {_RANGE}") from None


def format_timestamp(moment: datetime) -> str:
    """Format as the contract's result form ``YYYYMMDDTHHMMSS.ffffff`` in UTC.

    The year is padded by hand: ``strftime("%Y")`` writes year 1 as ``1`` on glibc,
    which no parser reads back.
    """
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}" + utc.strftime("%m%dT%H%M%S.%f")


def utcnow() -> datetime:
    return datetime.now(UTC)


_DURATION = re.compile(r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float | int | timedelta) -> timedelta:
    """Parse configuration durations such as ``"5m"``, ``"1h30m"``, ``"250ms"`` or seconds."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    value = text.strip().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return timedelta(seconds=float(value))
    position = 0
    total = 0.0
    for match in _DURATION.finditer(value):
        if match.start() != position:
            break
        total += float(match["num"]) * _UNIT_SECONDS[match["unit"]]
        position = match.end()
    if position != len(value) or not value:
        raise ValueError(f"{text!r} is not a duration: use forms like 30s, 5m, 1h, 250ms")
    return timedelta(seconds=total)
