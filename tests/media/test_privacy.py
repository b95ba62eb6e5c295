"""Privacy masks and crop drawn by real FFmpeg, checked pixel by pixel in raw 4:2:0.

Frames come back as raw yuv420p over a pipe, so every comparison is exact:
inside a mask the output must *be* the fill (a solid colour in limited range,
or the mosaic of the same frame), outside it must be the untouched frame.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.media.conftest import file_packets
from vexport.media.clip_writer import ClipRequest, write_clip
from vexport.media.ffmpeg import ffmpeg_binary
from vexport.media.pixels import PixelChain
from vexport.media.plan import ContainerFormat
from vexport.media.privacy import (
    Area,
    ColorTags,
    Privacy,
    crop_box,
    output_size,
    privacy_graph,
    write_mask,
)
from vexport.media.rendering import Rendering
from vexport.media.transcode import TranscodeJob, Transcoder

W, H = 320, 180
SOURCE = "testsrc2"  # busy and moving: a leak or a stale frame shows
SQUARE = ((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75))
TRIANGLE = ((0.1, 0.9), (0.33, 0.55), (0.41, 0.93))  # odd pixel edges


def planes(raw: bytes, width: int, height: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    size = width * height * 3 // 2
    frames = []
    for start in range(0, len(raw), size):
        data = np.frombuffer(raw[start : start + size], np.uint8)
        y = data[: width * height].reshape(height, width)
        u = data[width * height : width * height * 5 // 4].reshape(height // 2, width // 2)
        v = data[width * height * 5 // 4 :].reshape(height // 2, width // 2)
        frames.append((y, u, v))
    return frames


def render(
    privacy: Privacy | None,
    workdir: Path,
    *,
    frames: int = 5,
    extra: str = "",
    source_size: tuple[int, int] = (W, H),
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``frames`` frames of the test source with ``privacy`` applied (None: untouched)."""
    graph = f"[0:v]{extra or 'null'}[out]"
    width, height = W, H
    if privacy is not None:
        graph = privacy_graph(privacy, width=W, height=H, workdir=workdir, src="0:v", dst="out")
        width, height = output_size(privacy, W, H)
    cmd = [
        ffmpeg_binary(), "-hide_banner", "-loglevel", "warning", "-nostdin",
        "-f", "lavfi", "-i", f"{SOURCE}=s={source_size[0]}x{source_size[1]}:r=25,format=yuv420p",
        "-filter_complex", graph, "-map", "[out]", "-frames:v", str(frames),
        "-pix_fmt", "yuv420p", "-f", "rawvideo", "-",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, check=True)
    assert not result.stderr, result.stderr.decode()  # no range or sync warnings
    return planes(result.stdout, width, height)


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane as stored (no range conversion, unlike ``to_ndarray(format="gray")``)."""
    plane = frame.planes[0]
    rows = np.frombuffer(bytes(plane), np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, : frame.width]


def mask_of(privacy: Privacy, workdir: Path) -> np.ndarray:
    path = workdir / "expected-mask.png"
    write_mask(privacy, W, H, path)
    return np.asarray(Image.open(path)) > 0


def limited(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited-range Y, Cb, Cr of an 8-bit RGB colour."""
    r, g, b = (c / 255 for c in rgb)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return (
        round(16 + 219 * y),
        round(128 + 224 * (b - y) / 1.772),
        round(128 + 224 * (r - y) / 1.402),
    )


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[np.ndarray, ...]]:
    return render(None, tmp_path_factory.mktemp("plain"))


def test_solid_fill_replaces_every_masked_pixel(tmp_path: Path, plain: list) -> None:
    privacy = Privacy(masks=(SQUARE, TRIANGLE), fill="#204080")
    mask = mask_of(privacy, tmp_path)
    chroma_mask = mask[::2, ::2]
    expected = limited((0x20, 0x40, 0x80))

    out = render(privacy, tmp_path)

    assert 0.25 < mask.mean() < 0.4
    for (y, u, v), (py, pu, pv) in zip(out, plain, strict=True):
        assert (y[mask] == expected[0]).all()
        assert (u[chroma_mask] == expected[1]).all() and (v[chroma_mask] == expected[2]).all()
        assert (y[~mask] == py[~mask]).all()
        assert (u[~chroma_mask] == pu[~chroma_mask]).all()
        assert (v[~chroma_mask] == pv[~chroma_mask]).all()
    # The frames outside the mask move on; the masked area never does.
    assert (out[0][0][~mask] != out[4][0][~mask]).any()


