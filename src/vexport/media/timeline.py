"""The frame shown at time t: the one rule every export path applies (docs/design/media.md).

A frame is shown from its presentation time (PTS) until the next frame's.
So the frame shown at ``t`` is the one whose PTS is the last at or before
``t``; a clip asked for ``[start, end]`` shows the frame shown at ``start``
first and the frame shown at ``end`` last; a snapshot at ``t`` is the frame
shown at ``t``. Decode order (DTS) never enters these comparisons: with
B-frames a keyframe is decoded before it is shown and frames after it in
decode order are shown before it. Decode order only says which packets a
cut must keep so that the shown frames can be decoded: everything from the
keyframe at or before the first shown frame, up to the last packet, in decode
order, that is shown by ``end``.

The archive reader, the clip writer, the smart cutter, snapshots, splitting,
the transcoder feed and export-to-s3dir all ask here.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from vexport.media.packets import WALL_EPSILON

__all__ = ["shown_by", "shown_index"]


def shown_by(pts: float, t: float) -> bool:
    """Whether a frame presented at ``pts`` has started showing by ``t``."""
    return pts <= t + WALL_EPSILON


def shown_index(presentation_times: Sequence[float], t: float) -> int | None:
    """Index of the frame shown at ``t`` among sorted ``presentation_times``; None if none yet."""
    index = bisect_right(presentation_times, t + WALL_EPSILON) - 1
    return index if index >= 0 else None
