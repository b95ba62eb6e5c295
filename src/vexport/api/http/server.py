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
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)


def _bind(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except (OSError, ValueError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise OSError(f"cannot listen for HTTP on {address}: {reason}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _EmbeddedServer(uvicorn.Server):
    """Uvicorn without its signal handling: the service owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    def __init__(self, app: ASGIApp, address: str) -> None:
        self._socket = _bind(address)
        host = address.rpartition(":")[0] or "127.0.0.1"
        self.port: int = self._socket.getsockname()[1]
        self.address = f"{host}:{self.port}"
        config = uvicorn.Config(
            app,
            log_config=None,  # the service's logging, not uvicorn's own setup
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}"

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
