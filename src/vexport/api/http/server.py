"""Uvicorn inside the service's own event loop, next to the gRPC server.

One process, one loop: both APIs share the ``SessionService`` and its store
without any cross-process plumbing. We bind the socket ourselves so that a
configured port 0 (tests) still tells us the real port before clients connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)


def _bind(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this. asyncio sets it itself only on sockets made with
    # proto=IPPROTO_TCP, which this one (proto 0) is not: without it, a response's
    # headers and body wait on the client's delayed ACK, 40 ms a request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, int(port)))
    except (OSError, ValueError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise OSError(f"cannot listen for HTTP on {address}: {reason}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _subject_names(certificate: dict[str, Any] | None) -> list[str]:
    """Common names and DNS/URI alternative names of a verified peer certificate."""
    if not certificate:
        return []
    names = [
        value for rdn in certificate.get("subject", ()) for key, value in rdn if key == "commonName"
    ]
    names += [
        value for kind, value in certificate.get("subjectAltName", ()) if kind in ("DNS", "URI")
    ]
    return names


def _with_client_names(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, with the client certificate's subject names in every request's
    scope (``extensions["tls"]["client_names"]``), which uvicorn does not put there itself.
    """

    class Protocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            names = _subject_names(ssl_object.getpeercert() if ssl_object is not None else None)
            if names:
                app: ASGIApp = self.app  # type: ignore[has-type]

                async def with_names(scope: Scope, receive: Receive, send: Send) -> None:
                    extensions = {**scope.get("extensions", {}), "tls": {"client_names": names}}
                    await app({**scope, "extensions": extensions}, receive, send)

                self.app = with_names

    return Protocol


class _EmbeddedServer(uvicorn.Server):
    """Uvicorn without its signal handling: the service owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    def __init__(self, app: ASGIApp, address: str, *, tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self._socket = _bind(address)
        host = address.rpartition(":")[0] or "127.0.0.1"
        self.port: int = self._socket.getsockname()[1]
        self.address = f"{host}:{self.port}"
        extra: dict[str, Any] = {}
        if tls is not None and tls.verify_mode == ssl.CERT_REQUIRED:  # mTLS: who is calling
            from uvicorn.protocols.http.auto import AutoHTTPProtocol

            extra["http"] = _with_client_names(AutoHTTPProtocol)
        config = uvicorn.Config(
            app,
            **extra,
            log_config=None,  # the service's logging, not uvicorn's own setup
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        if tls is not None:  # our context (reloaded in place), not one uvicorn makes
            config.load()
            config.ssl = tls
        self._tls = tls is not None
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.address}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="http")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the startup error
                raise OSError(f"HTTP server on {self.address} stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self, grace: float) -> None:
        if self._task is None:
            return
        self._server.config.timeout_graceful_shutdown = max(1, int(grace))
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace + 1)
        except TimeoutError:
            self._server.force_exit = True
            with contextlib.suppress(Exception):
                await self._task
        finally:
            self._socket.close()
