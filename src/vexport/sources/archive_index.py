"""Which archive segments hold which wall-clock times (HLS and DASH).

An export asks for wall-clock times; an archive stores segments. This module
reads the manifest once and answers "which segments cover [start, end], and
what is missing". It never touches media bytes: the anchor of a segment is
what the manifest says (HLS ``EXT-X-PROGRAM-DATE-TIME``, DASH timeline
arithmetic), and ``vexport.media.archive_source`` maps each frame from there.

Choices worth knowing (see also DESIGN.md section 6):

- HLS master playlists are followed to their highest-BANDWIDTH variant, since a
  camera archive is one stream and picking for the caller beats refusing.
- HLS segments before the first ``EXT-X-PROGRAM-DATE-TIME`` are dated backwards
  from it by their ``EXTINF``; segments without their own PDT continue from the
  previous one. A PDT without a time zone is refused rather than guessed.
- DASH ``availabilityStartTime`` defaults to the POSIX epoch when absent (static
  MPDs may omit it; their times are then media times, which is all one can say).
- DASH ``$Number$`` templates without a timeline take their segment count from
  the period duration; a dynamic MPD without one lists the segments available
  now: those that have ended by ``now`` and, with ``timeShiftBufferDepth``, end
  no earlier than ``now - timeShiftBufferDepth``.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from vexport.redact import redact_url
from vexport.storage import StorageError, StorageReader, resolve_url
from vexport.timeutil import TimestampError, parse_timestamp

__all__ = [
    "GAP_TOLERANCE",
    "ArchiveError",
    "ArchiveIndex",
    "Gap",
    "Segment",
    "load_archive_index",
    "parse_dash",
    "parse_hls",
]

TrackKind = Literal["muxed", "video", "audio"]

GAP_TOLERANCE = timedelta(milliseconds=50)
"""Holes shorter than this between segments are rounding, not missing video."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Segment:
    """One media segment of an archive.

    ``start`` is the wall-clock time of the segment's anchor frame: for HLS
    (``muxed`` TS or fMP4 segments) its first *video* frame
    (``EXT-X-PROGRAM-DATE-TIME``); for a DASH track, its first sample in that
    track (availabilityStartTime + Period@start + (S@t - presentationTimeOffset)/timescale).
    ``init_url`` is the fMP4 initialization segment to prepend, if any.
    """

    url: str
    start: datetime
    duration: float
    track: TrackKind
    init_url: str | None = None
    sequence: int = 0
    media_origin: datetime | None = None
    """DASH: the wall time of the representation's media time 0 (availabilityStartTime +
    Period@start - presentationTimeOffset). The samples' own times are the timeline; the
    template's nominal segment starts (``$Number$`` x ``@duration``) are approximate."""

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ArchiveIndex:
    """Segments of one archive, sorted by start, per track.

    HLS archives have one ``muxed`` track; DASH archives have a ``video`` track
    and optionally an ``audio`` track, each with its own segments.
    """

    url: str
    video: tuple[Segment, ...]
    audio: tuple[Segment, ...] = ()

    @property
    def start(self) -> datetime | None:
        return self.video[0].start if self.video else None

    @property
    def end(self) -> datetime | None:
        return max(s.end for s in self.video) if self.video else None

    def segments_between(self, start: datetime, end: datetime) -> list[Segment]:
        """Video (or muxed) segments that overlap [start, end], in order."""
        return _overlapping(self.video, start, end)

    def audio_segments_between(self, start: datetime, end: datetime) -> list[Segment]:
        """DASH audio segments that overlap [start, end], in order (empty for HLS)."""
        return _overlapping(self.audio, start, end)

    def gaps_between(self, start: datetime, end: datetime) -> list[Gap]:
        """Parts of [start, end] no segment covers (tolerance: half a frame / 50 ms)."""
        gaps: list[Gap] = []
        covered_to = start
        for segment in self.segments_between(start, end):
            if segment.start - covered_to > GAP_TOLERANCE:
                gaps.append(Gap(covered_to, segment.start))
            covered_to = max(covered_to, segment.end)
        if end - covered_to > GAP_TOLERANCE:
            gaps.append(Gap(covered_to, end))
        return gaps


