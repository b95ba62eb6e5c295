"""The catalog: which origins exist, their live URL and their archives.

Only configured origins can be exported, which is what keeps a request from
making the server read an arbitrary path or URL: clients name origins and
storages, never locations.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from vexport.config import ArchiveConfig, SourceConfig
from vexport.errors import FailedPrecondition, NotFound
from vexport.media.plan import ExportPlan


@dataclass(frozen=True)
class Origin:
    origin: str
    name: str
    live_url: str | None
    archives: tuple[ArchiveConfig, ...]
    rtsp_transport: Literal["tcp", "udp"] = "tcp"

    def archive(self, storage: str | None) -> ArchiveConfig:
        """The archive named ``storage``, or the first one when none is named."""
        if not self.archives:
            raise FailedPrecondition(f"origin {self.origin!r} has no archive configured")
        if not storage:
            return self.archives[0]
        for archive in self.archives:
            if archive.storage == storage:
                return archive
        raise NotFound(f"origin {self.origin!r} has no storage {storage!r}")


class Catalog:
    def __init__(self, sources: Iterable[SourceConfig]) -> None:
        self._origins: dict[str, Origin] = {}
        for source in sources:
            self.add(source)

    def add(self, source: SourceConfig) -> None:
        self._origins[source.origin] = Origin(
            origin=source.origin,
            name=source.name or safe_name(source.origin),
            live_url=source.live,
            archives=tuple(source.archives),
            rtsp_transport=source.rtsp_transport,
        )

    def get(self, origin: str) -> Origin:
        try:
            return self._origins[origin]
        except KeyError:
            raise NotFound(f"unknown origin {origin!r}") from None

    def with_live_urls(self, plan: ExportPlan) -> ExportPlan:
        """``plan`` with its live sources' URLs from the catalog, credentials included.

        Stored plans keep live URLs without credentials (``SourcePlan.to_json``);
        an origin no longer configured keeps the stored URL and fails to connect.
        """
        sources = []
        for source in plan.sources:
            origin = self._origins.get(source.origin)
            if source.live_url and origin is not None and origin.live_url:
                source = dataclasses.replace(source, live_url=origin.live_url)
            sources.append(source)
        return dataclasses.replace(plan, sources=tuple(sources))

    def origins(self) -> list[Origin]:
        return list(self._origins.values())

    def __len__(self) -> int:
        return len(self._origins)


def safe_name(text: str) -> str:
    """A file-name-safe label: ``hosts/N/DeviceIpint.1/...`` -> ``N_DeviceIpint.1_...``."""
    parts = [p for p in re.split(r"[/:]+", text) if p and p != "hosts"]
    label = "_".join(parts) if parts else "source"
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip(".-_")
    return label[-80:].strip(".-_") or "source"
