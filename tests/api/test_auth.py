"""Authentication, permissions, TLS and browser checks over real sockets (gRPC and HTTP).

One server with authentication and TLS (a test CA) serves most tests; the
clients follow the vendor's flow: a TLS channel trusting the server's CA,
AuthenticateEx2, then the returned (token_name, token_value) as metadata.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from starlette.routing import Route

from tests.api.conftest import ARCHIVE_START, CAMERA, CAMERA2, sources
from tests.api.harness import RunningServer, make_settings, running_server
from tests.api.options import archive_clip
from tests.testca import CertAuthority
from vexport.api.http.auth import path_is_open
from vexport.auth.passwords import hash_password
from vexport.auth.tokens import new_token, token_hash
from vexport.config import UserConfig
from vexport.protos.axxonsoft.bl.auth import Authentication_pb2 as apb
from vexport.protos.axxonsoft.bl.auth import Authentication_pb2_grpc as apb_grpc
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc

PASSWORDS = {
    "alice": "alice's long password",
    "bob": "bob's long password",
    "vera": "vera views all",
    "root": "the admin's password",
    "sam": "sam sees site 2",
    "olga": "olga operates site 2",
}
API_TOKEN = new_token("vxt_")


@dataclass
class Secure:
    server: RunningServer
    ca: Path
    folder: Path

    def channel(self) -> grpc.Channel:
        credentials = grpc.ssl_channel_credentials(root_certificates=self.ca.read_bytes())
        return grpc.secure_channel(self.server.address, credentials)

    def login(self, user: str, password: str | None = None) -> list[tuple[str, str]]:
        """AuthenticateEx2 as a vendor client does; the metadata for every later call."""
        stub = apb_grpc.AuthenticationServiceStub(self.channel())
        answer = stub.AuthenticateEx2(
            apb.AuthenticateRequest(user_name=user, password=password or PASSWORDS[user])
        )
        assert answer.error_code == apb.AUTHENTICATE_CODE_OK, answer
        return [(answer.token_name, answer.token_value)]

    def stub(self) -> spb_grpc.ExportServiceStub:
        return spb_grpc.ExportServiceStub(self.channel())

    def http(self, user: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {}
        if user is not None:
            headers["authorization"] = dict(self.login(user))["authorization"]
        context = ssl.create_default_context(cafile=str(self.ca))
        return httpx.Client(
            base_url=self.server.http_url, verify=context, headers=headers, **kwargs
        )


def _auth_settings(folder: Path, playlist: Path, ca: CertAuthority, **extra: Any) -> Any:
    cert, key = ca.issue("vexport server").write(folder, "server")
    users = [
        {"name": "alice", "roles": ["exporter"], "tokens": [token_hash(API_TOKEN)]},
        {"name": "bob", "roles": ["exporter"]},
        {"name": "vera", "roles": ["viewer"], "sessions": "all"},
        {"name": "root", "roles": ["admin"]},
        {"name": "sam", "roles": ["exporter"], "groups": ["site2"]},
        {"name": "olga", "roles": ["viewer"], "groups": ["site2"], "sessions": "all"},
    ]
    for user in users:  # scrypt for some, Argon2 for the others
        scheme = "scrypt" if user["name"] in ("bob", "sam") else "argon2"
        user["password_hash"] = hash_password(PASSWORDS[str(user["name"])], scheme)
    return make_settings(
        folder / "data",
        sources=sources(playlist),
        auth={
            "enabled": True,
            "users": users,
            "groups": [{"name": "site2", "origins": [CAMERA2]}],
            "session_ttl": "10m",
        },
        tls={"cert_file": str(cert), "key_file": str(key), **extra},
    )


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory, archive_playlist: Path) -> Iterator[Secure]:
    folder = tmp_path_factory.mktemp("auth")
    ca = CertAuthority()
    settings = _auth_settings(folder, archive_playlist, ca)
    with running_server(settings) as server:
        yield Secure(server, ca.write(folder / "ca.pem"), folder)


def _clip() -> Any:
    start = ARCHIVE_START + timedelta(seconds=1)
    return archive_clip(CAMERA, start, start + timedelta(seconds=1))


def _wait(stub: spb_grpc.ExportServiceStub, session_id: str, metadata: Any) -> spb.State:
    for _ in range(600):
        state = stub.GetSessionState(
            spb.GetSessionStateRequest(session_id=session_id), metadata=metadata
        ).session_state
        if state.state >= spb.S_COMPLETED:
            return state
        import time

        time.sleep(0.1)
    raise AssertionError(f"session {session_id} did not complete")


def test_a_vendor_client_runs_a_whole_export_session(secure: Secure) -> None:
    metadata = secure.login("alice")
    assert metadata[0][0] == "authorization" and metadata[0][1].startswith("Bearer vxs_")
    stub = secure.stub()
    started = stub.StartSession(
        spb.StartSessionRequest(session_options=_clip()), metadata=metadata
    ).started_session_id
    state = _wait(stub, started, metadata)
    assert state.result.succeeded, state
    (file,) = state.result.files
    data = b"".join(
        chunk.data
        for chunk in stub.DownloadFile(
            spb.DownloadFileRequest(session_id=started, file_path=file.path), metadata=metadata
        )
    )
    assert len(data) == file.size > 0
    with secure.http() as client:  # the same file again, in ranges: one audited download
        for first in (0, 100):
            part = client.get(
                f"/api/v1/sessions/{started}/files/{file.path}",
                headers={**dict(metadata), "range": f"bytes={first}-{first + 99}"},
            )
            assert part.status_code == 206 and part.content == data[first : first + 100]
    (page,) = stub.ListSessions(spb.ListSessionsRequest(), metadata=metadata)
    assert started in [info.session.id for info in page.sessions]
    stub.DestroySession(spb.DestroySessionRequest(session_id=started), metadata=metadata)

    # Authenticate2 answers the same token fields; failures are gRPC errors there.
    auth = apb_grpc.AuthenticationServiceStub(secure.channel())
    plain = auth.Authenticate2(apb.AuthenticateRequest(user_name="bob", password=PASSWORDS["bob"]))
    assert plain.token_value.startswith("Bearer vxs_") and plain.expires_in == 600
    assert plain.user_id == "bob" and list(plain.roles_ids) == ["exporter"]
    with pytest.raises(grpc.RpcError) as error:
        auth.Authenticate2(apb.AuthenticateRequest(user_name="bob", password="nope"))
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # The audit log has who did what, from where, with the file's hash; `vexport audit` shows it.
    events = secure.server.app.access.audit.sink.events(limit=50, session_id=started)  # type: ignore[union-attr]
    assert [(e.user, e.action, e.outcome) for e in events] == [
        ("alice", "start", "ok"), ("alice", "download", "ok"), ("alice", "destroy", "ok"),
    ]  # fmt: skip
    assert events[0].details["origins"] == [CAMERA]
    assert events[0].details["begin"].startswith("2026-01-01T12:00:01")
    assert events[1].details["sha256"] == file.sha256
    assert events[0].client.startswith("127.0.0.1:")


def test_a_wrong_password_gets_wrong_credentials(secure: Secure) -> None:
    stub = apb_grpc.AuthenticationServiceStub(secure.channel())
    for user, password in (("alice", "guess"), ("mallory", "guess"), ("alice", "")):
        answer = stub.AuthenticateEx2(apb.AuthenticateRequest(user_name=user, password=password))
        assert answer.error_code == apb.AUTHENTICATE_CODE_WRONG_CREDENTIALS
        assert answer.token_value == ""
        assert answer.error_description.description == "wrong user name or password"
    # A user name guessed at too often is locked (10 wrong passwords by default).
    codes = [
        stub.AuthenticateEx2(apb.AuthenticateRequest(user_name="trudy", password="x")).error_code
        for _ in range(11)
    ]
    assert codes == [apb.AUTHENTICATE_CODE_WRONG_CREDENTIALS] * 10 + [
        apb.AUTHENTICATE_CODE_USER_LOCKED
    ]
    with secure.http() as client:
        reply = client.post(
            "/v1/authentication/authenticate_ex2", json={"user_name": "alice", "password": "x"}
        )
        assert reply.status_code == 200
        assert reply.json()["error_code"] == "AUTHENTICATE_CODE_WRONG_CREDENTIALS"
        good = client.post(
            "/v1/authentication/authenticate_ex2",
            json={"user_name": "alice", "password": PASSWORDS["alice"]},
        ).json()
        assert good["token_name"] == "authorization" and good["user_id"] == "alice"
        listed = client.get("/api/v1/sessions", headers={"authorization": good["token_value"]})
        assert listed.status_code == 200


def test_an_expired_token_is_refused_until_renewed(secure: Secure) -> None:
    authenticator = secure.server.app.access.authenticator  # type: ignore[union-attr]
    assert authenticator is not None
    metadata = secure.login("bob")
    over_http = dict(secure.login("bob"))
    stub = secure.stub()
    stub.ListSessions(spb.ListSessionsRequest(), metadata=metadata)
    real_clock = authenticator.clock
    authenticator.clock = lambda: real_clock() + timedelta(minutes=11)  # the injected clock
    try:
        with pytest.raises(grpc.RpcError) as error:
            list(stub.ListSessions(spb.ListSessionsRequest(), metadata=metadata))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "expired" in error.value.details() and "RenewSession2" in error.value.details()
        with secure.http() as client:
            reply = client.get("/api/v1/sessions", headers=over_http)
            assert reply.status_code == 401
            assert reply.json()["error"]["code"] == "UNAUTHENTICATED"
            assert "RenewSession2" in reply.json()["error"]["message"]
            renewed_http = client.post("/v1/authentication/renew_session2", headers=over_http)
            assert renewed_http.status_code == 200, renewed_http.text
            fresh = {"authorization": renewed_http.json()["token_value"]}
            assert client.get("/api/v1/sessions", headers=fresh).status_code == 200
            assert client.get("/api/v1/sessions", headers=over_http).status_code == 401
            assert client.post("/v1/authentication/close_session", headers=fresh).json() == {}
            assert client.get("/api/v1/sessions", headers=fresh).status_code == 401
        auth = apb_grpc.AuthenticationServiceStub(secure.channel())
        renewed = auth.RenewSession2(apb.RenewSessionRequest(), metadata=metadata)
        new_metadata = [(renewed.token_name, renewed.token_value)]
        list(stub.ListSessions(spb.ListSessionsRequest(), metadata=new_metadata))
        auth.CloseSession(apb.CloseSessionRequest(), metadata=new_metadata)
        with pytest.raises(grpc.RpcError) as error:
            list(stub.ListSessions(spb.ListSessionsRequest(), metadata=new_metadata))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        authenticator.clock = real_clock


def _grpc_methods(secure: Secure) -> list[tuple[str, bool, bool]]:
    """Every method of every service the server lists by reflection (read as an admin)."""
    token = dict(secure.login("root"))["authorization"].removeprefix("Bearer ")
    credentials = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(root_certificates=secure.ca.read_bytes()),
        grpc.access_token_call_credentials(token),
    )
    channel = grpc.secure_channel(secure.server.address, credentials)
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = DescriptorPool(database)
    methods = []
    for name in database.get_services():
        service = pool.FindServiceByName(name)
        for method in service.methods:
            methods.append(
                (f"/{name}/{method.name}", method.client_streaming, method.server_streaming)
            )
    return methods


def test_every_grpc_method_needs_a_token(secure: Secure) -> None:
    methods = _grpc_methods(secure)
    names = {path for path, _, _ in methods}
    assert "/axxonsoft.bl.mmexport.ExportService/StartSession" in names
    assert "/vexport.v1.ExportService/DownloadFile" in names
    assert "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" in names
    channel = secure.channel()
    login = {
        "/axxonsoft.bl.auth.AuthenticationService/Authenticate2",
        "/axxonsoft.bl.auth.AuthenticationService/AuthenticateEx2",
    }
    checked = 0
    for path, client_streaming, server_streaming in methods:
        if path in login or path.startswith("/grpc.health.v1.Health/"):  # open by default
            continue
        for metadata in ([], [("authorization", "Bearer vxs_forged")], [("authorization", "x")]):
            kind = (
                ("stream" if client_streaming else "unary")
                + "_"
                + ("stream" if server_streaming else "unary")
            )
            call = getattr(channel, kind)(path)
            request: Any = iter([b""]) if client_streaming else b""
            with pytest.raises(grpc.RpcError) as error:
                answer = call(request, metadata=metadata, timeout=10)
                if server_streaming:
                    list(answer)
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED, (path, metadata)
        checked += 1
    assert checked >= 13  # 6 methods under two names, renew and close, reflection
    # The open ones answer without a token.
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == 1


def _route_table(routes: Any, prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every HTTP route, also inside routers FastAPI includes lazily."""
    table = []
    for route in routes:
        if isinstance(route, Route):
            table.append((prefix + route.path, set(route.methods or ())))
        elif hasattr(route, "original_router"):  # FastAPI >= 0.165 keeps included routers
            table += _route_table(
                route.original_router.routes, prefix + route.include_context.prefix
            )
    return table


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_http_route_needs_a_token(secure: Secure) -> None:
    app = secure.server.app.http.app  # type: ignore[union-attr]
    routes = _route_table(app.routes)
    paths = {path for path, _ in routes}
    assert {"/export-to-s3dir", "/api/v1/sessions/{session_id}/stop", "/docs"} <= paths
    checked = 0
    open_routes = secure.server.settings.auth.open_routes
    opened = {p for p, _ in routes if path_is_open(_concrete(p), open_routes)}
    # Only the operator page's code (no data: its API calls need a token) and the probes
    # and metrics are open here.
    assert opened <= {"/", "/web/{name}", "/healthz", "/readyz", "/metrics"}, opened
    with secure.http() as client:
        for path, methods in routes:
            if path.startswith("/v1/authentication/") or path in opened:
                continue
            for method in sorted(methods):
                for headers in ({}, {"authorization": "Bearer vxs_forged"}):
                    reply = client.request(
                        method, _concrete(path), headers=headers, json={}
                        if method in ("POST", "PUT", "PATCH") else None,
                    )  # fmt: skip
                    assert reply.status_code == 401, (method, path)
                    if method != "HEAD":
                        assert reply.json()["error"]["code"] == "UNAUTHENTICATED"
                    assert reply.headers["www-authenticate"] == "Bearer"
                checked += 1
        assert checked >= 9
        # The API token works as a bearer token too.
        reply = client.get("/api/v1/sessions", headers={"authorization": f"Bearer {API_TOKEN}"})
        assert reply.status_code == 200


