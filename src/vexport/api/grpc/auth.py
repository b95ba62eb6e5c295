"""gRPC authentication: the vendor's AuthenticationService and one interceptor for every call.

The interceptor is installed on the server, not on services, so every method
of every service (those added later included) needs a bearer token in the
``authorization`` metadata unless ``[auth] open_grpc_methods`` names it. The
login methods of ``AuthenticationService`` are always reachable: Authenticate2
and AuthenticateEx2 take a password, RenewSession2 and CloseSession check the
caller's token themselves (RenewSession2 accepts an expired one).

The caller is set for the duration of the call (``auth.principal.acting_as``);
the job service decides what it may do.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any

import grpc

from vexport.auth.authenticator import Authenticator, Issued, Locked
from vexport.auth.principal import Principal, acting_as
from vexport.auth.tokens import bearer_token
from vexport.errors import Unauthenticated
from vexport.protos.axxonsoft.bl.auth import Authentication_pb2 as apb
from vexport.protos.axxonsoft.bl.auth import Authentication_pb2_grpc as apb_grpc

__all__ = [
    "AUTH_SERVICE",
    "TOKEN_NAME",
    "AuthInterceptor",
    "AuthServicer",
    "login_failed",
    "response_ex",
]

AUTH_SERVICE = apb.DESCRIPTOR.services_by_name["AuthenticationService"].full_name
TOKEN_NAME = "authorization"
"""The metadata key clients send the token under (``token_name`` of the answers)."""
_LOGIN_METHODS = frozenset(
    f"/{AUTH_SERVICE}/{name}"
    for name in ("Authenticate2", "AuthenticateEx2", "RenewSession2", "CloseSession")
)
OPEN_TOKEN = "Bearer open"
"""What the open service (authentication off) hands out: any value is accepted."""


def _metadata_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key == TOKEN_NAME and isinstance(value, str):
            return bearer_token(value)
    return None


def response_ex(issued: Issued | None) -> apb.AuthenticateResponseEx:
    """The answer of a login or renewal; ``None``: the open service's token."""
    if issued is None:
        return apb.AuthenticateResponseEx(
            token_name=TOKEN_NAME, token_value=OPEN_TOKEN, is_unrestricted=True
        )
    principal = issued.principal
    return apb.AuthenticateResponseEx(
        token_name=TOKEN_NAME,
        token_value=f"Bearer {issued.token}",
        expires_at=issued.expires_at.isoformat().replace("+00:00", "Z"),
        expires_in=issued.expires_in,
        is_unrestricted=principal.is_admin,
        user_id=principal.name,
        roles_ids=sorted(principal.roles),
    )


def login_failed(error: Unauthenticated) -> apb.AuthenticateResponseEx:
    """A failed login as AuthenticateEx2 answers it: the vendor's code and the reason."""
    code = (
        apb.AUTHENTICATE_CODE_USER_LOCKED
        if isinstance(error, Locked)
        else apb.AUTHENTICATE_CODE_WRONG_CREDENTIALS
    )
    return apb.AuthenticateResponseEx(
        error_code=code, error_description=apb.ErrorDescription(description=str(error))
    )


class AuthServicer(apb_grpc.AuthenticationServiceServicer):
    """Logins; with ``authenticator`` None (authentication off) every login succeeds."""

    def __init__(self, authenticator: Authenticator | None) -> None:
        self.authenticator = authenticator

    async def Authenticate2(
        self, request: apb.AuthenticateRequest, context: grpc.aio.ServicerContext
    ) -> apb.AuthenticateResponse:
        answer = await self.AuthenticateEx2(request, context)
        if answer.error_code != apb.AUTHENTICATE_CODE_OK:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, answer.error_description.description
            )
        plain = apb.AuthenticateResponse()
        plain.ParseFromString(answer.SerializeToString())  # the same numbers: the same fields
        return plain

    async def AuthenticateEx2(
        self, request: apb.AuthenticateRequest, context: grpc.aio.ServicerContext
    ) -> apb.AuthenticateResponseEx:
        if self.authenticator is None:
            return response_ex(None)
        try:
            issued = await asyncio.to_thread(
                self.authenticator.login, request.user_name, request.password
            )
        except Unauthenticated as exc:
            return login_failed(exc)
        return response_ex(issued)

    async def RenewSession2(
        self, request: apb.RenewSessionRequest, context: grpc.aio.ServicerContext
    ) -> apb.AuthenticateResponseEx:
        if self.authenticator is None:
            return response_ex(None)
        token = _metadata_token(context.invocation_metadata())
        if token is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, _NO_TOKEN)
        assert token is not None
        try:
            issued = await asyncio.to_thread(self.authenticator.renew, token)
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            raise
        return response_ex(issued)

    async def CloseSession(
        self, request: apb.CloseSessionRequest, context: grpc.aio.ServicerContext
    ) -> apb.CloseSessionResponse:
        if self.authenticator is not None:
            token = _metadata_token(context.invocation_metadata())
            if token is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, _NO_TOKEN)
            assert token is not None
            try:
                await asyncio.to_thread(self.authenticator.close, token)
            except Unauthenticated as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        return apb.CloseSessionResponse()


