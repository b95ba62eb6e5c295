"""Privacy masks and crop areas: what must never leave the building, and the framing.

Interface used by the pixel chain (``media/pixels.py``):

- ``Privacy`` is plain, JSON-serialisable data carried by ``SourcePlan.privacy``.
- ``privacy_graph`` returns FFmpeg filtergraph text that reads the video pad
  ``[src]`` (the source's full frame, ``width`` x ``height``) and writes
  ``[dst]``: masks applied in source coordinates first, then the crop.
- ``output_size`` is the frame size after the crop (even numbers), which the
  text overlay uses for placement.

How a mask is drawn, and why (docs/design/privacy.md has the numbers):

- The polygons are rasterised once per run into a greyscale PNG at the
  planned frame size (Pillow), read into the graph by a ``movie`` source and
  repeated for every frame (framesync's ``eof_action=repeat``). Per-frame
  expressions (``geq``) would cost far more for the same pixels.
- The mask is dilated to whole 2x2 blocks: in 4:2:0 video one chroma sample
  covers 2x2 pixels, and a block half inside a mask would otherwise keep its
  original colour at the polygon's edge. The mask only ever grows.
- The fill is made from the frame itself (mosaic: scaled down by the cell
  size with area averaging, then back up with nearest-neighbour) or is a
  solid colour (a constant ``lutyuv``, BT.601 limited range as camera video
  is, so a colour's Y/U/V are predictable; ``lutrgb`` for stills), then laid
  over the frame through the mask as alpha. ``overlay`` divides by 255
  exactly, so inside the mask the output *is* the fill and outside it *is*
  the frame: no blend of original pixels survives in the masked area.
- The input is scaled to the planned size first: if a camera changes
  resolution mid-stream the mask still lands where it was drawn (the scale is
  a no-op while the size matches).
- Colour tags: FFmpeg negotiates one colour range and matrix for all inputs
  of ``alphamerge``/``overlay``, and a PNG mask says "full range, RGB
  matrix", which would convert (or mislabel as GBR) the whole video. The
  mask is therefore tagged with the source's own matrix and an unknown
  range (``ColorTags``, read from the source stream), and the source's tags
  are put back after the blend.
- The crop cuts the masked frame to even offsets and sizes (4:2:0 encoders
  need them), never smaller than 2x2.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vexport.media.text import escape_filter_value

Point = tuple[float, float]  # normalised x, y; origin top-left

MOSAIC = "mosaic"
DEFAULT_MOSAIC_CELL = 0.05  # of the frame's shorter side
MIN_MOSAIC_PIXELS = 4  # a smaller cell would keep too much of the picture


_RANGES = {1: "tv", 2: "pc"}
_SPACES = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc", 10: "bt2020c"}


@dataclass(frozen=True)
class ColorTags:
    """A video's colour range and matrix as FFmpeg names them (``unknown`` if not said)."""

    range: str = "unknown"
    space: str = "unknown"

    @classmethod
    def of(cls, codec_context: Any) -> ColorTags:
        """The tags of a PyAV codec context (a stream's parameters)."""
        return cls(
            range=_RANGES.get(int(codec_context.color_range or 0), "unknown"),
            space=_SPACES.get(int(codec_context.colorspace or 0), "unknown"),
        )


@dataclass(frozen=True)
class Area:
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Privacy:
    masks: tuple[tuple[Point, ...], ...] = ()  # polygons, applied when non-empty
    invert: bool = False  # mask the outside of the polygons instead
    fill: str = MOSAIC  # "mosaic" or a colour "#RRGGBB" (from [media] mask_fill)
    crop: Area | None = None
    mosaic_cell: float = DEFAULT_MOSAIC_CELL  # from [media] mosaic_cell

    @property
    def changes_pixels(self) -> bool:
        return bool(self.masks) or self.crop is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Privacy:
        crop = data.get("crop")
        return cls(
            masks=tuple(tuple((float(x), float(y)) for x, y in poly) for poly in data["masks"]),
            invert=bool(data.get("invert", False)),
            fill=str(data.get("fill", MOSAIC)),
            crop=Area(**crop) if crop else None,
            mosaic_cell=float(data.get("mosaic_cell", DEFAULT_MOSAIC_CELL)),
        )


