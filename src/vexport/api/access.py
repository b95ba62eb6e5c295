"""Who may reach the APIs: built once from ``[auth]`` and ``[tls]`` for both servers.

One place decides whether the service runs open: with authentication off it
may serve loopback addresses only (and says so at start), unless ``[auth]
allow_open_network`` says otherwise. See ``docs/design/auth.md``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
from sqlalchemy.engine import Engine

from vexport.api.grpc.auth import AuthInterceptor, AuthServicer
from vexport.api.tls import ServerTls
from vexport.auth.audit import AuditLog
from vexport.auth.authenticator import Authenticator
from vexport.auth.directory import Directory
from vexport.config import Settings
from vexport.jobs.accounts import SqlAuditSink, SqlSessionTokens

__all__ = ["Access", "OpenNetworkRefused", "is_loopback"]

log = logging.getLogger(__name__)


class OpenNetworkRefused(Exception):
    """Authentication is off and an API would listen beyond loopback."""


def is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


@dataclass
class Access:
    settings: Settings
    audit: AuditLog
    authenticator: Authenticator | None = None
    tls: ServerTls | None = None
    interceptors: list[grpc.aio.ServerInterceptor] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, engine: Engine) -> Access:
        config = settings.auth
        _check_open_network(settings)
        audit = AuditLog(SqlAuditSink(engine))
        tls = ServerTls(settings.tls) if settings.tls.enabled else None
        if not config.enabled:
            return cls(settings, audit, tls=tls)
        jwt = None
        directory = Directory.from_config(config)
        if config.oidc is not None:
            from vexport.auth.oidc import JwtVerifier

            jwt = JwtVerifier(config.oidc, directory)
        authenticator = Authenticator(
            directory,
            SqlSessionTokens(engine),
            session_ttl=config.session_ttl,
            renew_window=config.renew_window,
            jwt=jwt,
            max_failures=config.max_failures,
            lockout=config.lockout,
        )
        interceptor = AuthInterceptor(authenticator, config.open_grpc_methods)
        return cls(settings, audit, authenticator, tls, [interceptor])

    @property
    def auth_servicer(self) -> AuthServicer:
        return AuthServicer(self.authenticator)

    @property
    def grpc_credentials(self) -> grpc.ServerCredentials | None:
        return self.tls.grpc_credentials() if self.tls is not None else None

    @property
    def open_routes(self) -> Sequence[str]:
        return self.settings.auth.open_routes

    def announce(self) -> None:
        """Say at start how the APIs are protected, and loudly when they are not."""
        server = self.settings.server
        scheme = "TLS" + (" with client certificates" if self.tls and self.tls.mutual else "")
        transport = scheme if self.tls else "no TLS"
        if self.authenticator is None:
            log.warning("authentication is off (%s): anyone who can reach gRPC %s or HTTP %s "
                        "can list, download, stop and destroy every session; set [auth] "
                        "enabled = true before putting vexport on a network",
                        transport, server.grpc, server.http)  # fmt: skip
        else:
            log.info("authentication on, %s; open HTTP routes: %s; open gRPC methods: %s",
                     transport, ", ".join(self.settings.auth.open_routes) or "none",
                     ", ".join(self.settings.auth.open_grpc_methods) or "none")  # fmt: skip

    def tick(self) -> None:
        """The timers' share (from a thread): reload certificates, forget old tokens."""
        if self.tls is not None:
            self.tls.check()
        if self.authenticator is not None:
            self.authenticator.purge()


def _check_open_network(settings: Settings) -> None:
    if settings.auth.enabled or settings.auth.allow_open_network:
        return
    for name, address in (("grpc", settings.server.grpc), ("http", settings.server.http)):
        if not is_loopback(address):
            raise OpenNetworkRefused(
                f"[server] {name} = {address!r} is not a loopback address and authentication "
                "is off: set [auth] enabled = true with users (docs/configuration.md), or "
                "[auth] allow_open_network = true to serve it open on purpose"
            )
