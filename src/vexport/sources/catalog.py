"""The catalog: which origins exist, their live URL and their archives.

Only configured origins can be exported, which is what keeps a request from
making the server read an arbitrary path or URL: clients name origins and
storages, never locations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from vexport.config import ArchiveConfig, SourceConfig
from vexport.errors import FailedPrecondition, NotFound


@dataclass(frozen=True)
class Origin:
    origin: str
    name: str
    live_url: str | None
    archives: tuple[ArchiveConfig, ...]
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    # The export agent pinned to this origin, if any.
    agent: str | None = None

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
            agent=source.agent,
        )

    def get(self, origin: str) -> Origin:
        try:
            return self._origins[origin]
        except KeyError:
            raise NotFound(f"unknown origin {origin!r}") from None

    def pins(self) -> dict[str, str]:
        """Origin -> agent, for the origins pinned to one."""
        return {o.origin: o.agent for o in self._origins.values() if o.agent is not None}

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
