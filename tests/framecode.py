"""Frame numbers drawn into the pixels, and read back from decoded frames.

Timestamps can lie (that is what the tests are for), so a test knows which
frame it holds only from the picture. Every test picture carries its frame
number N as 16 bits in two bands across the top half: band one has block i
white when bit i of N is set, band two is its complement. A frame reads as N
only when the two bands agree, so a misread (a block smeared by a lossy
encoder, a masked or cropped picture) is reported as ``None``, never as the
wrong number. The lower half is a texture that moves every frame, so encoders
really predict (P and B frames carry motion), and ``scene_every`` frames (or
at the listed frames) it changes abruptly, which x264's scene-cut detection
answers with an extra keyframe.

The blocks are 1/16 of the width (20 px at 320x180) and flat, so they survive
x264 and x265 at their default quality.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BITS = 16
PERIOD = 1 << BITS
"""Frame numbers repeat after this many frames (43 minutes at 25 fps)."""

_LOW, _HIGH = 16, 235


def _bit(index: str) -> str:
    return f"mod(floor(N/pow(2\\,{index}))\\,2)"


def framecode_graph(
    width: int,
    height: int,
    rate: str,
    *,
    scene_frames: Iterable[int] = (),
) -> str:
    """A lavfi source graph of numbered frames (``rate`` like ``"25"`` or ``"30000/1001"``).

    ``scene_frames``: frame numbers where the texture changes abruptly (a scene cut).
    """
    block = f"floor(X*{BITS}/W)"
    bit = _bit(block)
    scenes = sorted(set(scene_frames))
    # The scene number: how many of the listed cut frames are at or before N.
    scene = "+".join(f"gte(N\\,{frame})" for frame in scenes) or "0"
    # Odd scenes: bright vertical stripes moving right; even: dark horizontal ones moving down.
    texture = f"if(mod({scene}\\,2)\\,175+mod(X*4+N*6\\,60)\\,16+mod(Y*5+N*4\\,50))"
    lum = (
        f"if(lt(Y\\,H/4)\\,{_LOW}+{_HIGH - _LOW}*{bit}\\,"
        f"if(lt(Y\\,H/2)\\,{_HIGH}-{_HIGH - _LOW}*{bit}\\,{texture}))"
    )
    chroma_u = f"if(lt(Y\\,H/2)\\,128\\,if(mod({scene}\\,2)\\,60\\,190)+mod(N\\,20))"
    chroma_v = f"if(lt(Y\\,H/2)\\,128\\,if(mod({scene}\\,2)\\,200\\,70)+mod(X\\,20))"
    return (
        f"nullsrc=s={width}x{height}:r={rate},format=yuv420p,"
        f"geq=lum='{lum}':cb='{chroma_u}':cr='{chroma_v}'"
    )


def read_frame_number(frame: Any) -> int | None:
    """The frame number drawn into a decoded PyAV ``VideoFrame`` (mod ``PERIOD``), or None.

    Reads the luma of each block's centre in both bands; None when a block is
    neither clearly dark nor clearly light or the bands disagree.
    """
    if frame.format.name not in ("yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12"):
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    data = memoryview(bytes(plane))
    stride = plane.line_size
    width, height = frame.width, frame.height
    value = 0
    for index in range(BITS):
        x0 = index * width // BITS
        x1 = (index + 1) * width // BITS
        upper = _mean(data, stride, x0, x1, 0, height // 4)
        lower = _mean(data, stride, x0, x1, height // 4, height // 2)
        one = upper > 160 and lower < 90
        zero = upper < 90 and lower > 160
        if not (one or zero):
            return None
        if one:
            value |= 1 << index
    return value


def _mean(data: memoryview, stride: int, x0: int, x1: int, y0: int, y1: int) -> float:
    """Mean luma of the inner half of the rectangle (edges ring after lossy coding)."""
    dx, dy = (x1 - x0) // 4, (y1 - y0) // 4
    x0, x1, y0, y1 = x0 + dx, x1 - dx, y0 + dy, y1 - dy
    total = 0
    for row in range(y0, y1):
        start = row * stride
        total += sum(data[start + x0 : start + x1])
    return total / max(1, (x1 - x0) * (y1 - y0))