def test_mosaic_is_the_pixelated_frame_inside_the_mask(tmp_path: Path, plain: list) -> None:
    privacy = Privacy(masks=(SQUARE,), mosaic_cell=0.05)
    mask = mask_of(privacy, tmp_path)
    cell = 9  # 5 % of 180 lines
    small = f"{-(-W // cell)}:{-(-H // cell)}"
    pixelated = render(
        None, tmp_path, extra=f"scale={small}:flags=area,scale={W}:{H}:flags=neighbor"
    )

    out = render(privacy, tmp_path)

    for (y, u, v), (my, mu, mv), (py, _, _) in zip(out, pixelated, plain, strict=True):
        assert (y[mask] == my[mask]).all()
        assert (u[mask[::2, ::2]] == mu[mask[::2, ::2]]).all()
        assert (v[mask[::2, ::2]] == mv[mask[::2, ::2]]).all()
        assert (y[~mask] == py[~mask]).all()
        # Pixelated indeed: values change only at cell borders, at most every 9th column.
        inside = y[60:120, 100:220].astype(int)
        edges = np.flatnonzero((np.diff(inside, axis=1) != 0).any(axis=0))
        assert 0 < len(edges) <= 120 // 9 + 1
    assert (out[0][0][mask] != out[4][0][mask]).any()  # it follows the picture


def test_invert_masks_the_outside(tmp_path: Path, plain: list) -> None:
    privacy = Privacy(masks=(SQUARE,), invert=True, fill="#000000")
    mask = mask_of(privacy, tmp_path)

    out = render(privacy, tmp_path)

    assert mask[0, 0] and not mask[H // 2, W // 2]
    for (y, _, _), (py, _, _) in zip(out, plain, strict=True):
        assert (y[mask] == 16).all()
        assert (y[~mask] == py[~mask]).all()


def test_mask_grows_to_whole_chroma_blocks(tmp_path: Path) -> None:
    mask = mask_of(Privacy(masks=(TRIANGLE,)), tmp_path)
    blocks = mask.reshape(H // 2, 2, W // 2, 2)
    assert (blocks.all(axis=(1, 3)) == blocks.any(axis=(1, 3))).all()
    # It covers at least the polygon Pillow draws.
    bare = Image.new("L", (W, H))
    from PIL import ImageDraw

    ImageDraw.Draw(bare).polygon([(x * W, y * H) for x, y in TRIANGLE], fill=255)
    assert not (np.asarray(bare)[~mask]).any()


def test_crop_cuts_after_the_mask(tmp_path: Path) -> None:
    masked = Privacy(masks=(SQUARE,), fill="#FFFFFF")
    cropped = Privacy(
        masks=(SQUARE,), fill="#FFFFFF", crop=Area(left=0.105, top=0.1, right=0.903, bottom=0.61)
    )
    x, y, w, h = crop_box(cropped, W, H)

    full = render(masked, tmp_path, frames=2)
    out = render(cropped, tmp_path, frames=2)

    assert (w, h) == output_size(cropped, W, H) == (256, 92)
    assert x % 2 == 0 and y % 2 == 0
    for (cy, cu, _), (fy, fu, _) in zip(out, full, strict=True):
        assert cy.shape == (h, w)
        assert (cy == fy[y : y + h, x : x + w]).all()
        assert (cu == fu[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2]).all()


@pytest.mark.parametrize(
    ("area", "size"),
    [
        (Area(0.0, 0.0, 1.0, 1.0), (320, 180)),
        (Area(0.5, 0.5, 0.5001, 0.5001), (2, 2)),
        (Area(0.999, 0.999, 1.0, 1.0), (2, 2)),
        (Area(0.0, 0.0, 0.333, 0.333), (106, 60)),
    ],
)
def test_crop_sizes_are_even_and_inside(area: Area, size: tuple[int, int]) -> None:
    privacy = Privacy(crop=area)
    x, y, w, h = crop_box(privacy, W, H)
    assert (w, h) == size
    assert x + w <= W and y + h <= H and x >= 0 and y >= 0


def test_still_graph_keeps_rgb_exact_outside_the_mask(tmp_path: Path) -> None:
    image = Image.effect_mandelbrot((W, H), (-2.0, -1.0, 1.0, 1.0), 50).convert("RGB")
    source = tmp_path / "still.png"
    image.save(source)
    privacy = Privacy(masks=(SQUARE,), fill="#FF0000")
    graph = privacy_graph(
        privacy, width=W, height=H, workdir=tmp_path, src="0:v", dst="out", rgb=True
    )
    out = tmp_path / "out.png"
    subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-i", str(source),
         "-filter_complex", graph, "-map", "[out]", "-frames:v", "1", str(out)],
        check=True,
    )  # fmt: skip
    mask = mask_of(privacy, tmp_path)
    result, original = np.asarray(Image.open(out)), np.asarray(image)
    assert (result[mask] == (255, 0, 0)).all()
    assert (result[~mask] == original[~mask]).all()


