"""Fonts shipped with vexport, so overlays and PDFs never depend on system fonts.

DejaVu (Bitstream Vera license, see LICENSE here) covers Latin, Greek and
Cyrillic, which is what camera names and operator comments are written in
for most users; the same files serve FFmpeg's drawtext and the PDF writer.
"""

from __future__ import annotations

from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent

BOLD = 1
ITALIC = 2


def font_path(style: int = 0, *, monospace: bool = False) -> Path:
    """The shipped TTF for a style bitmask (``BOLD | ITALIC``); faces are not selectable."""
    if monospace:
        return FONT_DIR / ("DejaVuSansMono-Bold.ttf" if style & BOLD else "DejaVuSansMono.ttf")
    name = {
        0: "DejaVuSans.ttf",
        BOLD: "DejaVuSans-Bold.ttf",
        ITALIC: "DejaVuSans-Oblique.ttf",
        BOLD | ITALIC: "DejaVuSans-BoldOblique.ttf",
    }[style & (BOLD | ITALIC)]
    return FONT_DIR / name