def _overlapping(segments: tuple[Segment, ...], start: datetime, end: datetime) -> list[Segment]:
    # Sorted by start, so the search for the last candidate is cheap; the scan for
    # the first stays linear because one long segment may cover many later starts.
    stop = bisect_right(segments, end, key=_start_of)
    return [s for s in segments[:stop] if s.end > start]


def _start_of(segment: Segment) -> datetime:
    return segment.start


class ArchiveError(Exception):
    """The archive's manifest is missing, unreadable or malformed; message for the user."""


def load_archive_index(url: str, reader: StorageReader) -> ArchiveIndex:
    """Read and parse the HLS media playlist or DASH MPD at ``url``."""
    try:
        return _load_archive_index(url, reader)
    except StorageError as exc:  # a reference that may not be followed
        raise ArchiveError(str(exc)) from None


def _load_archive_index(url: str, reader: StorageReader) -> ArchiveIndex:
    text = _read_text(url, reader)
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("#EXTM3U"):
        master = _master_variant(text, url)
        if master is not None:
            variant_text = _read_text(master, reader)
            if _master_variant(variant_text, master) is not None:
                raise ArchiveError(f"{redact_url(master)}: a master playlist's variant is a master")
            index = parse_hls(variant_text, master)
            return ArchiveIndex(url, index.video, index.audio)
        return parse_hls(text, url)
    if head.startswith("<"):
        return parse_dash(text, url)
    raise ArchiveError(f"{redact_url(url)}: neither an HLS playlist nor a DASH MPD")