def test_a_frame_of_another_size_is_scaled_to_the_planned_one_first(tmp_path: Path) -> None:
    """A camera that changes resolution mid-stream must not shift the mask."""
    privacy = Privacy(masks=(SQUARE,), fill="#FFFFFF")
    mask = mask_of(privacy, tmp_path)

    out = render(privacy, tmp_path, frames=2, source_size=(640, 360))

    for y, _, _ in out:
        assert y.shape == (H, W)
        assert (y[mask] == 235).all() and (y[~mask] != 235).any()


@pytest.mark.parametrize(
    ("pix_fmt", "tags", "grey_y"),
    [
        ("yuv420p", ("tv", "bt709"), 126),
        ("yuvj420p", ("pc", "unknown"), 128),
    ],
)
def test_reencoded_clip_keeps_the_source_colour_tags(
    tmp_path: Path, pix_fmt: str, tags: tuple[str, str], grey_y: int
) -> None:
    """A PNG mask must neither convert nor relabel the video (full range, BT.709 stay so)."""
    colour = ["-color_range", tags[0]] + (["-colorspace", tags[1]] if tags[1] != "unknown" else [])
    source = tmp_path / "source.ts"
    subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", f"testsrc2=s={W}x{H}:r=25", "-t", "1", "-pix_fmt", pix_fmt, *colour,
         "-c:v", "libx264", "-qp", "0", "-g", "25", str(source)],
        check=True,
    )  # fmt: skip
    privacy = Privacy(masks=(SQUARE,), fill="#808080")
    job = TranscodeJob(rendering=Rendering(), pixel_filters=PixelChain(privacy=privacy, text=None))
    transcoder = Transcoder(job, ffmpeg=ffmpeg_binary(), workdir=tmp_path / "work")

    (clip,) = write_clip(
        transcoder.packets(file_packets(source)),
        ClipRequest(),
        origin="cam",
        container=ContainerFormat.MKV,
        output_dir=tmp_path,
        file_prefix="clip",
    )

    mask = mask_of(privacy, tmp_path)
    with av.open(str(clip.path)) as container:
        context = container.streams.video[0].codec_context
        assert ColorTags.of(context) == ColorTags(*tags)
        frames = [luma_plane(f) for f in container.decode(video=0)]
    assert len(frames) == 25
    inner = mask & np.roll(mask, 4, 0) & np.roll(mask, -4, 0) & np.roll(mask, 4, 1)
    assert all(
        np.abs(f[inner & np.roll(mask, -4, 1)].astype(int) - grey_y).max() <= 2 for f in frames
    )
