"""The configured origins as clients see them, and the archive a request names.

Clients never see a URL: an origin is its name, its label, whether it has a
live stream, and its archives by storage name. Vendor clients name an archive
by one string, the *storage source access point*; vexport's is the storage's
name without its last part, then ``/Sources/src.`` and the origin's label
(``hosts/N/MultimediaStorage.Main/Sources/src.N_DeviceIpint.1_SourceEndpoint.video_0_0``).
The origin's own name is accepted as well and means its first archive.
"""

from __future__ import annotations

from dataclasses import dataclass

from vexport.config import ArchiveConfig
from vexport.errors import InvalidArgument, NotFound
from vexport.sources.catalog import Catalog, Origin

__all__ = [
    "ArchiveInfo",
    "OriginInfo",
    "access_point_of",
    "describe_origins",
    "find_access_point",
    "find_archive",
]


@dataclass(frozen=True)
class ArchiveInfo:
    storage: str
    access_point: str


@dataclass(frozen=True)
class OriginInfo:
    origin: str
    label: str
    live: bool
    archives: tuple[ArchiveInfo, ...]


def access_point_of(origin: Origin, archive: ArchiveConfig) -> str:
    """The storage source access point of ``origin``'s recording in ``archive``."""
    storage = archive.storage.rstrip("/")
    head, _, tail = storage.rpartition("/")
    base = head if head and tail == "MultimediaStorage" else storage
    return f"{base}/Sources/src.{origin.name}"


def describe_origins(catalog: Catalog) -> list[OriginInfo]:
    return [
        OriginInfo(
            origin=o.origin,
            label=o.name,
            live=bool(o.live_url),
            archives=tuple(ArchiveInfo(a.storage, access_point_of(o, a)) for a in o.archives),
        )
        for o in catalog.origins()
    ]


def find_archive(
    catalog: Catalog, origin: str, storage: str | None = None, *, field: str = "origin"
) -> tuple[Origin, ArchiveConfig]:
    """The origin and its archive named ``storage`` (the first one when empty).

    NOT_FOUND for an unknown origin or storage; FAILED_PRECONDITION for an
    origin without an archive (a live-only camera).
    """
    if not origin:
        raise InvalidArgument("is required", field=field)
    try:
        found = catalog.get(origin)
    except NotFound:
        raise NotFound(f"unknown origin {origin!r}", field=field) from None
    return found, found.archive(storage or None)


def find_access_point(catalog: Catalog, access_point: str) -> tuple[Origin, ArchiveConfig]:
    """The archive a vendor client names by its storage source access point (or origin)."""
    if not access_point:
        raise InvalidArgument("is required", field="access_point")
    for origin in catalog.origins():
        if origin.origin == access_point:
            return origin, origin.archive(None)
        for archive in origin.archives:
            if access_point_of(origin, archive) == access_point:
                return origin, archive
    raise NotFound(f"unknown archive source {access_point!r}", field="access_point")
