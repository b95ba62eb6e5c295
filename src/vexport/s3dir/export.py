"""One export-to-s3dir job: archive in S3 -> one clip and its first frame -> a bucket.

The media engine does the cutting (``run_export``, the same code as a gRPC
archive clip), so copy versus re-encode, keyframe handling and gaps behave
the same. Two things differ from a session:

- The caller wants **one** clip. The engine starts a new file after each gap
  in the archive (so every file begins on a keyframe); those pieces are
  joined back with FFmpeg's concat demuxer (stream copy), which leaves the
  clip as long as the video that exists: ``Duration - LackLength``.
- ``LackLength`` is computed from the archive index before cutting: the
  milliseconds of the requested span that no segment covers (gaps, before
  the archive's start, past its end).

The archive is read with the service's own ``[s3]`` keys (the caller names a
storage, not keys for it; ``[export_to_s3dir] archive_buckets`` says which
buckets may be named); the results are written with the caller's key, so a
caller can only write where their own key may.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import av

from vexport.config import Settings
from vexport.media.control import JobControl
from vexport.media.decision import CutMode, decided
from vexport.media.ffmpeg import dying_with_parent, ffmpeg_binary
from vexport.media.plan import (
    ContainerFormat,
    ExportFailed,
    ExportKind,
    ExportPlan,
    SourcePlan,
)
from vexport.media.rendering import Quality, Rendering, VideoCodec, VideoEncoding
from vexport.media.runner import run_export
from vexport.media.snapshot import write_image
from vexport.s3.client import S3Endpoint, S3Error, make_client, shared_client
from vexport.s3.upload import upload_file
from vexport.s3dir.errors import ErrorCode, S3DirError
from vexport.s3dir.request import S3DirRequest
from vexport.sources.archive_index import ArchiveError, ArchiveIndex, load_archive_index
from vexport.storage import StorageError
from vexport.storage.s3 import S3Reader

log = logging.getLogger(__name__)


INTERRUPTED = "the export was interrupted by a restart of the service; send the request again"


@dataclass(frozen=True)
class S3DirResult:
    video_path: str
    image_path: str
    s3_dir: str
    lack_ms: int
    note: str = ""  # why the clip was re-encoded although export_type 0 asked for a copy


def lack_ms(index: ArchiveIndex, request: S3DirRequest) -> int:
    """Milliseconds of the requested span that the archive does not cover."""
    gaps = index.gaps_between(request.start, request.end)
    return round(sum((gap.end - gap.start).total_seconds() for gap in gaps) * 1000)


def _within(hole: tuple[float, float], request: S3DirRequest) -> float:
    """Seconds of ``hole`` inside the requested span."""
    begin = max(hole[0], request.start.timestamp())
    end = min(hole[1], request.end.timestamp())
    return max(0.0, end - begin)


def run_s3dir_export(
    request: S3DirRequest, settings: Settings, workdir: Path, control: JobControl
) -> S3DirResult:
    """Run the job in ``workdir`` (removed afterwards); raises ``S3DirError``.

    ``control.abort()`` (the service shutting down) ends the cut early and the
    job fails as interrupted: nothing half-made is uploaded.
    """
    try:
        return _run(request, settings, workdir, control)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(
    request: S3DirRequest, settings: Settings, workdir: Path, control: JobControl
) -> S3DirResult:
    configured = settings.s3_endpoint()
    source = S3Endpoint(
        region=request.archive_region or configured.region,
        endpoint_url=configured.endpoint_url,
        credentials=configured.credentials,
        addressing_style=configured.addressing_style,
    )
    reader = S3Reader(shared_client(source))
    index = _index(reader, request)
    lack = lack_ms(index, request)
    if lack >= request.duration_ms or not index.segments_between(request.start, request.end):
        raise S3DirError(
            ErrorCode.NO_ARCHIVE,
            f"the archive at LivePath has no video between {request.start.isoformat()} "
            f"and {request.end.isoformat()}",
        )
    holes: list[tuple[float, float]] = []
    clip, note = _cut(request, settings, reader, workdir, control, holes)
    # Segments that held less than the playlist says (truncated, corrupt) lack video too.
    lack += round(sum(_within(hole, request) for hole in holes) * 1000)
    if control.aborted:
        raise S3DirError(ErrorCode.EXPORT_FAILED, INTERRUPTED)
    image = _first_frame(clip, workdir / "first.jpg")

    destination = replace(
        configured, region=request.destination_region, credentials=request.credentials
    )
    client = make_client(destination)  # the caller's key: not kept in a cache
    bucket = request.destination_bucket
    try:
        video = upload_file(
            client, clip, bucket, request.destination_key, content_type=request.container.mime_type
        )
        picture = upload_file(client, image, bucket, request.image_key, content_type="image/jpeg")
    except S3Error as exc:
        raise S3DirError(ErrorCode.UPLOAD_FAILED, f"upload refused: {exc}") from None
    return S3DirResult(
        video_path=object_path(video.key),
        image_path=object_path(picture.key),
        s3_dir=object_path(request.directory),
        lack_ms=lack,
        note=note,
    )


def object_path(key: str) -> str:
    """How the answer names an object of ``ExportS3Bucket``: its key after a ``/``
    (``clips/goal.ts`` -> ``/clips/goal.ts``), as the contract's callers expect."""
    return "/" + key


