"""The gRPC server: the export service under both names, health and reflection."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vexport.api.grpc.auth import AUTH_SERVICE, AuthServicer
from vexport.api.grpc.guard import GuardInterceptor
from vexport.api.grpc.servicer import ExportServicer
from vexport.protos.axxonsoft.bl.auth import Authentication_pb2_grpc as auth_grpc
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as compat_grpc
from vexport.protos.vexport.v1 import export_service_pb2 as own_pb
from vexport.protos.vexport.v1 import export_service_pb2_grpc as own_grpc

COMPAT_SERVICE = spb.DESCRIPTOR.services_by_name["ExportService"].full_name
OWN_SERVICE = own_pb.DESCRIPTOR.services_by_name["ExportService"].full_name

Registration = tuple[str, Callable[[grpc.aio.Server], None]]
"""Another service of the process: its full name, and how it adds itself to the server."""


def _check_free(address: str) -> None:
    """Say why a port cannot be had before gRPC's core logs its own multi-line complaint.

    A probe bind with ``SO_REUSEADDR``, as gRPC binds: it fails only where a
    socket listens already, not on connections in TIME_WAIT. Port 0 is skipped.
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or int(port) == 0:
        return
    host = "0.0.0.0" if host in ("", "*") else host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise OSError(f"cannot listen for gRPC on {address}: {exc.strerror or exc}") from None


class GrpcServer:
    def __init__(
        self,
        servicer: ExportServicer,
        address: str,
        *,
        services: Sequence[Registration] = (),
        auth: AuthServicer | None = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        # Interceptors run for every method of every service added below or later
        # (api/grpc/auth.py: the authentication of each call).
        self.server = grpc.aio.server(
            # The guard first: whatever an inner interceptor or handler raises gets a code.
            interceptors=[GuardInterceptor(), *interceptors],
            options=[
                ("grpc.max_send_message_length", 8 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
        )
        compat_grpc.add_ExportServiceServicer_to_server(servicer, self.server)
        own_grpc.add_ExportServiceServicer_to_server(servicer, self.server)  # type: ignore[arg-type]
        auth_grpc.add_AuthenticationServiceServicer_to_server(
            auth or AuthServicer(None), self.server
        )
        self.names = (COMPAT_SERVICE, OWN_SERVICE, AUTH_SERVICE, *(name for name, _ in services))
        for _, register in services:
            register(self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*self.names, health.SERVICE_NAME, reflection.SERVICE_NAME),
            self.server,
        )
        _check_free(address)
        try:
            if credentials is not None:
                self.port = self.server.add_secure_port(address, credentials)
            else:
                self.port = self.server.add_insecure_port(address)
        except RuntimeError:  # grpc raises this (not OSError) when the bind fails
            self.port = 0
        if self.port == 0:
            raise OSError(f"cannot listen for gRPC on {address}")
        host = address.rsplit(":", 1)[0]
        self.address = f"{host}:{self.port}"

    async def start(self) -> None:
        await self.server.start()
        for name in ("", *self.names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        for name in ("", *self.names):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)
