"""The pixel chain of one source: privacy masks, then the crop, then text.

The order matters and is fixed here, for clips and stills alike: masks are
drawn in the camera's own coordinates (where the operator drew them), the
crop comes next, and text is placed on what remains, so a timestamp never
lands in a masked or cropped-away area.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from vexport.media.ffmpeg import dying_with_parent
from vexport.media.plan import ContainerFormat, ExportFailed, SourcePlan
from vexport.media.privacy import ColorTags, Privacy, output_size, privacy_graph
from vexport.media.text import TextOverlay, text_graph

_STILL_TIMEOUT = 60.0


@dataclass(frozen=True)
class PixelChain:
    """Builds the filtergraph text for one frame size; see ``transcode.TranscodeJob``."""

    privacy: Privacy | None
    text: TextOverlay | None

    def __call__(
        self,
        width: int,
        height: int,
        epoch_base: float,
        workdir: Path,
        src: str,
        dst: str,
        *,
        rgb: bool = False,
        color: ColorTags | None = None,
    ) -> str:
        parts: list[str] = []
        label = src
        if self.privacy is not None:
            out = dst if self.text is None else "pixels_private"
            parts.append(
                privacy_graph(
                    self.privacy,
                    width=width,
                    height=height,
                    workdir=workdir,
                    src=label,
                    dst=out,
                    rgb=rgb,
                    color=color,
                )
            )
            label = out
            width, height = output_size(self.privacy, width, height)
        if self.text is not None:
            parts.append(
                text_graph(
                    self.text,
                    width=width,
                    height=height,
                    epoch_base=epoch_base,
                    workdir=workdir,
                    src=label,
                    dst=dst,
                )
            )
        return ";".join(parts)


def pixel_chain(source: SourcePlan) -> PixelChain | None:
    """The source's pixel chain, or None when its pixels stay as they are."""
    privacy = source.privacy if source.privacy and source.privacy.changes_pixels else None
    text = source.text if source.text and source.text.burns_pixels else None
    if privacy is None and text is None:
        return None
    return PixelChain(privacy=privacy, text=text)


def render_still(
    image: Path,
    out: Path,
    chain: PixelChain,
    *,
    width: int,
    height: int,
    wall: float,
    container: ContainerFormat,
    ffmpeg: str,
    workdir: Path,
) -> None:
    """Apply ``chain`` to one lossless still (a snapshot), as it would be on video.

    The still's timestamp is 0, so ``epoch_base`` is the frame's wall time:
    the drawn timestamp is the frame's own, exactly as in a clip.
    """
    graph = chain(width, height, wall, workdir, "0:v", "still", rgb=True)
    args = ["-q:v", "2"] if container is ContainerFormat.JPEG else []
    command = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-i", str(image), "-filter_complex", graph, "-map", "[still]",
        "-frames:v", "1", *args, "-update", "1", str(out),
    ]  # fmt: skip
    try:
        result = subprocess.run(
            dying_with_parent(command),
            capture_output=True,
            timeout=_STILL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ExportFailed("drawing on the snapshot took too long") from exc
    if result.returncode != 0 or not out.is_file():
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise ExportFailed(f"drawing on the snapshot failed: {' | '.join(detail)}")