def _read_text(url: str, reader: StorageReader) -> str:
    try:
        data = reader.read(url)
    except StorageError as exc:
        raise ArchiveError(f"archive manifest unreadable: {exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ArchiveError(f"{redact_url(url)}: manifest is not UTF-8 text") from None


# --- HLS ---------------------------------------------------------------------------------

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def _attributes(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTRIBUTE.findall(text)}


def _master_variant(text: str, url: str) -> str | None:
    """URL of the highest-bandwidth variant if ``text`` is a master playlist."""
    best: tuple[int, str] | None = None
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF:"):
            bandwidth = int(_attributes(line.partition(":")[2]).get("BANDWIDTH", "0") or 0)
            uri = next((x.strip() for x in lines if x.strip() and not x.startswith("#")), None)
            if uri is None:
                raise ArchiveError(f"{redact_url(url)}: EXT-X-STREAM-INF without a URI")
            if best is None or bandwidth > best[0]:
                best = (bandwidth, uri)
    return resolve_url(url, best[1]) if best else None


def _parse_pdt(value: str, url: str) -> datetime:
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise ArchiveError(f"{redact_url(url)}: EXT-X-PROGRAM-DATE-TIME {exc}") from None


@dataclass
class _HlsEntry:
    uri: str
    duration: float
    sequence: int
    init_url: str | None
    pdt: datetime | None


def parse_hls(text: str, url: str) -> ArchiveIndex:
    """Parse an HLS media playlist; segment URIs are resolved against ``url``."""
    shown = redact_url(url)
    entries: list[_HlsEntry] = []
    sequence = 0
    init_url: str | None = None
    duration: float | None = None
    pdt: datetime | None = None
    gap = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-MEDIA-SEQUENCE":
            sequence = _int(value, f"{shown} line {number}")
        elif tag == "#EXTINF":
            duration = _float(value.partition(",")[0], f"{shown} line {number}")
        elif tag == "#EXT-X-PROGRAM-DATE-TIME":
            pdt = _parse_pdt(value, url)
        elif tag == "#EXT-X-MAP":
            attrs = _attributes(value)
            if "BYTERANGE" in attrs:
                raise ArchiveError(f"{shown}: EXT-X-MAP byte ranges are not supported")
            if "URI" not in attrs:
                raise ArchiveError(f"{shown} line {number}: EXT-X-MAP without URI")
            init_url = resolve_url(url, attrs["URI"])
        elif tag == "#EXT-X-BYTERANGE":
            raise ArchiveError(f"{shown}: EXT-X-BYTERANGE segments are not supported")
        elif tag == "#EXT-X-KEY" and _attributes(value).get("METHOD", "NONE") != "NONE":
            raise ArchiveError(f"{shown}: encrypted segments are not supported")
        elif tag == "#EXT-X-GAP":
            gap = True
        elif tag == "#EXT-X-STREAM-INF":
            raise ArchiveError(f"{shown}: a master playlist; a media playlist is needed")
        elif not line.startswith("#"):
            if duration is None:
                raise ArchiveError(f"{shown} line {number}: segment {line!r} has no EXTINF")
            entries.append(_HlsEntry(line, duration, sequence, init_url, pdt))
            if gap:  # a placeholder: keep it for dating, drop it from the index
                entries[-1].uri = ""
            sequence += 1
            duration, pdt, gap = None, None, False
    if not entries:
        raise ArchiveError(f"{shown}: playlist has no segments")
    first_dated = next((i for i, e in enumerate(entries) if e.pdt is not None), None)
    if first_dated is None:
        raise ArchiveError(
            f"{shown}: playlist has no EXT-X-PROGRAM-DATE-TIME, so its wall-clock times are unknown"
        )
    starts = _hls_starts(entries, first_dated)
    segments = [
        Segment(resolve_url(url, e.uri), start, e.duration, "muxed", e.init_url, e.sequence)
        for e, start in zip(entries, starts, strict=True)
        if e.uri
    ]
    segments.sort(key=lambda s: s.start)
    return ArchiveIndex(url, tuple(segments))


def _hls_starts(entries: list[_HlsEntry], first_dated: int) -> list[datetime]:
    starts: list[datetime] = [_EPOCH] * len(entries)
    anchor = entries[first_dated].pdt
    assert anchor is not None
    for i in range(first_dated - 1, -1, -1):
        anchor -= timedelta(seconds=entries[i].duration)
        starts[i] = anchor
    current = entries[first_dated].pdt
    assert current is not None
    for i in range(first_dated, len(entries)):
        pdt = entries[i].pdt
        if pdt is not None:
            current = pdt
        starts[i] = current
        current += timedelta(seconds=entries[i].duration)
    return starts


def _int(value: str, where: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ArchiveError(f"{where}: {value!r} is not an integer") from None


def _float(value: str, where: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ArchiveError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ArchiveError(f"{where}: {value!r} is not a duration")
    return number


# --- DASH --------------------------------------------------------------------------------

_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<y>\d+(?:\.\d*)?)Y)?(?:(?P<mo>\d+(?:\.\d*)?)M)?(?:(?P<d>\d+(?:\.\d*)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d*)?)H)?(?:(?P<mi>\d+(?:\.\d*)?)M)?(?:(?P<s>\d+(?:\.\d*)?)S)?)?$"
)
_TEMPLATE_ID = re.compile(r"\$(\w*)(?:%0?(\d+)([dxXo]))?\$")


def _iso_duration(value: str, where: str) -> float:
    """Seconds of an xs:duration (years as 365 days and months as 30, as players do)."""
    match = _DURATION.match(value.strip())
    if not match or value.strip() in ("P", "PT"):
        raise ArchiveError(f"{where}: {value!r} is not an ISO 8601 duration")
    parts = {k: float(v) for k, v in match.groupdict().items() if v and k != "sign"}
    seconds = (
        parts.get("y", 0) * 365 * 86400
        + parts.get("mo", 0) * 30 * 86400
        + parts.get("d", 0) * 86400
        + parts.get("h", 0) * 3600
        + parts.get("mi", 0) * 60
        + parts.get("s", 0)
    )
    return -seconds if match["sign"] else seconds


