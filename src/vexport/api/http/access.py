"""The HTTP access log: one line per request, without anything secret.

A pure ASGI middleware (no body buffering, streaming downloads untouched)
that logs, when the response has been sent, the method, the path, the status,
the duration and the client's address, as the logger ``vexport.access`` with
the same values as structured fields (``--log-format json``). The query string
is left out (a presigned URL or a token may travel there) and no header is
read, ``Authorization`` included.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog"]

log = logging.getLogger("vexport.access")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            address = f"{client[0]}:{client[1]}" if client else "-"
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            method = scope.get("method", "-")
            path = scope.get("path", "-")
            log.info(
                "%s %s %d %.1fms %s", method, path, status, duration_ms, address,
                extra={"method": method, "path": path, "status": status,
                       "duration_ms": duration_ms, "client": address},
            )  # fmt: skip
