"""The timestamp_format language, FFmpeg escaping and subtitle cues, without FFmpeg."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vexport.media.text import (
    MIN_FONT_PIXELS,
    Cue,
    TextOverlay,
    TimestampFormatError,
    drawtext_template,
    escape_drawtext_text,
    escape_filter_value,
    font_pixels,
    format_wall,
    srt_text,
    subtitle_cues,
)

# 2026-03-01 10:00:00 UTC, a Sunday.
T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("wall", "fmt", "tz", "expected"),
    [
        (T0 + 0.04, "", 0, "2026-03-01 10:00:00.040"),
        (T0 + 0.04, "%Y-%m-%d %H:%M:%S.%3N", 0, "2026-03-01 10:00:00.040"),
        (T0 + 0.999, "%T.%2N|%1N", 0, "10:00:00.99|9"),
        (T0, "%F %T %z", 180, "2026-03-01 13:00:00 +0300"),
        (T0, "%F %T %z", -570, "2026-03-01 00:30:00 -0930"),
        (T0, "%a %A %b %B %e %j %y", 0, "Sun Sunday Mar March  1 060 26"),
        (T0 + 3 * 3600, "%I:%M %p", 0, "01:00 PM"),
        (T0 - 10 * 3600, "%I %p", 0, "12 AM"),
        (T0, "100%% at %H\\h", 0, "100% at 10\\h"),
    ],
)
def test_format_wall(wall: float, fmt: str, tz: int, expected: str) -> None:
    assert format_wall(wall, fmt, tz) == expected


def test_frame_times_near_a_boundary_do_not_show_float_noise() -> None:
    # base + k/25 lands a hair below the exact millisecond in binary floating point.
    base = 1763852400.5
    shown = [format_wall(base + k * 0.04, "%S.%3N", 0) for k in range(30)]
    assert shown[:3] == ["00.500", "00.540", "00.580"]
    assert shown[13] == "01.020"
    assert all(s.endswith(("0",)) for s in shown)


@pytest.mark.parametrize("fmt", ["%f", "%Q", "%N", "%4N", "%c", "trailing %"])
def test_undocumented_directives_are_refused(fmt: str) -> None:
    with pytest.raises(TimestampFormatError):
        format_wall(T0, fmt, 0)


def test_escape_filter_value_escapes_both_levels() -> None:
    assert escape_filter_value("/a b/c") == "/a\\\\\\ b/c"
    assert escape_filter_value("x:y") == "x\\\\:y"  # graph level: x\\:y, option level: x:y
    assert escape_filter_value("[a],b;c") == "\\[a\\]\\,b\\;c"
    assert escape_filter_value("it's") == "it\\\\\\'s"
    assert escape_filter_value("plain-0x00FF_1.5") == "plain-0x00FF_1.5"


def test_drawtext_text_escapes_only_backslash_and_percent() -> None:
    assert escape_drawtext_text("100% \\ {x}: [y]\r") == "100\\% \\\\ {x}: [y]"


def test_drawtext_template_uses_one_offset_for_every_field() -> None:
    ov = TextOverlay(timestamp_format="%H:%M:%S.%3N", timezone_minutes=60)
    text = drawtext_template(ov, "at {Timestamp}%", 1000.25)
    offset = "4600.250001"  # base + 60 min + the 1 us guard
    assert text == (
        f"at %{{pts:gmtime:{offset}:%H}}:%{{pts:gmtime:{offset}:%M}}:"
        f"%{{pts:gmtime:{offset}:%S}}.%{{eif:floor(mod(t+{offset},1)*1000):d:3}}\\%"
    )


def test_font_size_scales_from_1080_lines_with_a_floor() -> None:
    ov = TextOverlay(comment="x")
    assert font_pixels(ov, 1080) == 32
    assert font_pixels(ov, 720) == 21
    assert font_pixels(ov, 180) == MIN_FONT_PIXELS


def test_blocks_default_layout_and_shared_place() -> None:
    both = TextOverlay(comment="c", timestamp_format="")
    assert [b.template for b in both.blocks()] == ["c", "{Timestamp}"]
    assert both.blocks()[0].place.top == 0 and both.blocks()[1].place.bottom == 1
    from vexport.media.text import Place

    shared = TextOverlay(comment="c", timestamp_format="", place=Place(0, 0, 1, 1))
    assert [b.template for b in shared.blocks()] == ["c\n{Timestamp}"]


def test_cues_change_with_the_text_and_follow_frame_times() -> None:
    ov = TextOverlay(timestamp_format="%H:%M:%S")
    times = [k * 0.04 for k in range(50)]  # 2 s of 25 fps
    cues = subtitle_cues(ov, times, T0 + 0.6, 0.04)
    assert [c.text for c in cues] == ["10:00:00", "10:00:01", "10:00:02"]
    assert cues[0].start == 0 and cues[1].start == pytest.approx(0.4)
    assert cues[2].start == pytest.approx(1.4) and cues[2].end == pytest.approx(2.0)
    assert cues[0].end == cues[1].start


def test_srt_text() -> None:
    text = srt_text([Cue(0.0, 0.5, "a\n\nb"), Cue(0.5, 3723.04, "c")])
    assert text == "1\n00:00:00,000 --> 00:00:00,500\na\nb\n\n2\n00:00:00,500 --> 01:02:03,040\nc\n"


def test_text_at_gives_the_whole_text_for_one_frame() -> None:
    ov = TextOverlay(comment="Gate 3", timestamp_format="%T", timezone_minutes=60)
    assert ov.text_at(T0 + 1.5) == "Gate 3\n11:00:01"
    assert TextOverlay(pattern="{Timestamp} @ cam", timestamp_format="%H").text_at(T0) == "10 @ cam"
