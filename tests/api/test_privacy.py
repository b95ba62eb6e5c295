"""Privacy masks, crop areas and PDF snapshots over gRPC, checked on the real outputs.

The archive's frames are flat greys whose level steps by 8 every frame, so
an unmasked area changes from frame to frame while a solid-filled one stays
at the fill; the live source (testsrc2) is busy, which is what a mosaic needs
to show its cells. This module's own server fills masks with mid-grey
(``[media] mask_fill = "#808080"``: Y 126 in limited-range video, RGB 128 in
lossless stills); the shared one keeps the default mosaic.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import av
import grpc
import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from tests.api import options as opts
from tests.api.conftest import ARCHIVE_START, CAMERA, LIVE, sources
from tests.api.harness import (
    RunningServer,
    download,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from vexport.media.probe import probe
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc

CLIP_FROM = ARCHIVE_START + timedelta(seconds=2)
CLIP_TO = ARCHIVE_START + timedelta(seconds=4.5)
GREY_Y = 126  # "#808080" in limited range: 16 + 219 * 128 / 255
RIGHT_HALF = ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))
A4 = (595.28, 841.89)  # points


@pytest.fixture(scope="session")
def archive_playlist(flat_archive_playlist: Path) -> Path:
    """These tests look at drawn pixels: the archive's frames are flat greys."""
    return flat_archive_playlist


@pytest.fixture(scope="module")
def solid(
    tmp_path_factory: pytest.TempPathFactory, archive_playlist: Path
) -> Iterator[spb_grpc.ExportServiceStub]:
    settings = make_settings(
        tmp_path_factory.mktemp("privacy"),
        sources=sources(archive_playlist),
        media={"mask_fill": "#808080"},
    )
    with running_server(settings) as running:
        yield running.stub()


@pytest.fixture
def mosaic(server: RunningServer) -> spb_grpc.ExportServiceStub:
    return server.stub()


def fetch(stub: spb_grpc.ExportServiceStub, options: pb.Options) -> tuple[bytes, str]:
    session_id = start_session(stub, options)
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    (file,) = state.result.files
    data, _ = download(stub, session_id, file.path)
    assert hashlib.sha256(data).hexdigest() == file.sha256
    return data, state.processing


def luma(data: bytes) -> list[np.ndarray]:
    """The Y planes as coded (``to_ndarray(format="gray")`` would expand limited range)."""
    with av.open(io.BytesIO(data)) as container:
        return [
            np.frombuffer(bytes(f.planes[0]), np.uint8)
            .reshape(f.height, f.planes[0].line_size)[:, : f.width]
            .astype(int)
            for f in container.decode(video=0)
        ]


def masked(options: pb.Options, *polygons: tuple[tuple[float, float], ...]) -> pb.Options:
    options.settings.add(apply_mask=True)
    sources_ = options.archive.sources if options.HasField("archive") else options.live.sources
    space = sources_[0].settings.add().mask_space
    for polygon in polygons:
        space.space.add(points=[pb.Point(x=x, y=y) for x, y in polygon])
    return options


def test_masked_area_is_the_fill_while_the_timestamp_moves(
    solid: spb_grpc.ExportServiceStub,
) -> None:
    options = masked(opts.archive_clip(CAMERA, CLIP_FROM, CLIP_TO), RIGHT_HALF)
    options.settings.add(timestamp_format="%H:%M:%S")

    data, processing = fetch(solid, options)

    assert processing == "re-encoded: text burnt into the picture; privacy mask"
    video = luma(data)
    assert len(video) == 63
    for frame in video:
        # Inside the mask (edges left to the codec): the fill, every frame.
        assert np.abs(frame[4:-4, 164:-4] - GREY_Y).max() <= 3
    # Outside it the archive's grey steps by 8 per frame, and the seconds tick.
    left = [f[10:80, 10:150].mean() for f in video]
    assert abs(left[1] - left[0]) > 4
    stamp = [f[130:, :150] > 200 for f in video]
    assert all(s.sum() > 20 for s in stamp)
    assert (stamp[0] != stamp[25]).sum() > 10


def test_inverted_mask_hides_the_outside(solid: spb_grpc.ExportServiceStub) -> None:
    options = masked(opts.archive_clip(CAMERA, CLIP_FROM, CLIP_TO), RIGHT_HALF)
    options.settings.add(invert_mask=True)

    data, processing = fetch(solid, options)

    assert processing == "re-encoded: privacy mask (inverted)"
    video = luma(data)
    for frame in video:
        assert np.abs(frame[4:-4, 4:156] - GREY_Y).max() <= 3
    right = [f[10:-10, 170:-10].mean() for f in video]
    assert abs(right[1] - right[0]) > 4


