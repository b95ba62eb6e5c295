"""Text on exported video: timestamps, comments and subtitles.

Interface contract used by the transcoder (``media/transcode.py``):

- ``TextOverlay`` is plain, JSON-serialisable data carried by ``SourcePlan.text``.
- ``text_graph`` returns FFmpeg filtergraph text that reads the video pad
  ``[src]`` and writes ``[dst]``. A frame's ``pts`` in seconds plus
  ``epoch_base`` is that frame's wall-clock POSIX time, so each frame shows
  its own real time.
- ``format_wall`` is the same text in Python (snapshots, PDF, soft subtitles).
- ``add_soft_subtitles`` adds a subtitle track to a finished clip in place.

Why drawtext expansion rather than one literal string per frame: the
transcoder runs one FFmpeg process per clip, and drawtext can compute each
frame's time itself from its ``pts``. Every strftime directive becomes its own
``%{pts:gmtime:OFFSET:%X}`` call and every sub-second field an ``%{eif:...}``
call on the same ``t + OFFSET`` sum, so the seconds and the milliseconds are
cut from one double and can never disagree (no "…:05.999" next to "…:06").
User text never reaches a drawtext argument list or the filtergraph parser:
it goes to a ``textfile`` with only drawtext's own two escapes (``\\`` and
``%``), which ``escape_drawtext_text`` applies.

The ``timestamp_format`` language is strftime-like; see ``DIRECTIVES`` and
``docs/api.md``. Unknown directives are refused (``TimestampFormatError``)
rather than passed to C ``strftime``, so the Python rendering and FFmpeg's
always agree.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from vexport.fonts import font_path
from vexport.media.ffmpeg import dying_with_parent
from vexport.media.formats import ContainerFormat, ExportFailed
from vexport.media.packets import WALL_EPSILON

DEFAULT_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%3N"
TIMESTAMP_WILDCARD = "{Timestamp}"

# Font size unit: pixels of line height on a 1080-line frame, scaled to the
# frame's height (so 32 is 32 px at 1080p, 21 px at 720p). Tiny frames are
# floored at MIN_FONT_PIXELS so a 320x180 export stays readable.
DEFAULT_FONT_SIZE = 32.0
MIN_FONT_PIXELS = 10
REFERENCE_HEIGHT = 1080
MIN_FIT_PIXELS = 6  # shrinking to fit a place stops here

# Added to every wall time before it is cut into fields: frame times such as
# base + 0.04 land a few 1e-7 s below the exact millisecond in floating point
# and would show as ".039". One microsecond is far above that noise and far
# below anything a timestamp shows.
GUARD_SECONDS = 1e-6

# Containers that can carry a text subtitle track, with the codec used.
SOFT_SUBTITLE_CODECS = {
    ContainerFormat.MP4: "mov_text",
    ContainerFormat.MOV: "mov_text",
    ContainerFormat.MKV: "subrip",
}

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# The supported directives and what they mean (C locale names).
DIRECTIVES = {
    "Y": "year, 4 digits",
    "y": "year within century, 2 digits",
    "m": "month 01-12",
    "d": "day of month 01-31",
    "e": "day of month, space-padded",
    "H": "hour 00-23",
    "I": "hour 01-12",
    "p": "AM or PM",
    "M": "minute 00-59",
    "S": "second 00-60",
    "j": "day of year 001-366",
    "b": "abbreviated month name (Jan)",
    "B": "full month name (January)",
    "a": "abbreviated weekday name (Mon)",
    "A": "full weekday name (Monday)",
    "F": "same as %Y-%m-%d",
    "T": "same as %H:%M:%S",
    "z": "the export's UTC offset, +hhmm",
    "%": "a literal %",
    "1N": "tenths of a second",
    "2N": "hundredths of a second",
    "3N": "milliseconds",
}
_DIRECTIVE_RE = re.compile(r"%(?:([1-3])N|(.?))", re.DOTALL)


class TimestampFormatError(ValueError):
    """A ``timestamp_format`` that uses something outside the documented language."""


class VAlign(StrEnum):
    """Vertical alignment of the text inside its place (ETextAlignV)."""

    BOTTOM = "bottom"
    CENTER = "center"
    TOP = "top"


class HAlign(StrEnum):
    """Horizontal alignment of the text inside its place (ETextAlignH)."""

    CENTER = "center"
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True)
class Place:
    """A rectangle in normalised frame coordinates (0..1, origin top-left)."""

    left: float = 0.0
    top: float = 0.0
    right: float = 1.0
    bottom: float = 1.0


@dataclass(frozen=True)
class Rgba:
    """A colour with floats in [0, 1]; alpha 1 is opaque."""

    red: float = 1.0
    green: float = 1.0
    blue: float = 1.0
    alpha: float = 1.0

    def ffmpeg(self) -> str:
        """``0xRRGGBBAA``, the form every FFmpeg colour option accepts."""
        parts = (self.red, self.green, self.blue, self.alpha)
        return "0x" + "".join(f"{round(min(max(p, 0.0), 1.0) * 255):02X}" for p in parts)


WHITE = Rgba()
# Dark and translucent: white text stays readable on any scene, and the
# picture behind still shows through.
DEFAULT_BOX = Rgba(0.0, 0.0, 0.0, 0.5)
# Without an explicit place, comment and timestamp go to opposite corners so
# they never cover each other: comment top-left, timestamp bottom-left.
COMMENT_PLACE = Place(0.0, 0.0, 1.0, 0.5)
TIMESTAMP_PLACE = Place(0.0, 0.5, 1.0, 1.0)


@dataclass(frozen=True)
class TextBlock:
    """One drawtext: a template (``{Timestamp}`` expanded per frame) in a place."""

    template: str
    place: Place
    valign: VAlign
    halign: HAlign


@dataclass(frozen=True)
class TextOverlay:
    """Everything the media layer needs to put text on one source's video.

    ``pattern`` (``subtitle_cast.common_info_pattern``, plan-time wildcards
    already substituted) replaces the comment/timestamp lines when set; its
    ``{Timestamp}`` is expanded per frame with ``timestamp_format`` (or the
    default). ``timestamp_format`` ``None`` means no timestamp line; ``""``
    means the default format. ``place`` ``None`` means the default layout
    (comment top-left, timestamp bottom-left, a pattern bottom-centre like a
    subtitle); with a place, all lines share it and the alignments apply
    (unset: bottom, centre, as the contract's zero values say).
    ``box_color`` ``None`` draws no box behind the text. ``font_size`` is in
    pixels at 1080 lines (see ``DEFAULT_FONT_SIZE``), ``font_style`` a
    bitmask (bold 1, italic 2).
    """

    comment: str = ""
    timestamp_format: str | None = None  # None: no timestamp drawn
    timezone_minutes: int = 0
    burn: bool = True  # draw into the pixels
    soft_subtitles: bool = False  # add a subtitle track instead / as well
    pattern: str | None = None
    place: Place | None = None
    color: Rgba = WHITE
    box_color: Rgba | None = DEFAULT_BOX
    valign: VAlign | None = None
    halign: HAlign | None = None
    font_size: float = DEFAULT_FONT_SIZE
    font_style: int = 0

    @property
    def has_text(self) -> bool:
        return bool(self.comment or self.timestamp_format is not None or self.pattern)

    @property
    def burns_pixels(self) -> bool:
        return self.burn and self.has_text

    @property
    def effective_format(self) -> str:
        return self.timestamp_format or DEFAULT_TIMESTAMP_FORMAT

    def blocks(self) -> list[TextBlock]:
        """The text blocks to draw, each with its place and alignment."""
        valign = self.valign or VAlign.BOTTOM
        halign = self.halign or HAlign.CENTER
        if self.pattern is not None or self.place is not None:
            template = self.subtitle_template()
            if not template:
                return []
            return [TextBlock(template, self.place or TIMESTAMP_PLACE, valign, halign)]
        blocks = []
        if self.comment:
            blocks.append(
                TextBlock(
                    self.comment,
                    COMMENT_PLACE,
                    self.valign or VAlign.TOP,
                    self.halign or HAlign.LEFT,
                )
            )
        if self.timestamp_format is not None:
            blocks.append(
                TextBlock(
                    TIMESTAMP_WILDCARD,
                    TIMESTAMP_PLACE,
                    self.valign or VAlign.BOTTOM,
                    self.halign or HAlign.LEFT,
                )
            )
        return blocks

    def subtitle_template(self) -> str:
        """All the text as one template: the pattern, else comment over timestamp."""
        if self.pattern is not None:
            return self.pattern
        lines = [self.comment] if self.comment else []
        if self.timestamp_format is not None:
            lines.append(TIMESTAMP_WILDCARD)
        return "\n".join(lines)

    def text_at(self, wall: float) -> str:
        """All the overlay's text for a frame at ``wall`` (snapshots, PDF pages)."""
        return self.render(self.subtitle_template(), wall)

    def render(self, template: str, wall: float) -> str:
        """``template`` with ``{Timestamp}`` replaced by ``wall`` formatted."""
        stamp = format_wall(wall, self.effective_format, self.timezone_minutes)
        return template.replace(TIMESTAMP_WILDCARD, stamp)

    def to_json(self) -> dict[str, Any]:
        return {
            "comment": self.comment,
            "timestamp_format": self.timestamp_format,
            "timezone_minutes": self.timezone_minutes,
            "burn": self.burn,
            "soft_subtitles": self.soft_subtitles,
            "pattern": self.pattern,
            "place": _fields(self.place),
            "color": _fields(self.color),
            "box_color": _fields(self.box_color),
            "valign": self.valign.value if self.valign else None,
            "halign": self.halign.value if self.halign else None,
            "font_size": self.font_size,
            "font_style": self.font_style,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextOverlay:
        place = data.get("place")
        box = data.get("box_color", _fields(DEFAULT_BOX))
        return cls(
            comment=str(data.get("comment", "")),
            timestamp_format=data.get("timestamp_format"),
            timezone_minutes=int(data.get("timezone_minutes", 0)),
            burn=bool(data.get("burn", True)),
            soft_subtitles=bool(data.get("soft_subtitles", False)),
            pattern=data.get("pattern"),
            place=Place(**place) if place else None,
            color=Rgba(**data["color"]) if data.get("color") else WHITE,
            box_color=Rgba(**box) if box else None,
            valign=VAlign(data["valign"]) if data.get("valign") else None,
            halign=HAlign(data["halign"]) if data.get("halign") else None,
            font_size=float(data.get("font_size", DEFAULT_FONT_SIZE)),
            font_style=int(data.get("font_style", 0)),
        )


def _fields(value: Place | Rgba | None) -> dict[str, float] | None:
    if value is None:
        return None
    return asdict(value)


# --- the timestamp_format language -------------------------------------------------


@dataclass(frozen=True)
class _Token:
    """A literal run (``directive`` empty) or one directive (``"Y"``, ``"3N"``…)."""

    literal: str = ""
    directive: str = ""


def parse_timestamp_format(fmt: str, timezone_minutes: int = 0) -> list[_Token]:
    """Split a format into literals and directives; raise on anything undocumented.

    ``%F``/``%T`` are expanded, ``%z`` and ``%%`` become literals (the zone is
    fixed for an export), so renderers only see date/time fields.
    """
    tokens: list[_Token] = []
    pos = 0
    for match in _DIRECTIVE_RE.finditer(fmt):
        if match.start() > pos:
            tokens.append(_Token(literal=fmt[pos : match.start()]))
        pos = match.end()
        digits, letter = match.group(1), match.group(2)
        if digits:
            tokens.append(_Token(directive=f"{digits}N"))
        elif letter == "F":
            tokens += parse_timestamp_format("%Y-%m-%d")
        elif letter == "T":
            tokens += parse_timestamp_format("%H:%M:%S")
        elif letter == "%":
            tokens.append(_Token(literal="%"))
        elif letter == "z":
            tokens.append(_Token(literal=_utc_offset(timezone_minutes)))
        elif letter and letter in DIRECTIVES:
            tokens.append(_Token(directive=letter))
        else:
            shown = f"%{letter}" if letter else "a trailing %"
            raise TimestampFormatError(
                f"{shown} is not supported; use %Y %y %m %d %e %H %I %p %M %S %j %b %B %a %A "
                "%F %T %z %%, and %1N %2N %3N for tenths, hundredths and milliseconds"
            )
    if pos < len(fmt):
        tokens.append(_Token(literal=fmt[pos:]))
    return tokens


def _utc_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{mins:02d}"


def format_wall(wall: float, timestamp_format: str, timezone_minutes: int) -> str:
    """A wall-clock POSIX time as text, exactly as ``text_graph`` draws it.

    Sub-second fields are truncated, not rounded (a frame at .0399 s shows
    .03), like drawtext's ``floor``; names are English (C locale).
    """
    local = wall + timezone_minutes * 60 + GUARD_SECONDS
    seconds = math.floor(local)
    fraction = local - seconds
    tm = _gmtime(seconds)
    parts = []
    for token in parse_timestamp_format(
        timestamp_format or DEFAULT_TIMESTAMP_FORMAT, timezone_minutes
    ):
        if not token.directive:
            parts.append(token.literal)
        elif token.directive.endswith("N"):
            digits = int(token.directive[0])
            parts.append(f"{math.floor(fraction * 10**digits):0{digits}d}")
        else:
            parts.append(_field(tm, token.directive))
    return "".join(parts)


@dataclass(frozen=True)
class _Tm:
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    weekday: int  # Monday 0
    yday: int  # 1..366


def _gmtime(seconds: int) -> _Tm:
    days, rest = divmod(seconds, 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    # Days since 1970-01-01 (a Thursday) to a civil date, without time.gmtime's
    # platform limits.
    ordinal = 719163 + days  # date(1970, 1, 1).toordinal()
    from datetime import date

    day = date.fromordinal(ordinal)
    yday = ordinal - date(day.year, 1, 1).toordinal() + 1
    return _Tm(day.year, day.month, day.day, hour, minute, second, day.weekday(), yday)


def _field(tm: _Tm, directive: str) -> str:
    hour12 = tm.hour % 12 or 12
    values = {
        "Y": f"{tm.year:04d}",
        "y": f"{tm.year % 100:02d}",
        "m": f"{tm.month:02d}",
        "d": f"{tm.day:02d}",
        "e": f"{tm.day:2d}",
        "H": f"{tm.hour:02d}",
        "I": f"{hour12:02d}",
        "p": "AM" if tm.hour < 12 else "PM",
        "M": f"{tm.minute:02d}",
        "S": f"{tm.second:02d}",
        "j": f"{tm.yday:03d}",
        "b": _MONTHS[tm.month - 1][:3],
        "B": _MONTHS[tm.month - 1],
        "a": _DAYS[tm.weekday][:3],
        "A": _DAYS[tm.weekday],
    }
    return values[directive]


# --- FFmpeg escaping ------------------------------------------------------------------

# Characters special to the option parser (level 1) and to the filtergraph
# parser (level 2); both use backslash escapes and trim unescaped whitespace.
_OPTION_SPECIAL = "\\':"
_GRAPH_SPECIAL = "\\'[],;"


def escape_filter_value(value: str) -> str:
    """A filter option value made safe for a filtergraph string (both levels).

    The one place vexport escapes for FFmpeg filtergraphs: the value is
    escaped for the filter's ``key=value:...`` parser, then the result for the
    graph parser, as FFmpeg's "Notes on filtergraph escaping" describe.
    """
    return _backslash(_backslash(value, _OPTION_SPECIAL), _GRAPH_SPECIAL)


def _backslash(value: str, special: str) -> str:
    return "".join("\\" + c if c in special or c.isspace() else c for c in value)


def escape_drawtext_text(text: str) -> str:
    """Literal text for a drawtext ``textfile`` with expansion on: ``\\`` and ``%`` escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("\r", "")


# --- drawtext ----------------------------------------------------------------------------


def _offset_micros(epoch_base: float, timezone_minutes: int) -> int:
    return round((epoch_base + timezone_minutes * 60 + GUARD_SECONDS) * 1_000_000)


def _decimal_seconds(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def drawtext_timestamp(fmt: str, epoch_base: float, timezone_minutes: int) -> str:
    """drawtext expansion text showing each frame's wall time in ``fmt``.

    drawtext's ``pts`` function parses OFFSET to whole microseconds and adds
    it to ``t``; the ``eif`` fields use the same decimal, so both sums are
    the same double.
    """
    offset = _decimal_seconds(_offset_micros(epoch_base, timezone_minutes))
    parts = []
    for token in parse_timestamp_format(fmt, timezone_minutes):
        if not token.directive:
            parts.append(escape_drawtext_text(token.literal))
        elif token.directive.endswith("N"):
            digits = int(token.directive[0])
            scale = 10**digits
            parts.append(f"%{{eif:floor(mod(t+{offset},1)*{scale}):d:{digits}}}")
        else:
            parts.append(f"%{{pts:gmtime:{offset}:%{token.directive}}}")
    return "".join(parts)


def drawtext_template(overlay: TextOverlay, template: str, epoch_base: float) -> str:
    """A block's template as drawtext expansion text (literals escaped)."""
    stamp = drawtext_timestamp(overlay.effective_format, epoch_base, overlay.timezone_minutes)
    return stamp.join(escape_drawtext_text(part) for part in template.split(TIMESTAMP_WILDCARD))


def font_pixels(overlay: TextOverlay, height: int) -> int:
    """The drawtext font size before fitting: ``font_size`` scaled from 1080 lines."""
    return max(MIN_FONT_PIXELS, round(overlay.font_size * height / REFERENCE_HEIGHT))


def _padding(pixels: int) -> int:
    return max(2, round(pixels * 0.25))


def _fit_pixels(
    overlay: TextOverlay, sample: str, box: tuple[int, int, int, int], height: int
) -> int:
    """Shrink the font so the sample text (and its box padding) fits the place.

    drawtext cannot wrap or clip, so text wider than its place would spill
    over the picture; Pillow measures with the same font file FFmpeg uses.
    The floor is ``MIN_FIT_PIXELS``: below that text is noise, and spilling is
    the lesser harm.
    """
    left, top, right, bottom = box
    pixels = font_pixels(overlay, height)
    path = str(font_path(overlay.font_style))
    lines = sample.split("\n")
    while pixels > MIN_FIT_PIXELS:
        scale = _fit_scale(path, pixels, lines, right - left, bottom - top)
        if scale >= 1.0:
            break
        # Text size is close to linear in the font size: jump most of the way,
        # then step down one pixel at a time for hinting and padding rounding.
        pixels = max(MIN_FIT_PIXELS, min(pixels - 1, math.floor(pixels * scale)))
    return pixels


def _fit_scale(path: str, pixels: int, lines: list[str], width: int, height: int) -> float:
    """How much the text at ``pixels`` must shrink to fit ``width`` x ``height`` (>= 1: fits)."""
    from PIL import ImageFont

    font = ImageFont.truetype(path, pixels)
    pad = 2 * _padding(pixels)
    wide = max(font.getlength(line) for line in lines) + pad
    ascent, descent = font.getmetrics()
    tall = len(lines) * (ascent + descent) + pad
    return min(width / wide if wide else math.inf, height / tall)


def _place_pixels(place: Place, width: int, height: int) -> tuple[int, int, int, int]:
    return (
        round(place.left * width),
        round(place.top * height),
        round(place.right * width),
        round(place.bottom * height),
    )


def _position(block: TextBlock, box: tuple[int, int, int, int], pad: int) -> tuple[str, str]:
    left, top, right, bottom = box
    x = {
        HAlign.LEFT: f"{left + pad}",
        HAlign.RIGHT: f"{right - pad}-text_w",
        HAlign.CENTER: f"{left}+({right - left}-text_w)/2",
    }[block.halign]
    y = {
        VAlign.TOP: f"{top + pad}",
        VAlign.BOTTOM: f"{bottom - pad}-text_h",
        VAlign.CENTER: f"{top}+({bottom - top}-text_h)/2",
    }[block.valign]
    return x, y


def _drawtext(
    overlay: TextOverlay,
    block: TextBlock,
    *,
    width: int,
    height: int,
    epoch_base: float,
    textfile: Path,
) -> str:
    textfile.write_text(drawtext_template(overlay, block.template, epoch_base), encoding="utf-8")
    box = _place_pixels(block.place, width, height)
    pixels = _fit_pixels(overlay, overlay.render(block.template, epoch_base), box, height)
    pad = _padding(pixels)
    x, y = _position(block, box, pad)
    options = {
        "fontfile": str(font_path(overlay.font_style)),
        "textfile": str(textfile),
        "expansion": "normal",
        "fontsize": str(pixels),
        "fontcolor": overlay.color.ffmpeg(),
        "text_align": {HAlign.LEFT: "L", HAlign.CENTER: "C", HAlign.RIGHT: "R"}[block.halign],
        "x": x,
        "y": y,
    }
    if overlay.box_color is not None:
        options |= {"box": "1", "boxcolor": overlay.box_color.ffmpeg(), "boxborderw": str(pad)}
    args = ":".join(f"{key}={escape_filter_value(value)}" for key, value in options.items())
    return f"drawtext={args}"


def text_graph(
    overlay: TextOverlay,
    *,
    width: int,
    height: int,
    epoch_base: float,
    workdir: Path,
    src: str,
    dst: str,
) -> str:
    """Filtergraph text drawing ``overlay`` from pad ``[src]`` to pad ``[dst]``.

    Writes one text file per block into ``workdir`` (which must outlive the
    FFmpeg run). With nothing to draw the graph is a ``null`` pass-through,
    so the caller's graph stays valid.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    filters = []
    for index, block in enumerate(overlay.blocks() if overlay.burn else []):
        filters.append(
            _drawtext(
                overlay,
                block,
                width=width,
                height=height,
                epoch_base=epoch_base,
                textfile=workdir / f"text-{re.sub(r'[^A-Za-z0-9_-]', '_', src)}-{index}.txt",
            )
        )
    return f"[{src}]{','.join(filters) or 'null'}[{dst}]"


# --- soft subtitles ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from ``start`` to ``end`` seconds of file time."""

    start: float
    end: float
    text: str


def subtitle_cues(
    overlay: TextOverlay, frame_times: Sequence[float], first_frame: float, frame_seconds: float
) -> list[Cue]:
    """One cue per change of text over the shown frames (file times, sorted).

    Frame ``i`` shows wall time ``first_frame + frame_times[i] - frame_times[0]``;
    a cue starts at the frame whose text it carries, so cue and picture agree
    to the frame whatever the format's precision.
    """
    template = overlay.subtitle_template()
    if not frame_times or not template:
        return []
    origin = frame_times[0]
    cues: list[Cue] = []
    for time in frame_times:
        text = overlay.render(template, first_frame + time - origin)
        if cues and cues[-1].text == text:
            continue
        if cues:
            cues[-1] = replace(cues[-1], end=time)
        cues.append(Cue(time, time + frame_seconds, text))
    cues[-1] = replace(cues[-1], end=frame_times[-1] + frame_seconds)
    return cues


def _srt_time(seconds: float) -> str:
    # Floor to the millisecond: a cue never starts after its frame is shown.
    millis = max(0, math.floor(seconds * 1000 + 1e-6))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def srt_text(cues: Sequence[Cue]) -> str:
    """Cues as SubRip; blank lines inside a cue would end it, so they are dropped."""
    out = []
    for number, cue in enumerate(cues, 1):
        body = "\n".join(line for line in cue.text.split("\n") if line.strip()) or " "
        out.append(f"{number}\n{_srt_time(cue.start)} --> {_srt_time(cue.end)}\n{body}\n")
    return "\n".join(out)


def _video_frame_times(path: Path) -> tuple[list[float], float]:
    """Presentation times of the frames a player shows, and one frame's duration.

    MP4/MOV edit lists hide the frames before the requested start; the
    demuxer flags their packets for discard, so they are skipped here the way
    a player skips them.
    """
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = sorted(
            float(packet.pts * packet.time_base)
            for packet in container.demux(stream)
            if packet.pts is not None and not packet.is_discard and packet.size
        )
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    frame = sorted(steps)[len(steps) // 2] if steps else 0.04
    return times, frame


def add_soft_subtitles(
    path: Path,
    container: ContainerFormat,
    overlay: TextOverlay,
    *,
    first_frame: float,
    last_frame: float,
    ffmpeg: str,
) -> None:
    """Add a subtitle track (one cue per change of text) to the clip at ``path``.

    ``first_frame`` is the wall time of the first frame a player shows;
    ``last_frame`` bounds the cues (frames after it get none). The other
    streams are copied untouched (same packets, same edit list); the new
    file replaces the old one atomically, so a failure leaves the clip as it was.
    """
    codec = SOFT_SUBTITLE_CODECS.get(container)
    if codec is None:
        raise ValueError(f"{container.name} cannot carry text subtitles")
    times, frame_seconds = _video_frame_times(path)
    if times:
        origin = times[0]
        times = [t for t in times if first_frame + t - origin <= last_frame + WALL_EPSILON]
    cues = subtitle_cues(overlay, times, first_frame, frame_seconds)
    if not cues:
        return
    directory = path.parent
    with tempfile.TemporaryDirectory(dir=directory, prefix=".subs-") as tmp:
        srt = Path(tmp) / "cues.srt"
        srt.write_text(srt_text(cues), encoding="utf-8")
        output = Path(tmp) / f"out.{container.value}"
        _run(
            [
                ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                "-i", str(path), "-i", str(srt),
                "-map", "0", "-map", "1:s", "-c", "copy", "-c:s", codec,
                "-disposition:s:0", "default", "-map_metadata", "0",
                "-f", container.muxer, str(output),
            ]
        )  # fmt: skip
        os.replace(output, path)


def _run(cmd: list[str]) -> None:
    result = subprocess.run(dying_with_parent(cmd), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = result.stderr.strip()[-2000:]
        raise ExportFailed(
            f"could not add the subtitle track (ffmpeg {result.returncode}): {detail}"
        )
