"""AuthGate covers what routers add later, websockets included (in-process ASGI)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI, WebSocket
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from vexport.api.http.auth import AuthGate, BrowserGuard
from vexport.auth.authenticator import Authenticator
from vexport.auth.directory import Directory
from vexport.auth.principal import current
from vexport.auth.tokens import MemorySessionTokens, new_token, token_hash
from vexport.config import UserConfig

TOKEN = new_token("vxt_")


def _app() -> FastAPI:
    app = FastAPI()
    directory = Directory(
        [UserConfig(name="ops", roles=["viewer"], tokens=[token_hash(TOKEN)])], []
    )
    authenticator = Authenticator(
        directory,
        MemorySessionTokens(),
        session_ttl=timedelta(hours=1),
        renew_window=timedelta(hours=1),
    )
    app.add_middleware(AuthGate, authenticator=authenticator, open_routes=["/healthz"])
    app.add_middleware(BrowserGuard, allowed_origins=["https://ops.example"])

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/whoami")
    async def whoami() -> dict[str, str | None]:
        principal = current()
        return {"user": principal.name if principal else None}

    @app.websocket("/live")
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        principal = current()
        await websocket.send_text(principal.name if principal else "-")
        await websocket.close()

    return app


def test_routes_added_after_the_gate_are_covered_websockets_too() -> None:
    with TestClient(_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/whoami").status_code == 401
        auth = {"authorization": f"Bearer {TOKEN}"}
        assert client.get("/whoami", headers=auth).json() == {"user": "ops"}
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/live"):
            pass
        assert closed.value.code == 1008
        with client.websocket_connect("/live", headers=auth) as websocket:
            assert websocket.receive_text() == "ops"
        with client.websocket_connect(
            "/live", headers={**auth, "origin": "https://ops.example"}
        ) as websocket:
            assert websocket.receive_text() == "ops"
        # Cross-site websocket hijacking: another page's origin is closed before accepting.
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("/live", headers={**auth, "origin": "https://evil.example"}),
        ):
            pass
        assert closed.value.code == 1008
