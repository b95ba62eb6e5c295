"""HTTP authentication and browser safety, applied to every route as ASGI middleware.

- ``AuthGate``: every request needs ``Authorization: Bearer <token>`` unless
  its path is open (``[auth] open_routes``, or the login routes); 401 with
  ``WWW-Authenticate: Bearer`` otherwise. Middleware, not a per-route
  dependency, so routes other modules add later are covered without a word.
- ``BrowserGuard``: a state-changing call (POST, PUT, PATCH, DELETE) with a
  body must say ``Content-Type: application/json`` (415 otherwise), which a
  cross-site HTML form cannot send; a request with an ``Origin`` header from a
  web origin other than the server's own and ``[server] browser_origins`` is
  refused (403). CORS headers are only sent for ``browser_origins``.
- ``auth_router``: ``POST /v1/authentication/authenticate_ex2`` (and renew and
  close), the vendor's login over HTTP with the gRPC messages in JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from google.protobuf import json_format
from starlette.types import ASGIApp, Receive, Scope, Send

from vexport.api.grpc.auth import login_failed, response_ex
from vexport.api.http.errors import error_body
from vexport.auth.authenticator import Authenticator
from vexport.auth.principal import acting_as
from vexport.auth.tokens import bearer_token
from vexport.errors import InvalidArgument, Unauthenticated
from vexport.protos.axxonsoft.bl.auth import Authentication_pb2 as apb

__all__ = ["LOGIN_PREFIX", "AuthGate", "BrowserGuard", "auth_router"]

LOGIN_PREFIX = "/v1/authentication/"
_NO_TOKEN = (
    "authentication required: POST /v1/authentication/authenticate_ex2 and send "
    "'Authorization: Bearer <token>'"
)
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _send_error(send: Send, status: int, code: str, message: str, **headers: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(
            (name.lower().replace("_", "-").encode(), value.encode())
            for name, value in headers.items()
        ),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else ""


def path_is_open(path: str, open_routes: Sequence[str]) -> bool:
    for route in open_routes:
        if route.endswith("*") and path.startswith(route[:-1]):
            return True
        if path == route:
            return True
    return False


class AuthGate:
    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, open_routes: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.open_routes = (*open_routes, LOGIN_PREFIX + "*")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or path_is_open(scope["path"], self.open_routes):
            await self.app(scope, receive, send)  # lifespan, and the open routes
            return
        token = bearer_token(_header(scope, b"authorization"))
        message = _NO_TOKEN
        names = scope.get("extensions", {}).get("tls", {}).get("client_names")
        if token is None and names:  # a client certificate a user claims (mTLS)
            principal = self.authenticator.authenticate_certificate(names)
            if principal is not None:
                with acting_as(principal, _client(scope)):
                    await self.app(scope, receive, send)
                return
        if token is not None:
            try:
                principal = await asyncio.to_thread(self.authenticator.authenticate, token)
            except Unauthenticated as exc:
                message = str(exc)
            else:
                with acting_as(principal, _client(scope)):
                    await self.app(scope, receive, send)
                return
        if kind == "websocket":  # refused before it is accepted: policy violation
            await send(
                {"type": "websocket.close", "code": 1008, "reason": "authentication required"}
            )
            return
        await _send_error(send, 401, "UNAUTHENTICATED", message, www_authenticate="Bearer")


class BrowserGuard:
    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset(origin.rstrip("/") for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if scope["type"] == "websocket":  # browsers send Origin on websockets too
            if origin is not None and not self._origin_allowed(scope, origin):
                await send({"type": "websocket.close", "code": 1008, "reason": "origin"})
                return
            await self.app(scope, receive, send)
            return
        if origin is not None and not self._origin_allowed(scope, origin):
            await _send_error(
                send, 403, "PERMISSION_DENIED",
                f"requests from the web origin {origin[:200]!r} are not allowed;"
                " list it in [server] browser_origins",
            )  # fmt: skip
            return
        if scope["method"] in _STATE_CHANGING and self._has_body(scope):
            media_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if media_type != "application/json":
                await _send_error(
                    send, 415, "INVALID_ARGUMENT",
                    "the body must be JSON: send 'Content-Type: application/json'",
                )  # fmt: skip
                return
        await self.app(scope, receive, send)

    def _origin_allowed(self, scope: Scope, origin: str) -> bool:
        if origin.rstrip("/") in self.allowed:
            return True
        host = _header(scope, b"host")
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", ""), scope.get("scheme"))
        return host is not None and origin.rstrip("/") == f"{scheme}://{host}"

    @staticmethod
    def _has_body(scope: Scope) -> bool:
        length = _header(scope, b"content-length")
        if length is not None:
            return length.strip() not in ("", "0")
        return _header(scope, b"transfer-encoding") is not None or (
            _header(scope, b"content-type") is not None
        )


def _credentials(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise InvalidArgument("must be a JSON object {user_name, password}", field="body")
    user, password = body.get("user_name", ""), body.get("password", "")
    if not isinstance(user, str):
        raise InvalidArgument("must be a string", field="user_name")
    if not isinstance(password, str):
        raise InvalidArgument("must be a string", field="password")
    return user, password


def _message_json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def auth_router(authenticator: Authenticator | None) -> APIRouter:
    router = APIRouter(prefix=LOGIN_PREFIX.rstrip("/"), tags=["authentication"])

    def caller_token(request: Request) -> str:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise Unauthenticated(_NO_TOKEN)
        return token

    @router.post("/authenticate_ex2", summary="Log in: AuthenticateEx2 with a user and password")
    async def authenticate_ex2(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise InvalidArgument("is not JSON (or nested too deeply)", field="body") from None
        user, password = _credentials(body)
        if authenticator is None:
            return _message_json(response_ex(None))
        try:
            issued = await asyncio.to_thread(authenticator.login, user, password)
        except Unauthenticated as exc:
            return _message_json(login_failed(exc))
        return _message_json(response_ex(issued))

    @router.post("/renew_session2", summary="A new session token for the caller's")
    async def renew_session2(request: Request) -> dict[str, Any]:
        if authenticator is None:
            return _message_json(response_ex(None))
        issued = await asyncio.to_thread(authenticator.renew, caller_token(request))
        return _message_json(response_ex(issued))

    @router.post("/close_session", summary="End the caller's session token")
    async def close_session(request: Request) -> dict[str, Any]:
        if authenticator is not None:
            await asyncio.to_thread(authenticator.close, caller_token(request))
        return _message_json(apb.CloseSessionResponse())

    return router