def test_mask_without_apply_mask_is_not_drawn(solid: spb_grpc.ExportServiceStub) -> None:
    options = opts.archive_clip(CAMERA, CLIP_FROM, CLIP_TO)
    options.archive.sources[0].settings.add().mask_space.space.add(
        points=[pb.Point(x=x, y=y) for x, y in RIGHT_HALF]
    )
    _, processing = fetch(solid, options)
    assert processing.startswith("smart cut: ")


def test_masked_and_cropped_live_clip(solid: spb_grpc.ExportServiceStub, tmp_path: Path) -> None:
    options = masked(opts.live_clip(LIVE, 1.0), RIGHT_HALF)
    options.live.sources[0].settings.add(
        crop_area=pb.ViewArea(left=0.1, top=0.2, right=0.6, bottom=0.9)
    )

    data, processing = fetch(solid, options)

    assert processing == "re-encoded: privacy mask; crop area"
    path = tmp_path / "crop.mp4"
    path.write_bytes(data)
    info = probe(path)
    assert info.video is not None
    assert (info.video.width, info.video.height) == (160, 126)  # x 32..192, y 36..162
    video = luma(data)
    assert len(video) >= 20
    for frame in video:
        # The mask starts at x 160 of the camera, x 128 of the crop.
        assert np.abs(frame[4:-4, 132:-4] - GREY_Y).max() <= 3
        assert frame[:, :124].std() > 20  # the busy picture itself


def test_masked_jpeg_snapshot(solid: spb_grpc.ExportServiceStub) -> None:
    at = ARCHIVE_START + timedelta(seconds=3.5)
    options = masked(opts.archive_snapshot(CAMERA, at), RIGHT_HALF)

    data, processing = fetch(solid, options)

    assert processing == "pixels drawn on the snapshot"
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert np.abs(image[4:-4, 164:-4] - 128).max() <= 3
    assert np.abs(image[4:-4, 4:156] - 128).min() > 3  # frame 87's own grey shows there


def test_mosaic_snapshot_of_live_video(mosaic: spb_grpc.ExportServiceStub) -> None:
    options = masked(opts.live_snapshot(LIVE, fmt=pb.SnapshotType.PNG), RIGHT_HALF)

    data, _ = fetch(mosaic, options)

    image = np.asarray(Image.open(io.BytesIO(data)).convert("L")).astype(int)
    inside, outside = image[:, 160:], image[:, :160]
    # 5 % of 180 lines: cells of 9 pixels; values change only at cell borders.
    columns = np.flatnonzero((np.diff(inside, axis=1) != 0).any(axis=0))
    rows = np.flatnonzero((np.diff(inside, axis=0) != 0).any(axis=1))
    assert 0 < len(columns) <= 160 // 9 + 1 and 0 < len(rows) <= 180 // 9 + 1
    assert len(np.flatnonzero((np.diff(outside, axis=1) != 0).any(axis=0))) > 100


def pdf_texts(data: bytes) -> tuple[PdfReader, list[tuple[str, float, float]]]:
    reader = PdfReader(io.BytesIO(data))
    found: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip():
            found.append((text.strip(), tm[4], tm[5]))

    reader.pages[0].extract_text(visitor_text=visit)
    return reader, found


def within(x: float, y: float, area: tuple[float, float, float, float], page: tuple) -> bool:
    """A text origin (PDF points, origin bottom-left) inside a normalised area (top-left)."""
    left, top, right, bottom = area
    width, height = page
    slack = 0.5  # the PDF writes coordinates to 2 decimals
    return (
        left * width - slack <= x <= right * width
        and (1 - bottom) * height <= y <= (1 - top) * height
    )