def _iso_datetime(value: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ArchiveError(f"{where}: {value!r} is not an ISO 8601 date and time") from None
    # xs:dateTime without a zone is UTC in DASH practice (DASH-IF IOP).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def expand_template(
    template: str, *, representation_id: str, number: int, time: int, bandwidth: int
) -> str:
    """Substitute DASH template identifiers (``$Number%05d$``, ``$$``…) in a URL template."""

    def substitute(match: re.Match[str]) -> str:
        name, width, kind = match.group(1), match.group(2), match.group(3) or "d"
        if name == "":
            return "$"
        values: dict[str, int | str] = {
            "RepresentationID": representation_id,
            "Number": number,
            "Time": time,
            "Bandwidth": bandwidth,
        }
        if name not in values:
            raise ArchiveError(f"template {template!r}: unknown identifier ${name}$")
        value = values[name]
        if isinstance(value, str) or width is None:
            return str(value)
        return format(value, f"0{int(width)}{kind}")

    return _TEMPLATE_ID.sub(substitute, template)


@dataclass(frozen=True)
class _Template:
    attrs: dict[str, str]
    timeline: ET.Element | None


class _Mpd:
    """One MPD being parsed: namespace handling and the document-wide attributes."""

    def __init__(self, text: str, url: str, now: datetime | None) -> None:
        self.url = url
        self.shown = redact_url(url)
        try:
            self.root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise ArchiveError(f"{self.shown}: MPD is not well-formed XML ({exc})") from None
        tag = self.root.tag
        self.ns = tag[1:].partition("}")[0] if tag.startswith("{") else ""
        if self.local(tag) != "MPD":
            raise ArchiveError(f"{self.shown}: not a DASH MPD (root element {tag!r})")
        self.dynamic = self.root.get("type", "static") == "dynamic"
        ast = self.root.get("availabilityStartTime")
        self.availability_start = _iso_datetime(ast, self.shown) if ast else _EPOCH
        mpd_duration = self.root.get("mediaPresentationDuration")
        self.duration = _iso_duration(mpd_duration, self.shown) if mpd_duration else None
        depth = self.root.get("timeShiftBufferDepth")
        self.time_shift = _iso_duration(depth, self.shown) if depth else None
        self.now = now or datetime.now(UTC)

    @staticmethod
    def local(tag: str) -> str:
        return tag.rpartition("}")[2]

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}" if self.ns else name

    def children(self, element: ET.Element, name: str) -> list[ET.Element]:
        return element.findall(self.q(name))

    def base_url(self, element: ET.Element, base: str) -> str:
        found = element.find(self.q("BaseURL"))
        if found is None or not (found.text or "").strip():
            return base
        return resolve_url(base, (found.text or "").strip())


def parse_dash(text: str, url: str, *, now: datetime | None = None) -> ArchiveIndex:
    """Parse a DASH MPD; ``now`` dates the availability window of dynamic ``$Number$`` MPDs."""
    mpd = _Mpd(text, url, now)
    base = mpd.base_url(mpd.root, url)
    periods = mpd.children(mpd.root, "Period")
    if not periods:
        raise ArchiveError(f"{mpd.shown}: MPD has no Period")
    video: list[Segment] = []
    audio: list[Segment] = []
    starts = _period_starts(mpd, periods)
    for i, period in enumerate(periods):
        period_start = starts[i]
        period_end = starts[i + 1] if i + 1 < len(periods) else None
        own = period.get("duration")
        if own:
            period_end = period_start + _iso_duration(own, mpd.shown)
        elif period_end is None and mpd.duration is not None:
            period_end = mpd.duration
        period_base = mpd.base_url(period, base)
        tracks: tuple[tuple[TrackKind, list[Segment]], ...] = (("video", video), ("audio", audio))
        for kind, found in tracks:
            chosen = _choose_representation(mpd, period, kind)
            if chosen is not None:
                adaptation, representation = chosen
                found.extend(
                    _representation_segments(
                        mpd, period, adaptation, representation, kind,
                        period_base, period_start, period_end,
                    )
                )  # fmt: skip
    if not video:
        raise ArchiveError(f"{mpd.shown}: MPD has no video segments")
    video.sort(key=lambda s: s.start)
    audio.sort(key=lambda s: s.start)
    return ArchiveIndex(url, tuple(video), tuple(audio))