def _index(reader: S3Reader, request: S3DirRequest) -> ArchiveIndex:
    try:
        reader.read(request.archive_url)  # tells "denied" from "missing" before parsing
    except StorageError as exc:
        cause = exc.__cause__
        if isinstance(cause, S3Error) and cause.access_denied:
            raise S3DirError(
                ErrorCode.ARCHIVE_ACCESS_DENIED, f"S3 refused reading the archive: {exc}"
            ) from None
        if isinstance(cause, S3Error) and cause.code in ("NoSuchKey", "NoSuchBucket", "NotFound"):
            raise S3DirError(ErrorCode.NO_ARCHIVE, f"no archive at LivePath: {exc}") from None
        raise S3DirError(ErrorCode.EXPORT_FAILED, f"cannot read the archive: {exc}") from None
    try:
        return load_archive_index(request.archive_url, reader)
    except ArchiveError as exc:
        raise S3DirError(ErrorCode.EXPORT_FAILED, f"cannot read the archive: {exc}") from None


def _cut(
    request: S3DirRequest,
    settings: Settings,
    reader: S3Reader,
    workdir: Path,
    control: JobControl,
    holes: list[tuple[float, float]],
) -> tuple[Path, str]:
    """The clip as one file, and what was done to make it (for ``ErrorMessage``).

    ``export_type`` 0 keeps the codec: the engine smart cuts (``[media] cut``), so the
    clip starts and ends on the asked frames in any container. 1 and 2 re-encode.
    The engine starts a new file after each gap; the pieces are joined.
    """
    quality = Quality.NORMAL if request.codec is VideoCodec.COPY else Quality.FINE
    plan = decided(
        ExportPlan(
            kind=ExportKind.ARCHIVE_CLIP,
            sources=(
                SourcePlan(
                    origin=request.archive_url, name="clip", archive_url=request.archive_url
                ),
            ),
            container=request.container,
            start=request.start,
            end=request.end,
            file_stem=Path(request.destination_key).stem or "export",
            rendering=Rendering(video=VideoEncoding(codec=request.codec, quality=quality)),
        ),
        CutMode(settings.media.cut),
    )
    try:
        pieces = run_export(
            plan,
            control,
            workdir=workdir / "pieces",
            reader=reader,
            ffmpeg=settings.media.ffmpeg,
            holes=holes,
        )
    except ExportFailed as exc:
        raise S3DirError(ErrorCode.EXPORT_FAILED, str(exc)) from None
    if not pieces:
        raise S3DirError(ErrorCode.NO_ARCHIVE, "the archive has no video in the requested span")
    note = "; ".join(dict.fromkeys(p.processing for p in pieces if p.processing))
    if len(pieces) == 1:
        return pieces[0].path, note
    output = workdir / f"{plan.file_stem}.{request.container.value}"
    joined = _join([p.path for p in pieces], output, request.container, settings.media.ffmpeg)
    return joined, note


def _join(pieces: list[Path], output: Path, container: ContainerFormat, ffmpeg: str | None) -> Path:
    """The pieces (one per run of the archive) as one clip, by stream copy."""
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{p.resolve().as_posix()}'\n" for p in pieces))
    command = [
        ffmpeg_binary(ffmpeg), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-f", "concat", "-safe", "0", "-i", str(listing),
        "-map", "0", "-c", "copy", "-f", container.muxer, "-y", str(output),
    ]  # fmt: skip
    result = subprocess.run(dying_with_parent(command), capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise S3DirError(
            ErrorCode.EXPORT_FAILED, f"joining the clip's pieces failed: {result.stderr[-300:]}"
        )
    return output


def _first_frame(clip: Path, output: Path) -> Path:
    """The clip's first frame as a JPEG (the preview the caller shows)."""
    try:
        with av.open(str(clip)) as container:
            frame = next(container.decode(video=0))
            write_image(frame, output, ContainerFormat.JPEG)
    except (av.FFmpegError, StopIteration) as exc:
        raise S3DirError(
            ErrorCode.EXPORT_FAILED, f"cannot decode the clip's first frame: {exc}"
        ) from None
    return output