def test_roles_and_owners(secure: Secure) -> None:
    alice, bob, vera, root, sam = (
        secure.login(user) for user in ("alice", "bob", "vera", "root", "sam")
    )
    stub = secure.stub()

    with pytest.raises(grpc.RpcError) as error:
        stub.StartSession(spb.StartSessionRequest(session_options=_clip()), metadata=vera)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.value.details() == "user 'vera' (viewer) may not start sessions"
    with secure.http("vera") as client:
        reply = client.post("/api/v1/sessions", json=json_format.MessageToDict(_clip()))
        assert reply.status_code == 403
        assert reply.json()["error"]["code"] == "PERMISSION_DENIED"

    # sam may export CAMERA2 only (his group's origins).
    with pytest.raises(grpc.RpcError) as error:
        stub.StartSession(spb.StartSessionRequest(session_options=_clip()), metadata=sam)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert CAMERA in error.value.details()

    mine = stub.StartSession(
        spb.StartSessionRequest(session_options=_clip()), metadata=alice
    ).started_session_id
    _wait(stub, mine, alice)

    def listed(metadata: Any) -> set[str]:
        return {
            info.session.id
            for page in stub.ListSessions(spb.ListSessionsRequest(), metadata=metadata)
            for info in page.sessions
        }

    # Invisible to another exporter, everywhere: as if it did not exist.
    assert mine in listed(alice) and mine not in listed(bob) and mine not in listed(sam)
    for call, request in (
        (stub.GetSessionState, spb.GetSessionStateRequest(session_id=mine)),
        (stub.StopSession, spb.StopSessionRequest(session_id=mine)),
        (stub.DestroySession, spb.DestroySessionRequest(session_id=mine)),
    ):
        with pytest.raises(grpc.RpcError) as error:
            call(request, metadata=bob)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert error.value.details() == f"session_id: unknown session {mine!r}"
    state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=mine), metadata=alice)
    path = state.session_state.result.files[0].path
    with pytest.raises(grpc.RpcError) as error:
        list(stub.DownloadFile(spb.DownloadFileRequest(session_id=mine, file_path=path),
                               metadata=bob))  # fmt: skip
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with secure.http("bob") as client:
        assert client.get(f"/api/v1/sessions/{mine}").status_code == 404
        assert client.get(f"/api/v1/sessions/{mine}/files/{path}").status_code == 404
        assert mine not in {s["session"]["id"] for s in client.get("/api/v1/sessions").json()[
            "sessions"]}  # fmt: skip

    # An operator of site 2 sees every session of site 2's cameras, and no other.
    start = ARCHIVE_START + timedelta(seconds=1)
    sams = stub.StartSession(
        spb.StartSessionRequest(
            session_options=archive_clip(CAMERA2, start, start + timedelta(seconds=1))
        ),
        metadata=sam,
    ).started_session_id
    olga = secure.login("olga")
    assert sams in listed(olga) and mine not in listed(olga)
    assert sams not in listed(alice)
    stub.GetSessionState(spb.GetSessionStateRequest(session_id=sams), metadata=olga)
    with pytest.raises(grpc.RpcError) as error:
        stub.GetSessionState(spb.GetSessionStateRequest(session_id=mine), metadata=olga)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND

    # A viewer who sees all sessions reads it but may not destroy it; an admin may.
    assert mine in listed(vera) and mine in listed(root)
    with pytest.raises(grpc.RpcError) as error:
        stub.DestroySession(spb.DestroySessionRequest(session_id=mine), metadata=vera)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stub.DestroySession(spb.DestroySessionRequest(session_id=mine), metadata=root)
    events = secure.server.app.access.audit.sink.events(limit=50, session_id=mine)  # type: ignore[union-attr]
    assert ("vera", "destroy", "denied") in [(e.user, e.action, e.outcome) for e in events]
    assert ("root", "destroy", "ok") in [(e.user, e.action, e.outcome) for e in events]


