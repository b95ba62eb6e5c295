"""The open service (authentication off): loopback only, says so, and still refuses
what a cross-site browser form sends."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from tests.api.harness import RunningServer, make_settings, running_server
from vexport.api.access import OpenNetworkRefused, _check_open_network, is_loopback
from vexport.app import App
from vexport.protos.axxonsoft.bl.auth import Authentication_pb2 as apb
from vexport.protos.axxonsoft.bl.auth import Authentication_pb2_grpc as apb_grpc
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

OPS = "https://ops.example"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(tmp_path_factory.mktemp("open"), server={"browser_origins": [OPS]})
    with running_server(settings) as server:
        yield server


def test_loopback_addresses() -> None:
    for address in ("127.0.0.1:50051", "[::1]:8080", "localhost:1", "127.0.0.2:0"):
        assert is_loopback(address), address
    for address in ("0.0.0.0:50051", "[::]:8080", "10.0.0.5:80", "camera-host:80", ":80"):
        assert not is_loopback(address), address


def test_a_network_bind_without_authentication_refuses_to_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, server={"http": "0.0.0.0:0"})
    with pytest.raises(OpenNetworkRefused, match=r"\[auth\] allow_open_network = true"):
        App(settings)
    _check_open_network(make_settings(tmp_path, server={"http": "0.0.0.0:0"},
                                      auth={"allow_open_network": True}))  # fmt: skip
    _check_open_network(make_settings(tmp_path, server={"grpc": "0.0.0.0:0"},
                                      auth={"enabled": True}))  # fmt: skip


def test_the_open_service_says_so_and_vendor_logins_still_work(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vexport")
    with running_server(make_settings(tmp_path)) as server:
        channel = server.channel()
        answer = apb_grpc.AuthenticationServiceStub(channel).AuthenticateEx2(
            apb.AuthenticateRequest(user_name="anyone", password="anything")
        )
        assert answer.error_code == apb.AUTHENTICATE_CODE_OK and answer.is_unrestricted
        metadata = [(answer.token_name, answer.token_value)]
        list(server.stub().ListSessions(spb.ListSessionsRequest(), metadata=metadata))
    assert "authentication is off" in caplog.text
    assert "can list, download, stop and destroy every session" in caplog.text


def test_cross_site_form_posts_are_refused_even_when_open(open_server: RunningServer) -> None:
    with httpx.Client(base_url=open_server.http_url) as client:
        # The defect: a text/plain stop from another origin used to succeed.
        reply = client.post(
            "/api/v1/sessions/any/stop",
            content=b"{}",
            headers={"content-type": "text/plain", "origin": "https://evil.example"},
        )
        assert reply.status_code == 403
        assert reply.json()["error"]["code"] == "PERMISSION_DENIED"
        reply = client.post(
            "/api/v1/sessions", content=b"{}", headers={"content-type": "text/plain"}
        )
        assert reply.status_code == 415
        reply = client.delete("/api/v1/sessions/any", headers={"origin": "https://evil.example"})
        assert reply.status_code == 403
        # The server's own origin and the configured ones pass; a bodiless POST needs no type.
        own = open_server.http_url
        assert client.post("/api/v1/sessions/x/stop", headers={"origin": own}).status_code == 404
        assert client.post("/api/v1/sessions/x/stop", headers={"origin": OPS}).status_code == 404
        reply = client.post("/api/v1/sessions", json={"archive": {}}, headers={"origin": OPS})
        assert reply.status_code == 400  # reached the API: a JSON body from an allowed origin
        assert reply.headers["access-control-allow-origin"] == OPS


def test_cors_answers_only_the_configured_origins(open_server: RunningServer) -> None:
    with httpx.Client(base_url=open_server.http_url) as client:
        preflight = {"access-control-request-method": "POST"}
        allowed = client.options("/api/v1/sessions", headers={"origin": OPS, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == OPS
        refused = client.options(
            "/api/v1/sessions", headers={"origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in refused.headers


def test_grpc_is_plaintext_unless_configured(open_server: RunningServer) -> None:
    channel = grpc.secure_channel(open_server.address, grpc.ssl_channel_credentials())
    with pytest.raises(grpc.RpcError) as error:
        list(open_server.stub().ListSessions(spb.ListSessionsRequest(), timeout=5))
        apb_grpc.AuthenticationServiceStub(channel).CloseSession(
            apb.CloseSessionRequest(), timeout=5
        )
        raise AssertionError("a TLS client reached a plaintext server")
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
