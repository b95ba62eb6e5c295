"""The contract: wire messages (gRPC ``Options``, HTTP JSON, export-to-s3dir bodies) in,
typed domain requests out.

Only the API layer imports the generated protobuf messages; everything it
hands the job engine is plain data (``vexport.jobs.requests``,
``vexport.s3dir.request``). Refusals are domain errors naming the field path,
which the gRPC and HTTP adapters turn into status codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vexport.api.contract.options import export_request, stored_options
from vexport.jobs.requests import ExportRequest
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.sources.catalog import Catalog

__all__ = ["ExportContract", "export_request"]


@dataclass(frozen=True)
class ExportContract:
    """What checking ``Options`` needs to know of this server: its origins and agents."""

    catalog: Catalog
    agents: Sequence[str]
    cloud_store: bool = False

    def request(self, options: pb.Options) -> ExportRequest:
        """``options`` as a request; raises a ``VexportError`` naming the field at fault."""
        return export_request(options, self.catalog, self.agents, cloud_store=self.cloud_store)

    def stored(self, options: pb.Options) -> bytes:
        """``options`` as the job keeps and lists them: passwords masked."""
        return stored_options(options)
