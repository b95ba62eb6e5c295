"""Text drawn by real FFmpeg: per-frame wall time, placement, colours, and soft subtitles.

Frames come back as raw RGB over a pipe and are compared with Pillow: a
changed-pixel bounding box against the same source without text says where
text landed; identical crops say two frames show the same text.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops

from tests.media.conftest import file_packets
from tests.media_fixtures import make_numbered_video
from vexport.media.clip_writer import ClipRequest, write_clip
from vexport.media.ffmpeg import ffmpeg_binary
from vexport.media.plan import ContainerFormat, ExportFailed, ProducedFile
from vexport.media.probe import video_frame_times
from vexport.media.text import (
    HAlign,
    Place,
    Rgba,
    TextOverlay,
    VAlign,
    add_soft_subtitles,
    format_wall,
    text_graph,
)

W, H = 320, 180
# 2025-11-22 23:00:00.96 UTC: the second frame (t = 0.04) is on a whole second.
BASE = 1763852400.96
GREY = "color=c=0x404040"


def render(
    overlay: TextOverlay | None,
    workdir: Path,
    *,
    frames: int = 3,
    source: str = GREY,
    base: float = BASE,
    size: tuple[int, int] = (W, H),
) -> list[Image.Image]:
    """The first ``frames`` frames of ``source`` with ``overlay`` drawn (None: untouched)."""
    width, height = size
    graph = "[0:v]null[out]"
    if overlay is not None:
        graph = text_graph(
            overlay, width=width, height=height, epoch_base=base, workdir=workdir, src="0:v",
            dst="out",
        )  # fmt: skip
    cmd = [
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "lavfi", "-i", f"{source}:s={width}x{height}:r=25",
        "-filter_complex", graph, "-map", "[out]", "-frames:v", str(frames),
        "-pix_fmt", "rgb24", "-f", "rawvideo", "-",
    ]  # fmt: skip
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    size_bytes = width * height * 3
    assert len(raw) == frames * size_bytes
    return [
        Image.frombytes("RGB", (width, height), raw[i * size_bytes : (i + 1) * size_bytes])
        for i in range(frames)
    ]


def changed_box(a: Image.Image, b: Image.Image) -> tuple[int, int, int, int] | None:
    return ImageChops.difference(a, b).getbbox()


def pixel_box(place: Place, width: int = W, height: int = H) -> tuple[int, int, int, int]:
    return (
        round(place.left * width),
        round(place.top * height),
        round(place.right * width),
        round(place.bottom * height),
    )


def inside(box: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return box[0] >= outer[0] and box[1] >= outer[1] and box[2] <= outer[2] and box[3] <= outer[3]


def test_each_frame_shows_its_own_time(tmp_path: Path) -> None:
    overlay = TextOverlay(timestamp_format="%H:%M:%S")
    frames = render(overlay, tmp_path, frames=3)
    # Frame 0 is 23:00:00.96, frames 1 and 2 are in 23:00:01.
    assert changed_box(frames[0], frames[1]) is not None
    assert changed_box(frames[1], frames[2]) is None


def test_milliseconds_change_every_frame(tmp_path: Path) -> None:
    frames = render(TextOverlay(timestamp_format=""), tmp_path, frames=2)
    assert changed_box(frames[0], frames[1]) is not None


@pytest.mark.parametrize(
    ("fmt", "tz", "base"),
    [
        ("", 0, BASE),  # crosses a second between frames 0 and 1
        ("%a %d %b %Y %T.%2N %z", 330, BASE),
        ("%A %e %B %j %y %F", -600, BASE),
        ("%I:%M:%S.%1N %p 100%%", -60, 1763852400.5),
    ],
)
def test_format_wall_matches_what_drawtext_draws(
    tmp_path: Path, fmt: str, tz: int, base: float
) -> None:
    place = Place(0.0, 0.0, 1.0, 0.4)
    drawn = render(
        TextOverlay(timestamp_format=fmt, timezone_minutes=tz, place=place), tmp_path, base=base
    )
    for index, frame in enumerate(drawn):
        literal = format_wall(base + index * 0.04, fmt, tz)
        # The same text as a literal comment, in the same place: pixel-identical.
        expected = render(
            TextOverlay(comment=literal, place=place), tmp_path / f"l{index}", frames=1
        )
        assert changed_box(frame, expected[0]) is None, (index, literal)


def test_pattern_is_drawn_with_its_timestamp(tmp_path: Path) -> None:
    pattern = TextOverlay(pattern="Gate 3 {Timestamp} 100%", timestamp_format="%T")
    drawn = render(pattern, tmp_path, frames=2)
    for index, frame in enumerate(drawn):
        literal = f"Gate 3 {format_wall(BASE + index * 0.04, '%T', 0)} 100%"
        expected = render(TextOverlay(pattern=literal), tmp_path / f"l{index}", frames=1)[0]
        assert changed_box(frame, expected) is None


def test_soft_only_overlay_leaves_pixels_alone(tmp_path: Path) -> None:
    soft = TextOverlay(comment="x", burn=False, soft_subtitles=True)
    graph = text_graph(soft, width=W, height=H, epoch_base=BASE, workdir=tmp_path, src="a", dst="b")
    assert graph == "[a]null[b]"


def test_default_layout_comment_top_left_timestamp_bottom_left(tmp_path: Path) -> None:
    plain = render(None, tmp_path, frames=1)[0]
    drawn = render(TextOverlay(comment="Gate 3", timestamp_format=""), tmp_path, frames=1)[0]
    top = changed_box(plain.crop((0, 0, W, H // 2)), drawn.crop((0, 0, W, H // 2)))
    bottom = changed_box(plain.crop((0, H // 2, W, H)), drawn.crop((0, H // 2, W, H)))
    assert top is not None and top[0] == 0 and top[1] == 0 and top[2] < W // 2
    assert bottom is not None and bottom[0] == 0 and bottom[3] == H // 2
    assert drawn.crop((0, 0, W, H)).getpixel((W - 1, H // 2)) == plain.getpixel((W - 1, H // 2))


@pytest.mark.parametrize(
    ("valign", "halign"),
    [
        (VAlign.TOP, HAlign.LEFT),
        (VAlign.BOTTOM, HAlign.RIGHT),
        (VAlign.CENTER, HAlign.CENTER),
    ],
)
def test_text_stays_in_its_place_and_follows_alignment(
    tmp_path: Path, valign: VAlign, halign: HAlign
) -> None:
    place = Place(0.25, 0.3, 0.95, 0.8)
    box = pixel_box(place)
    overlay = TextOverlay(
        comment="Entrance\nnorth", timestamp_format="%T", place=place, valign=valign, halign=halign
    )
    plain = render(None, tmp_path, frames=1)[0]
    drawn = render(overlay, tmp_path, frames=1)[0]
    changed = changed_box(plain, drawn)
    assert changed is not None and inside(changed, box), (changed, box)
    slack = 3  # the box edge sits on the place edge; allow rounding of centred text
    if halign is HAlign.LEFT:
        assert changed[0] == box[0]
    elif halign is HAlign.RIGHT:
        assert changed[2] == box[2]
    else:
        assert abs((changed[0] + changed[2]) - (box[0] + box[2])) <= 2 * slack
    if valign is VAlign.TOP:
        assert changed[1] == box[1]
    elif valign is VAlign.BOTTOM:
        assert changed[3] == box[3]
    else:
        assert abs((changed[1] + changed[3]) - (box[1] + box[3])) <= 2 * slack


def test_long_text_shrinks_to_fit_its_place(tmp_path: Path) -> None:
    place = Place(0.0, 0.0, 0.5, 0.3)
    overlay = TextOverlay(comment="A rather long comment for a small place", place=place)
    plain = render(None, tmp_path, frames=1)[0]
    changed = changed_box(plain, render(overlay, tmp_path, frames=1)[0])
    assert changed is not None and inside(changed, pixel_box(place))


def test_text_colour_and_box_colour(tmp_path: Path) -> None:
    place = Place(0.1, 0.1, 0.9, 0.9)
    red_on_blue = TextOverlay(
        comment="MMMM",
        place=place,
        color=Rgba(1, 0, 0, 1),
        box_color=Rgba(0, 0, 1, 1),
        font_size=200,
    )
    image = render(red_on_blue, tmp_path, frames=1, source="color=c=black")[0]
    colours = {colour for _, colour in image.getcolors(W * H) or []}
    assert any(r > 200 and g < 60 and b < 60 for r, g, b in colours)  # the glyphs
    assert any(b > 200 and r < 60 and g < 60 for r, g, b in colours)  # the box
    no_box = render(
        TextOverlay(comment="MMMM", place=place, box_color=None), tmp_path / "b", frames=1,
        source="color=c=black",
    )[0]  # fmt: skip
    assert all(r == g == b for _, (r, g, b) in no_box.getcolors(W * H) or [])  # white on black


def test_readable_sizes_at_1080p(tmp_path: Path) -> None:
    overlay = TextOverlay(timestamp_format="")
    plain = render(None, tmp_path, frames=1, size=(1920, 1080))[0]
    drawn = render(overlay, tmp_path, frames=1, size=(1920, 1080))[0]
    changed = changed_box(plain, drawn)
    assert changed is not None
    height = changed[3] - changed[1]
    assert 30 <= height <= 60  # 32 px text plus its box padding


def test_filter_values_with_special_characters_survive_the_graph(tmp_path: Path) -> None:
    workdir = tmp_path / "we'ird, [dir]; a:b"
    overlay = TextOverlay(comment="50% off: [a], {b}; c\\d 'q'")
    assert render(overlay, workdir, frames=1)


# --- soft subtitles -------------------------------------------------------------------


def _clip(tmp_path: Path, container: ContainerFormat) -> ProducedFile:
    """A 2 s clip starting 0.5 s into a 1 s GOP, as vexport cuts it: MP4 gets an edit list."""
    source = make_numbered_video(tmp_path / "source.ts", 3, gop_frames=25)
    (produced,) = write_clip(
        file_packets(source, anchor=BASE),
        ClipRequest(start=BASE + 0.5, end=BASE + 2.5),
        origin="cam",
        container=container,
        output_dir=tmp_path,
        file_prefix="clip",
    )
    return produced


def _video_packets(path: Path) -> list[tuple[int | None, str]]:
    with av.open(str(path)) as container:
        return [
            (packet.pts, hashlib.sha256(bytes(packet)).hexdigest())
            for packet in container.demux(container.streams.video[0])
            if packet.size
        ]


def _first_frame_and_duration(path: Path) -> tuple[float, int | None]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        assert frame.time is not None
        return frame.time, container.duration


def _cues(path: Path) -> list[tuple[float, float, str]]:
    cmd = [ffmpeg_binary(), "-loglevel", "error", "-i", str(path), "-map", "0:s", "-f", "srt", "-"]
    srt = subprocess.run(cmd, capture_output=True, check=True, text=True).stdout
    cues = []
    pattern = r"(\d+):(\d+):(\d+),(\d+) --> (\d+):(\d+):(\d+),(\d+)\n(.*?)(?:\n\n|\n?$)"
    for m in re.finditer(pattern, srt, re.DOTALL):
        g = [int(x) for x in m.groups()[:8]]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        cues.append((start, end, m.group(9)))
    return cues


@pytest.mark.parametrize(
    ("container", "codec"),
    [
        (ContainerFormat.MP4, "mov_text"),
        (ContainerFormat.MOV, "mov_text"),
        (ContainerFormat.MKV, "subrip"),
    ],
)
def test_soft_subtitles_keep_video_and_edit_list(
    tmp_path: Path, container: ContainerFormat, codec: str
) -> None:
    produced = _clip(tmp_path, container)
    clip = produced.path
    before_packets = _video_packets(clip)
    before_first = _first_frame_and_duration(clip)
    first_frame = produced.first_frame.timestamp()  # wall time of the first shown frame
    last_frame = produced.last_frame.timestamp()
    overlay = TextOverlay(comment="Gate 3", timestamp_format="%H:%M:%S", soft_subtitles=True)
    add_soft_subtitles(
        clip, container, overlay, first_frame=first_frame, last_frame=last_frame,
        ffmpeg=ffmpeg_binary(),
    )  # fmt: skip

    with av.open(str(clip)) as result:
        (subtitles,) = result.streams.subtitles
        assert subtitles.codec_context.name in (codec, "srt")  # PyAV names SubRip's decoder srt
    assert _video_packets(clip) == before_packets
    assert _first_frame_and_duration(clip) == before_first
    if container is not ContainerFormat.MKV:
        assert before_packets[0][0] is not None and before_packets[0][0] < 0  # edit list kept
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".subs-")]

    cues = _cues(clip)
    times = [round(t, 3) for t in video_frame_times(clip)]
    shown = {t: format_wall(first_frame + t - times[0], "%H:%M:%S", 0) for t in times}
    # One cue per second shown, starting on the first frame of that second.
    expected = sorted({text for text in shown.values()})
    assert [text for _, _, text in cues] == [f"Gate 3\n{t}" for t in expected]
    for start, end, text in cues:
        covered = [t for t in times if start <= t < end]
        assert covered and covered[0] == pytest.approx(start, abs=0.001)
        assert all(f"Gate 3\n{shown[t]}" == text for t in covered)
    assert cues[0][0] == pytest.approx(times[0], abs=0.001)
    assert cues[-1][1] == pytest.approx(times[-1] + 0.04, abs=0.001)


def test_soft_subtitles_refuse_containers_without_text_tracks(tmp_path: Path) -> None:
    clip = tmp_path / "clip.ts"
    clip.write_bytes(b"")
    with pytest.raises(ValueError, match="MPEG_TS cannot carry"):
        add_soft_subtitles(
            clip, ContainerFormat.MPEG_TS, TextOverlay(comment="x"), first_frame=0.0,
            last_frame=1.0, ffmpeg=ffmpeg_binary(),
        )  # fmt: skip


def test_a_failed_remux_leaves_the_clip_as_it_was(tmp_path: Path) -> None:
    produced = _clip(tmp_path, ContainerFormat.MP4)
    before = produced.path.read_bytes()
    with pytest.raises(ExportFailed, match="subtitle track"):
        add_soft_subtitles(
            produced.path, ContainerFormat.MP4, TextOverlay(comment="x"),
            first_frame=produced.first_frame.timestamp(),
            last_frame=produced.last_frame.timestamp(), ffmpeg="false",
        )  # fmt: skip
    assert produced.path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".subs-")]