def crop_box(privacy: Privacy | None, width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the crop in pixels: even offsets and sizes, at least 2x2, inside."""
    if privacy is None or privacy.crop is None:
        return 0, 0, width, height
    area = privacy.crop
    x, w = _span(area.left, area.right, width)
    y, h = _span(area.top, area.bottom, height)
    return x, y, w, h


def _span(start: float, end: float, size: int) -> tuple[int, int]:
    """Offset and length of [start, end) of ``size`` pixels, both even, at least 2."""
    begin = math.floor(start * size) // 2 * 2
    stop = min(size, math.ceil(end * size))
    length = max(2, (stop - begin) // 2 * 2)
    begin = max(0, min(begin, (size - length) // 2 * 2))
    return begin, length


def output_size(privacy: Privacy | None, width: int, height: int) -> tuple[int, int]:
    """Frame size after the crop (even, at least 2x2)."""
    if privacy is None or privacy.crop is None:
        return width, height
    _, _, w, h = crop_box(privacy, width, height)
    return w, h


def mosaic_pixels(privacy: Privacy, width: int, height: int) -> int:
    """The side of one mosaic cell in pixels at this frame size."""
    return max(MIN_MOSAIC_PIXELS, round(privacy.mosaic_cell * min(width, height)))


def write_mask(privacy: Privacy, width: int, height: int, path: Path) -> None:
    """The mask as a greyscale PNG: 255 where the fill goes, 0 where the frame shows.

    Dilated to whole 2x2 blocks so no chroma sample straddles the edge.
    """
    from PIL import Image, ImageDraw

    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    for polygon in privacy.masks:
        draw.polygon([(x * width, y * height) for x, y in polygon], fill=255)
    if privacy.invert:
        mask = mask.point(lambda v: 255 - v)
    half = (math.ceil(width / 2), math.ceil(height / 2))
    # Any marked pixel marks its whole 2x2 block: average per block, then threshold.
    blocks = mask.reduce(2).point(lambda v: 255 if v else 0)
    grown = blocks.resize((half[0] * 2, half[1] * 2), Image.Resampling.NEAREST)
    grown.crop((0, 0, width, height)).save(path, format="PNG")


def hex_rgb(color: str) -> tuple[int, int, int]:
    """``#RRGGBB`` as three 0..255 integers."""
    value = int(color.lstrip("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def limited_yuv(rgb: tuple[int, int, int], *, full: bool = False) -> tuple[int, int, int]:
    """BT.601 Y, Cb, Cr of an 8-bit RGB colour: limited range (what cameras send) or full."""
    r, g, b = (c / 255 for c in rgb)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    luma, chroma, black = (255, 255, 0) if full else (219, 224, 16)
    return (
        round(black + luma * y),
        round(128 + chroma * (b - y) / 1.772),
        round(128 + chroma * (r - y) / 1.402),
    )


def privacy_graph(
    privacy: Privacy,
    *,
    width: int,
    height: int,
    workdir: Path,
    src: str,
    dst: str,
    rgb: bool = False,
    color: ColorTags | None = None,
) -> str:
    """Filtergraph text applying masks then crop from pad ``[src]`` to pad ``[dst]``.

    ``rgb`` keeps a still in RGB (a lossless PNG snapshot stays exact outside
    the mask); video is blended in 4:2:0, the format it is encoded in.
    ``color`` is the source's colour tags (see the module notes).
    """
    color = color or ColorTags()
    tag = "".join(c if c.isalnum() else "_" for c in src)
    parts: list[str] = []
    label = f"priv_{tag}_in"
    # No alpha on the main path: with a solid fill FFmpeg would otherwise carry
    # the whole frame as yuva420p, to no purpose (2.5x the filter cost).
    guard = "" if rgb else ",format=yuv420p|yuvj420p"
    parts.append(f"[{src}]scale={width}:{height}{guard}[{label}]")
    if privacy.masks:
        workdir.mkdir(parents=True, exist_ok=True)
        mask_path = workdir / f"mask-{tag}.png"
        write_mask(privacy, width, height, mask_path)
        if privacy.fill == MOSAIC:
            cell = mosaic_pixels(privacy, width, height)
            small_w, small_h = math.ceil(width / cell), math.ceil(height / cell)
            fill = f"scale={small_w}:{small_h}:flags=area,scale={width}:{height}:flags=neighbor"
        elif rgb:
            red, green, blue = hex_rgb(privacy.fill)
            fill = f"lutrgb=r={red}:g={green}:b={blue}"
        else:
            y, u, v = limited_yuv(hex_rgb(privacy.fill), full=color.range == "pc")
            fill = f"lutyuv=y={y}:u={u}:v={v}"
        base, raw, filled, alpha, top = (f"priv_{tag}_{n}" for n in ("b", "f", "fl", "m", "t"))
        movie = escape_filter_value(str(mask_path))
        parts += [
            f"[{label}]split[{base}][{raw}]",
            f"[{raw}]{fill}[{filled}]",
            f"movie=filename={movie},format=gray,"
            f"setparams=range=unknown:colorspace={color.space}[{alpha}]",
            f"[{filled}][{alpha}]alphamerge[{top}]",
        ]
        label = f"priv_{tag}_masked"
        parts.append(
            f"[{base}][{top}]overlay=x=0:y=0:format={'rgb' if rgb else 'yuv420'}"
            f":eof_action=repeat[{label}]"
        )
    chain = []
    if privacy.masks and not rgb and (color.range != "unknown" or color.space != "unknown"):
        tags = [
            f"{key}={value}" for key, value in (("range", color.range), ("colorspace", color.space))
        ]
        chain.append("setparams=" + ":".join(t for t in tags if not t.endswith("=unknown")))
    if privacy.crop is not None:
        x, y, w, h = crop_box(privacy, width, height)
        chain.append(f"crop={w}:{h}:{x}:{y}:exact=1")
    if rgb:
        chain.append("format=rgb24")
    parts.append(f"[{label}]{','.join(chain) or 'null'}[{dst}]")
    return ";".join(parts)