def _period_starts(mpd: _Mpd, periods: list[ET.Element]) -> list[float]:
    starts: list[float] = []
    previous_end = 0.0
    for period in periods:
        start = period.get("start")
        begin = _iso_duration(start, mpd.shown) if start else previous_end
        starts.append(begin)
        duration = period.get("duration")
        previous_end = begin + _iso_duration(duration, mpd.shown) if duration else begin
    return starts


def _kind_of(adaptation: ET.Element, representation: ET.Element) -> str:
    for element in (representation, adaptation):
        content = element.get("contentType")
        if content:
            return content
        mime = element.get("mimeType")
        if mime:
            return mime.partition("/")[0]
    return ""


def _choose_representation(
    mpd: _Mpd, period: ET.Element, kind: str
) -> tuple[ET.Element, ET.Element] | None:
    """The highest-bandwidth representation of ``kind``: the archive's best copy."""
    best: tuple[int, ET.Element, ET.Element] | None = None
    for adaptation in mpd.children(period, "AdaptationSet"):
        for representation in mpd.children(adaptation, "Representation"):
            if _kind_of(adaptation, representation) != kind:
                continue
            bandwidth = int(representation.get("bandwidth", "0") or 0)
            if best is None or bandwidth > best[0]:
                best = (bandwidth, adaptation, representation)
    return (best[1], best[2]) if best else None


def _merged_template(mpd: _Mpd, *levels: ET.Element) -> _Template | None:
    """SegmentTemplate attributes inherited Period → AdaptationSet → Representation."""
    attrs: dict[str, str] = {}
    timeline: ET.Element | None = None
    found = False
    for level in levels:
        template = level.find(mpd.q("SegmentTemplate"))
        if template is None:
            continue
        found = True
        attrs.update(template.attrib)
        own_timeline = template.find(mpd.q("SegmentTimeline"))
        if own_timeline is not None:
            timeline = own_timeline
    return _Template(attrs, timeline) if found else None


