"""Operations: /metrics moves with real exports, health and readiness, the access log,
log formats, one-line startup errors and quiet library loggers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import ARCHIVE_START, CAMERA
from tests.api.harness import RunningServer, free_port
from tests.api.options import archive_clip
from tests.api.test_http_sessions import options_json, wait_done
from vexport.api.http.operations import operations_router
from vexport.logs import JsonFormatter, configure
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        yield http


def test_metrics_counters_move_with_a_real_export(
    server: RunningServer, client: httpx.Client
) -> None:
    before = scrape(client)
    start = ARCHIVE_START + timedelta(seconds=1)
    answer = client.post(
        "/api/v1/sessions",
        json=options_json(archive_clip(CAMERA, start, start + timedelta(seconds=2))),
    )
    assert answer.status_code == 201, answer.text
    session_id = answer.json()["session_id"]
    state = wait_done(client, session_id)
    assert state["result"]["succeeded"], state
    file = state["result"]["files"][0]
    body = client.get(f"/api/v1/sessions/{session_id}/files/{file['path']}").content
    assert client.get("/api/v1/sessions/no-such-session").status_code == 404
    with pytest.raises(Exception) as failure:
        server.stub().GetSessionState(spb.GetSessionStateRequest(session_id="no-such-session"))
    assert "NOT_FOUND" in str(failure.value)
    after = scrape(client)

    kind = {"kind": "archive_clip"}
    assert value(after, "vexport_exports_started_total", **kind) == (
        value(before, "vexport_exports_started_total", **kind) + 1
    )
    finished = {"kind": "archive_clip", "outcome": "succeeded"}
    assert value(after, "vexport_exports_finished_total", **finished) == (
        value(before, "vexport_exports_finished_total", **finished) + 1
    )
    assert value(after, "vexport_export_duration_seconds_count", **kind) == (
        value(before, "vexport_export_duration_seconds_count", **kind) + 1
    )
    assert value(after, "vexport_export_duration_seconds_sum", **kind) > value(
        before, "vexport_export_duration_seconds_sum", **kind
    )
    assert value(after, "vexport_downloaded_bytes_total", api="http") == (
        value(before, "vexport_downloaded_bytes_total", api="http") + len(body)
    )
    for api in ("http", "grpc"):
        labels = {"api": api, "code": "NOT_FOUND"}
        assert value(after, "vexport_errors_total", **labels) == (
            value(before, "vexport_errors_total", **labels) + 1
        )
    for agent in server.settings.agents:
        for state_name in ("queued", "running"):
            key = ("vexport_queue_depth", (("agent", agent.access_point), ("state", state_name)))
            assert key in after, key
    assert value(after, "vexport_queue_depth",
                 agent=server.settings.agents[0].access_point, state="running") == 0  # fmt: skip


def test_healthz_and_readyz(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "results": "ok"}}


def test_readyz_is_503_naming_the_failed_and_the_hung_check() -> None:
    release = threading.Event()

    def broken() -> None:
        raise ConnectionError("the job database does not answer (OperationalError)")

    app = FastAPI()
    app.include_router(
        operations_router(
            {"database": broken, "results": lambda: None, "slow": lambda: release.wait(5) and None},
            timeout=0.2,
        )
    )

    async def probe() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get("/readyz")

    try:
        answer = asyncio.run(probe())
    finally:
        release.set()
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "unavailable",
        "checks": {
            "database": "the job database does not answer (OperationalError)",
            "results": "ok",
            "slow": "no answer within 0.2 s",
        },
    }


def test_access_log_has_no_query_or_authorization(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="vexport.access"):
        answer = client.get(
            "/api/v1/sessions?page_token=SECRET-TOKEN",
            headers={"Authorization": "Bearer SECRET-BEARER"},
        )
        # the line is written once the response is sent; wait for it in the log
        for _ in range(100):
            if any(r.name == "vexport.access" for r in caplog.records):
                break
            threading.Event().wait(0.05)
    (record,) = [r for r in caplog.records if r.name == "vexport.access"]
    assert answer.status_code in (200, 400)
    assert record.method == "GET"  # type: ignore[attr-defined]
    assert record.path == "/api/v1/sessions"  # type: ignore[attr-defined]
    assert record.status == answer.status_code  # type: ignore[attr-defined]
    assert record.client.startswith("127.0.0.1:")  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
    assert "SECRET" not in record.getMessage()
    assert "SECRET" not in JsonFormatter().format(record)


def test_json_log_lines_carry_the_fields() -> None:
    record = logging.LogRecord("vexport.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.status = 200
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /x"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "vexport.access"
    assert entry["status"] == 200
    assert entry["time"].endswith("+00:00")


def test_library_loggers_are_held_at_warning() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure("debug", "text")
        for name in ("fontTools.subset", "PIL.PngImagePlugin", "botocore.endpoint", "fpdf.output"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger("vexport.jobs").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


# -- the command line: one line and an exit code, never a traceback ---------------


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VEXPORT_")}
    environment.update(
        VEXPORT_SERVER__DATA_DIR=str(tmp_path / "var"),
        VEXPORT_SERVER__GRPC="127.0.0.1:0",
        VEXPORT_SERVER__HTTP="127.0.0.1:0",
        VEXPORT_DEMO__ENABLED="false",
    )
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "vexport", "serve", *args],
        env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VEXPORT_SESSIONS__MAX_RUNNING": "0"},
         "invalid configuration: sessions.max_running: Input should be greater than or equal to 1"),
        ({"VEXPORT_SESSIONS__RETENTION": "forever"}, "invalid configuration: sessions.retention"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = _serve(tmp_path, **env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"vexport: error: {message}"), result.stderr


def test_a_bad_config_file_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text("[server]\nno_such_key = 1\n")
    result = _serve(tmp_path, "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "vexport: error: invalid configuration: server.no_such_key: Extra inputs are not permitted"
    ]
    missing = _serve(tmp_path, "--config", str(tmp_path / "missing.toml"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"vexport: error: configuration file {tmp_path / 'missing.toml'} does not exist"
    ]


@pytest.mark.parametrize("api", ["GRPC", "HTTP"])
def test_a_port_in_use_is_one_line_with_json_logs(tmp_path: Path, api: str) -> None:
    port = free_port()
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = _serve(
            tmp_path, "--log-format", "json", **{f"VEXPORT_SERVER__{api}": f"127.0.0.1:{port}"}
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1] == (
        f"vexport: error: cannot listen for {api.replace('GRPC', 'gRPC')} on 127.0.0.1:{port}: "
        "Address already in use"
    ), result.stderr
    for line in lines[:-1]:  # everything before the verdict is a JSON log line
        assert "level" in json.loads(line), line