@pytest.mark.parametrize("landscape", [False, True])
def test_pdf_snapshot_has_frame_comment_and_timestamp(
    solid: spb_grpc.ExportServiceStub, landscape: bool
) -> None:
    at = ARCHIVE_START + timedelta(seconds=3.5)
    options = masked(opts.archive_snapshot(CAMERA, at, fmt=pb.SnapshotType.PDF), RIGHT_HALF)
    options.settings.add(comment="CASE 42: parking lot")
    options.settings.add(timestamp_format="%Y-%m-%d %H:%M:%S.%3N")
    comment_area = (0.1, 0.8, 0.9, 0.9)
    stamp_area = (0.5, 0.02, 0.98, 0.08)
    layout = pb.SnapshotSetting.PL_LANDSCAPE if landscape else pb.SnapshotSetting.PL_PORTRAIT
    settings = options.snapshot.settings
    settings.add(pdf_layout=layout)
    settings.add(comment_place=pb.ViewArea(left=0.1, top=0.8, right=0.9, bottom=0.9))
    settings.add(timestamp_place=pb.ViewArea(left=0.5, top=0.02, right=0.98, bottom=0.08))
    settings.add(pdf_text_color=pb.ColorInfo(red=0.5))

    data, processing = fetch(solid, options)

    assert processing == "pixels drawn on the snapshot"  # the mask; the text is real text
    reader, texts = pdf_texts(data)
    page = reader.pages[0]
    size = (float(page.mediabox.width), float(page.mediabox.height))
    assert size == (A4[::-1] if landscape else A4)
    by_text = {text: (x, y) for text, x, y in texts}
    assert within(*by_text["CASE 42: parking lot"], comment_area, size)
    assert within(*by_text["2026-01-01 12:00:03.480"], stamp_area, size)
    (image,) = page.images
    pixels = np.asarray(image.image.convert("RGB")).astype(int)
    assert pixels.shape == (180, 320, 3)  # the frame at full resolution
    assert (pixels[:, 162:] == 128).all()  # lossless: exactly the fill
    assert (pixels[:, :158] == pixels[0, 0]).all()  # and exactly the flat frame


def test_pdf_defaults_without_text(mosaic: spb_grpc.ExportServiceStub) -> None:
    at = ARCHIVE_START + timedelta(seconds=1)
    data, processing = fetch(mosaic, opts.archive_snapshot(CAMERA, at, fmt=pb.SnapshotType.PDF))

    assert processing == "snapshot as decoded"
    reader, texts = pdf_texts(data)
    assert [t for t, _, _ in texts] == ["2026-01-01 12:00:01.000"]  # the default format
    assert reader.pages[0].images[0].image.size == (320, 180)


def _bad(build: pb.Options, field: str, code: grpc.StatusCode, stub: spb_grpc.ExportServiceStub):
    with pytest.raises(grpc.RpcError) as error:
        stub.StartSession(spb.StartSessionRequest(session_options=build))
    assert error.value.code() == code
    assert field in error.value.details()
    return error.value.details()


def test_bad_settings_name_the_field(mosaic: spb_grpc.ExportServiceStub) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    two_points = masked(opts.archive_clip(CAMERA, CLIP_FROM, CLIP_TO), ((0, 0), (1, 1)))
    message = _bad(
        two_points,
        "session_options.archive.sources[0].settings[0].mask_space.space[0].points",
        invalid,
        mosaic,
    )
    assert "at least 3 points" in message

    outside = masked(opts.archive_clip(CAMERA, CLIP_FROM, CLIP_TO), ((0, 0), (1.5, 0), (1, 1)))
    _bad(outside, "space[0].points[1].x", invalid, mosaic)

    flat = opts.live_clip(LIVE, 1.0)
    flat.live.sources[0].settings.add(crop_area=pb.ViewArea(left=0.3, right=0.3, bottom=1))
    assert "no size" in _bad(flat, "live.sources[0].settings[0].crop_area", invalid, mosaic)

    face = opts.archive_snapshot(CAMERA, CLIP_FROM, fmt=pb.SnapshotType.PDF)
    face.snapshot.settings.add().face_info.item = "x"
    _bad(face, "snapshot.settings[0].face_info", grpc.StatusCode.UNIMPLEMENTED, mosaic)

    place = opts.archive_snapshot(CAMERA, CLIP_FROM, fmt=pb.SnapshotType.PDF)
    place.snapshot.settings.add(comment_place=pb.ViewArea(left=0.5, right=0.4, bottom=1))
    _bad(place, "snapshot.settings[0].comment_place", invalid, mosaic)


def test_live_pdf_snapshot(mosaic: spb_grpc.ExportServiceStub) -> None:
    options = masked(opts.live_snapshot(LIVE, fmt=pb.SnapshotType.PDF), RIGHT_HALF)
    options.settings.add(comment="live view")

    data, processing = fetch(mosaic, options)

    assert processing == "pixels drawn on the snapshot"
    reader, texts = pdf_texts(data)
    assert [t for t, _, _ in texts][1:] == ["live view"]  # after the timestamp
    (image,) = reader.pages[0].images
    pixels = np.asarray(image.image.convert("L")).astype(int)
    assert pixels.shape == (180, 320)
    columns = np.flatnonzero((np.diff(pixels[:, 160:], axis=1) != 0).any(axis=0))
    assert 0 < len(columns) <= 160 // 9 + 1  # the mosaic, losslessly
