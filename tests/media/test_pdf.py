"""PDF pages read back with pypdf: the lossless frame, real text inside its area, fitting."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from vexport.media.pdf import (
    DEFAULT_FONT_SIZE,
    DEFAULT_PLACES,
    MIN_FONT_SIZE,
    PdfLayout,
    place,
    write_pdf,
)
from vexport.media.privacy import Area

STAMP = "2026-01-01 12:00:03.480"


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "frame.png"
    Image.effect_mandelbrot((320, 180), (-2.0, -1.0, 1.0, 1.0), 60).convert("RGB").save(path)
    return path


def read(path: Path) -> tuple[PdfReader, list[tuple[str, float, float, float]]]:
    """The reader and (text, x, y, font size) of every shown piece of text."""
    reader = PdfReader(path)
    found: list[tuple[str, float, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            found.append((text.strip(), tm[4], tm[5], size))

    reader.pages[0].extract_text(visitor_text=visit)
    return reader, found


def inside(x: float, y: float, area: Area, reader: PdfReader) -> bool:
    box = reader.pages[0].mediabox
    width, height = float(box.width), float(box.height)
    return (
        area.left * width - 0.5 <= x <= area.right * width
        and (1 - area.bottom) * height <= y <= (1 - area.top) * height
    )


@pytest.mark.parametrize("landscape", [False, True])
def test_defaults_put_each_part_in_its_place(frame: Path, tmp_path: Path, landscape: bool) -> None:
    layout = PdfLayout(landscape=landscape)
    out = tmp_path / "page.pdf"
    write_pdf(frame, out, layout, comment="CASE 42", timestamp_text=STAMP)

    reader, texts = read(out)
    page = reader.pages[0]
    assert (float(page.mediabox.width) > float(page.mediabox.height)) is landscape
    positions = {text: (x, y) for text, x, y, _ in texts}
    assert inside(*positions["CASE 42"], place(layout, "comment_place"), reader)
    assert inside(*positions[STAMP], place(layout, "timestamp_place"), reader)
    (image,) = page.images
    assert image.image.size == (320, 180)
    assert image.image.convert("RGB").tobytes() == Image.open(frame).tobytes()  # lossless
    assert DEFAULT_PLACES[landscape]["snapshot_place"] == place(layout, "snapshot_place")


def test_long_comment_wraps_and_shrinks_to_fit(frame: Path, tmp_path: Path) -> None:
    area = Area(0.1, 0.7, 0.5, 0.8)
    comment = "Vehicle left the parking lot through gate three " * 6
    out = tmp_path / "page.pdf"
    write_pdf(frame, out, PdfLayout(comment_place=area), comment=comment, timestamp_text="")

    reader, texts = read(out)
    assert len(texts) > 2  # wrapped onto several lines
    assert all(inside(x, y, area, reader) for _, x, y, _ in texts)
    sizes = {size for *_, size in texts}
    assert len(sizes) == 1 and MIN_FONT_SIZE <= sizes.pop() < DEFAULT_FONT_SIZE
    words = " ".join(t for t, *_ in texts).split()
    assert words == comment.split()  # nothing lost: it fits once shrunk


def test_text_that_cannot_fit_is_cut_with_an_ellipsis(frame: Path, tmp_path: Path) -> None:
    area = Area(0.1, 0.9, 0.3, 0.92)
    out = tmp_path / "page.pdf"
    write_pdf(frame, out, PdfLayout(comment_place=area), comment="word " * 400, timestamp_text="")

    reader, texts = read(out)
    assert all(inside(x, y, area, reader) for _, x, y, _ in texts)
    assert texts[-1][0].endswith("…")
    assert {size for *_, size in texts} == {MIN_FONT_SIZE}


def test_font_colour_and_style(frame: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.pdf"
    layout = PdfLayout(text_color=(1.0, 0.0, 0.0), font_size=20, font_style=1)
    write_pdf(frame, out, layout, comment="", timestamp_text=STAMP)

    reader, texts = read(out)
    assert [(t, size) for t, _, _, size in texts] == [(STAMP, 20.0)]
    content = reader.pages[0].get_contents()
    assert content is not None and b"1 0 0 rg" in content.get_data()
    fonts = reader.pages[0]["/Resources"]["/Font"]  # type: ignore[index]
    assert any("Bold" in str(font.get_object()["/BaseFont"]) for font in fonts.values())
