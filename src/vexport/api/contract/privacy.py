"""Privacy and framing settings of export ``Options`` (protobuf) into ``Privacy``.

``options.py`` calls ``privacy_from_settings`` once per source with
the common and that source's settings. Every refusal names the field path
(``session_options.archive.sources[0].settings[1].mask_space.space[0].points``).

Choices the contract leaves open, decided here once:

- Polygons (``mask_space``) are drawn only when the common ``apply_mask`` is
  true: the VMS keeps a camera's masks with the camera and the operator
  chooses per export. Polygons without ``apply_mask`` are still validated.
- A source may carry several ``mask_space`` settings; their polygons add up.
- ``invert_mask`` masks everything outside the polygons; with no polygons
  there is nothing to invert and the picture stays as it is.
- ``crop_area`` is applied after the masks (masks are drawn in the camera's
  coordinates), whether or not masks are applied.
- The fill (mosaic or a colour) is the operator's choice, not the client's:
  ``[media] mask_fill`` in the configuration, set when the job is planned
  (``vexport.jobs.planning``).
"""

from __future__ import annotations

from collections.abc import Sequence

from vexport.api.contract import values
from vexport.errors import InvalidArgument
from vexport.media.privacy import Area, Point, Privacy
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

COMMON_SETTINGS = frozenset({"apply_mask", "invert_mask"})
SOURCE_SETTINGS = frozenset({"crop_area", "mask_space"})

MAX_POLYGONS = 64  # per source
MAX_POINTS = 1000  # per polygon


def privacy_from_settings(
    common: Sequence[pb.CommonSetting],
    source: Sequence[pb.SourceSetting],
    *,
    common_field: str,
    source_field: str,
) -> Privacy | None:
    """The source's masks and crop, or None when its pixels stay as they are."""
    apply_mask = invert = False
    seen: dict[str, str] = {}
    for index, setting in enumerate(common):
        which = setting.WhichOneof("setting")
        if which not in COMMON_SETTINGS:
            continue
        field = f"{common_field}[{index}].{which}"
        values.once(seen, which, field)
        if which == "apply_mask":
            apply_mask = setting.apply_mask
        else:
            invert = setting.invert_mask

    polygons: list[tuple[Point, ...]] = []
    crop: Area | None = None
    for index, source_setting in enumerate(source):
        kind = source_setting.WhichOneof("setting")
        field = f"{source_field}[{index}].{kind}"
        if kind == "crop_area":
            values.once(seen, kind, field)
            crop = _area(source_setting.crop_area, field)
        elif kind == "mask_space":
            for number, polygon in enumerate(source_setting.mask_space.space):
                polygons.append(_polygon(polygon, f"{field}.space[{number}]"))
            if len(polygons) > MAX_POLYGONS:
                raise InvalidArgument(f"at most {MAX_POLYGONS} polygons per source", field=field)

    masks = tuple(polygons) if apply_mask else ()
    if not masks and crop is None:
        return None
    return Privacy(masks=masks, invert=invert and bool(masks), crop=crop)


def _area(view: pb.ViewArea, field: str) -> Area:
    box = values.area(view, field)
    return Area(box.left, box.top, box.right, box.bottom)


def _polygon(polygon: pb.SimplePolygon, field: str) -> tuple[Point, ...]:
    points = polygon.points
    if len(points) < 3:
        raise InvalidArgument(
            f"a polygon needs at least 3 points, this one has {len(points)}",
            field=f"{field}.points",
        )
    if len(points) > MAX_POINTS:
        raise InvalidArgument(f"at most {MAX_POINTS} points per polygon", field=f"{field}.points")
    result = tuple(
        (values.unit(p.x, f"{field}.points[{i}].x"), values.unit(p.y, f"{field}.points[{i}].y"))
        for i, p in enumerate(points)
    )
    # Shoelace: a polygon whose points are all on one line covers nothing.
    doubled = sum(
        x0 * y1 - x1 * y0
        for (x0, y0), (x1, y1) in zip(result, result[1:] + result[:1], strict=True)
    )
    if abs(doubled) < 1e-12:
        raise InvalidArgument("the polygon has no area (its points are on one line)", field=field)
    return result