def _representation_segments(
    mpd: _Mpd,
    period: ET.Element,
    adaptation: ET.Element,
    representation: ET.Element,
    kind: TrackKind,
    period_base: str,
    period_start: float,
    period_end: float | None,
) -> Iterator[Segment]:
    rep_id = representation.get("id", "")
    where = f"{mpd.shown} representation {rep_id!r}"
    template = _merged_template(mpd, period, adaptation, representation)
    if template is None:
        raise ArchiveError(f"{where}: only SegmentTemplate addressing is supported")
    base = mpd.base_url(representation, mpd.base_url(adaptation, period_base))
    attrs = template.attrs
    media = attrs.get("media")
    if not media:
        raise ArchiveError(f"{where}: SegmentTemplate has no media attribute")
    timescale = _int(attrs.get("timescale", "1"), where)
    if timescale <= 0:
        raise ArchiveError(f"{where}: timescale must be positive")
    pto = _int(attrs.get("presentationTimeOffset", "0"), where)
    start_number = _int(attrs.get("startNumber", "1"), where)
    bandwidth = int(representation.get("bandwidth", "0") or 0)
    init_url: str | None = None
    if attrs.get("initialization"):
        init_url = resolve_url(
            base,
            expand_template(
                attrs["initialization"],
                representation_id=rep_id,
                number=start_number,
                time=0,
                bandwidth=bandwidth,
            ),
        )
    if template.timeline is not None:
        times = _timeline(mpd, template.timeline, where, timescale, pto, period_start, period_end)
    else:
        times = _numbered(mpd, attrs, where, timescale, pto, period_start, period_end)
    origin = mpd.availability_start + timedelta(seconds=period_start)
    # The last segment of a fixed-duration template may be cut short by the period's end.
    limit = (period_end - period_start) * timescale + pto if period_end is not None else None
    for index, t, d in times:
        if limit is not None:
            d = max(min(d, round(limit) - t), 0)
        number = start_number + index
        name = expand_template(
            media, representation_id=rep_id, number=number, time=t, bandwidth=bandwidth
        )
        yield Segment(
            url=resolve_url(base, name),
            start=origin + timedelta(seconds=(t - pto) / timescale),
            duration=d / timescale,
            track=kind,
            init_url=init_url,
            sequence=number,
            media_origin=origin - timedelta(seconds=pto / timescale),
        )


def _timeline(
    mpd: _Mpd,
    timeline: ET.Element,
    where: str,
    timescale: int,
    pto: int,
    period_start: float,
    period_end: float | None,
) -> list[tuple[int, int, int]]:
    """(index, t, d) of every segment of a SegmentTimeline, ``r=-1`` repeats resolved."""
    entries = mpd.children(timeline, "S")
    result: list[tuple[int, int, int]] = []
    t = 0
    for i, s in enumerate(entries):
        if s.get("t") is not None:
            t = _int(s.get("t", "0"), where)
        d = _int(s.get("d", "0"), where)
        if d <= 0:
            raise ArchiveError(f"{where}: SegmentTimeline S@d must be positive")
        r = _int(s.get("r", "0"), where)
        if r < 0:
            following = entries[i + 1].get("t") if i + 1 < len(entries) else None
            if following is not None:
                r = math.ceil((_int(following, where) - t) / d) - 1
            elif period_end is not None:
                until = pto + round((period_end - period_start) * timescale)
                r = math.ceil((until - t) / d) - 1
            elif mpd.dynamic:  # until now: the segments that have ended
                elapsed = (mpd.now - mpd.availability_start).total_seconds() - period_start
                r = (pto + math.floor(elapsed * timescale) - t) // d - 1
            else:
                raise ArchiveError(f"{where}: S@r=-1 with no following S and no period end")
        for _ in range(r + 1):
            result.append((len(result), t, d))
            t += d
    return result


def _numbered(
    mpd: _Mpd,
    attrs: dict[str, str],
    where: str,
    timescale: int,
    pto: int,
    period_start: float,
    period_end: float | None,
) -> list[tuple[int, int, int]]:
    """(index, t, d) of the segments of a ``$Number$`` template with a fixed ``duration``."""
    if "duration" not in attrs:
        raise ArchiveError(f"{where}: SegmentTemplate needs a SegmentTimeline or a duration")
    d = _int(attrs["duration"], where)
    if d <= 0:
        raise ArchiveError(f"{where}: SegmentTemplate@duration must be positive")
    seconds = d / timescale
    first = 0
    if period_end is not None:
        count = math.ceil(round((period_end - period_start) / seconds, 6))
    elif mpd.dynamic:
        elapsed = (mpd.now - mpd.availability_start).total_seconds() - period_start
        count = max(math.floor(elapsed / seconds), 0)  # the segments that have ended by now
        if mpd.time_shift is not None:
            first = max(math.floor((elapsed - mpd.time_shift) / seconds), 0)
    else:
        raise ArchiveError(f"{where}: static MPD without a duration; segment count unknown")
    return [(k, pto + k * d, d) for k in range(first, count)]