def test_browser_form_posts_are_refused(secure: Secure) -> None:
    with secure.http("alice") as client:
        # What a cross-site HTML form sends: another Origin, a form content type.
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            reply = client.post(
                "/api/v1/sessions/any/stop",
                content=b"a=b",
                headers={"content-type": content_type, "origin": "https://evil.example"},
            )
            assert reply.status_code == 403
            assert "evil.example" in reply.json()["error"]["message"]
            # Even from no origin (or its own), a form body is not JSON.
            reply = client.post(
                "/api/v1/sessions/any/stop", content=b"a=b", headers={"content-type": content_type}
            )
            assert reply.status_code == 415
            assert reply.json()["error"]["message"].endswith("'Content-Type: application/json'")
        # CORS is closed: a preflight gets no permission.
        reply = client.options(
            "/api/v1/sessions",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert "access-control-allow-origin" not in reply.headers


def test_no_secret_in_the_database_or_logs(
    secure: Secure, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    metadata = secure.login("alice")
    secure.stub().ListSessions(spb.ListSessionsRequest(), metadata=metadata)
    token = metadata[0][1].removeprefix("Bearer ")
    database = secure.server.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        dump = "\n".join(db.iterdump())
    secrets = [token, API_TOKEN, *PASSWORDS.values()]
    for secret in secrets:
        assert secret not in dump
        assert secret not in caplog.text
    assert json.dumps(token) not in dump


def test_mutual_tls_refuses_a_client_without_a_certificate(
    tmp_path: Path, archive_playlist: Path
) -> None:
    ca = CertAuthority()
    client_ca = CertAuthority("clients CA")
    settings = _auth_settings(
        tmp_path, archive_playlist, ca, client_ca_file=str(client_ca.write(tmp_path / "cca.pem"))
    )
    settings.auth.users.append(UserConfig(name="agent", roles=["viewer"], certificates=["agent-1"]))
    client_cert, client_key = client_ca.issue("agent-1", server=False).write(tmp_path, "agent")
    other_cert, other_key = client_ca.issue("tool-7", server=False).write(tmp_path, "tool")
    with running_server(settings) as server:
        root = ca.pem
        bare = grpc.secure_channel(server.address, grpc.ssl_channel_credentials(root))
        with pytest.raises(grpc.RpcError) as error:
            apb_grpc.AuthenticationServiceStub(bare).AuthenticateEx2(
                apb.AuthenticateRequest(user_name="alice", password=PASSWORDS["alice"]), timeout=5
            )
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        with_cert = grpc.secure_channel(
            server.address,
            grpc.ssl_channel_credentials(
                root,
                private_key=client_key.read_bytes(),
                certificate_chain=client_cert.read_bytes(),
            ),
        )
        answer = apb_grpc.AuthenticationServiceStub(with_cert).AuthenticateEx2(
            apb.AuthenticateRequest(user_name="alice", password=PASSWORDS["alice"]), timeout=10
        )
        assert answer.error_code == apb.AUTHENTICATE_CODE_OK
        # The certificate a user claims logs in as that user, without a token.
        stub = spb_grpc.ExportServiceStub(with_cert)
        list(stub.ListSessions(spb.ListSessionsRequest(), timeout=10))
        with pytest.raises(grpc.RpcError) as error:
            stub.StartSession(spb.StartSessionRequest(session_options=_clip()), timeout=10)
        assert error.value.details() == "user 'agent' (viewer) may not start sessions"
        unclaimed = grpc.secure_channel(
            server.address,
            grpc.ssl_channel_credentials(
                root, private_key=other_key.read_bytes(), certificate_chain=other_cert.read_bytes()
            ),
        )
        with pytest.raises(grpc.RpcError) as error:
            list(spb_grpc.ExportServiceStub(unclaimed).ListSessions(spb.ListSessionsRequest()))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED

        context = ssl.create_default_context(cadata=root.decode())
        with pytest.raises(httpx.HTTPError), httpx.Client(verify=context) as client:
            client.get(server.http_url + "/api/v1/sessions")
        context.load_cert_chain(client_cert, client_key)
        with httpx.Client(verify=context) as client:
            assert client.get(server.http_url + "/api/v1/sessions").status_code == 200
            body = json_format.MessageToDict(_clip())
            reply = client.post(server.http_url + "/api/v1/sessions", json=body)
            assert reply.status_code == 403
        context = ssl.create_default_context(cadata=root.decode())
        context.load_cert_chain(other_cert, other_key)
        with httpx.Client(verify=context) as client:
            assert client.get(server.http_url + "/api/v1/sessions").status_code == 401


def test_certificates_are_reloaded_without_a_restart(
    tmp_path: Path, archive_playlist: Path
) -> None:
    old_ca, new_ca = CertAuthority("old CA"), CertAuthority("new CA")
    settings = _auth_settings(tmp_path, archive_playlist, old_ca)
    with running_server(settings) as server:
        tls = server.app.access.tls  # type: ignore[union-attr]
        assert tls is not None and not tls.check()  # unchanged: nothing to do

        def grpc_works(ca: CertAuthority) -> bool:
            channel = grpc.secure_channel(server.address, grpc.ssl_channel_credentials(ca.pem))
            try:
                health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
                return True
            except grpc.RpcError:
                return False
            finally:
                channel.close()

        def http_works(ca: CertAuthority) -> bool:
            context = ssl.create_default_context(cadata=ca.pem.decode())
            try:
                with httpx.Client(verify=context) as client:
                    return client.get(server.http_url + "/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        assert grpc_works(old_ca) and http_works(old_ca)
        assert not grpc_works(new_ca) and not http_works(new_ca)
        new_ca.issue("vexport server, renewed").write(tmp_path, "server")
        assert tls.check()
        assert grpc_works(new_ca) and http_works(new_ca)
        assert not grpc_works(old_ca) and not http_works(old_ca)


def test_the_client_command_logs_in_and_vexport_audit_lists_the_log(secure: Secure) -> None:
    import os
    import subprocess
    import sys

    alice, stub = secure.login("alice"), secure.stub()
    started = stub.StartSession(
        spb.StartSessionRequest(session_options=_clip()), metadata=alice
    ).started_session_id
    stub.DestroySession(spb.DestroySessionRequest(session_id=started), metadata=alice)
    env = {key: value for key, value in os.environ.items() if not key.startswith("VEXPORT_")}
    env.update(VEXPORT_TARGET=secure.server.address, VEXPORT_CA=str(secure.ca))
    command = [sys.executable, "-m", "vexport", "client", "list"]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stdout + refused.stderr
    env.update(VEXPORT_USER="alice", VEXPORT_PASSWORD=PASSWORDS["alice"])
    listed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    env.pop("VEXPORT_USER")
    env.update(VEXPORT_TOKEN=API_TOKEN)
    listed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stdout + listed.stderr

    config = secure.folder / "audit.toml"
    config.write_text(
        f"[server]\ndata_dir = {json.dumps(str(secure.server.settings.server.data_dir))}\n"
    )
    audit = subprocess.run(
        [sys.executable, "-m", "vexport", "audit", "--config", str(config), "--json",
         "--user", "alice"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stderr
    events = [json.loads(line) for line in audit.stdout.splitlines()]
    assert events and {event["user"] for event in events} == {"alice"}
    assert {"start", "destroy"} <= {e["action"] for e in events if e["session_id"] == started}
    for secret in (API_TOKEN, *PASSWORDS.values()):
        assert secret not in audit.stdout