_NO_TOKEN = (
    "authentication required: log in with axxonsoft.bl.auth.AuthenticationService/"
    "AuthenticateEx2 and send its token as 'authorization: Bearer <token>' metadata"
)

Behaviour = Callable[..., Any]


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Authenticates every call before its handler runs; UNAUTHENTICATED without a token."""

    def __init__(self, authenticator: Authenticator, open_methods: Sequence[str] = ()) -> None:
        self.authenticator = authenticator
        self.open_methods = tuple(open_methods)

    def is_open(self, method: str) -> bool:
        return method in _LOGIN_METHODS or any(
            fnmatchcase(method, pattern) for pattern in self.open_methods
        )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or self.is_open(method):
            return handler
        token = _metadata_token(handler_call_details.invocation_metadata)
        return _wrapped(handler, lambda context: self._principal(token, context))

    async def _principal(self, token: str | None, context: grpc.aio.ServicerContext) -> Principal:
        if token is None:
            principal = self.authenticator.authenticate_certificate(_certificate_names(context))
            if principal is not None:
                return principal
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, _NO_TOKEN)
        assert token is not None
        try:
            return await asyncio.to_thread(self.authenticator.authenticate, token)
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            raise


def _certificate_names(context: grpc.aio.ServicerContext) -> list[str]:
    """The subject names of the client's verified certificate (mTLS); none without one."""
    auth = context.auth_context() or {}
    names = []
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        names += [value.decode(errors="replace") for value in auth.get(key, ())]
    return names


def _peer(context: grpc.aio.ServicerContext) -> str:
    """``ipv4:10.0.0.9:5000`` as ``10.0.0.9:5000`` (and ``[::1]:5000``), as HTTP has it."""
    peer = str(context.peer() or "")
    for prefix in ("ipv4:", "ipv6:"):
        if peer.startswith(prefix):
            return peer[len(prefix) :]
    return peer


def _wrapped(
    handler: grpc.RpcMethodHandler,
    principal_of: Callable[[grpc.aio.ServicerContext], Awaitable[Principal]],
) -> grpc.RpcMethodHandler:
    """The same handler, its behaviour run as the authenticated caller."""

    def unary_response(inner: Behaviour) -> Behaviour:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            principal = await principal_of(context)
            with acting_as(principal, _peer(context)):
                return await inner(request, context)

        return behaviour

    def stream_response(inner: Behaviour) -> Behaviour:
        if not inspect.isasyncgenfunction(inner):  # writes with context.write
            return unary_response(inner)

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            principal = await principal_of(context)
            with acting_as(principal, _peer(context)):
                async for item in inner(request, context):
                    yield item

        return behaviour

    kinds = {
        "unary_unary": (grpc.unary_unary_rpc_method_handler, unary_response),
        "unary_stream": (grpc.unary_stream_rpc_method_handler, stream_response),
        "stream_unary": (grpc.stream_unary_rpc_method_handler, unary_response),
        "stream_stream": (grpc.stream_stream_rpc_method_handler, stream_response),
    }
    for attribute, (make, wrap) in kinds.items():
        inner = getattr(handler, attribute)
        if inner is not None:
            return make(
                wrap(inner),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler
