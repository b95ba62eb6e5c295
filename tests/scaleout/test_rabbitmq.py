"""RabbitMQ as the broker: a replica publishes to the machine's RabbitMQ, an agent runs it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kombu import Connection

from tests.api.harness import download, make_settings, running_server, start_session, wait_completed
from tests.api.options import archive_clip
from tests.media_fixtures import make_hls_archive

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
AGENT = "hosts/test/MMExportAgent.1"
CAMERA = "hosts/test/DeviceIpint.1/SourceEndpoint.video:0:0"
START = datetime(2026, 1, 1, 12, tzinfo=UTC)

pytestmark = pytest.mark.slow


@pytest.fixture
def prefix() -> Iterator[str]:
    """A queue name of this run's own on the shared RabbitMQ, deleted afterwards."""
    prefix = f"vexport-test-{uuid.uuid4().hex[:8]}."
    yield prefix
    with Connection(BROKER, connect_timeout=5) as connection:
        connection.default_channel.queue_delete(prefix + AGENT)


def test_an_agent_on_rabbitmq_runs_what_a_replica_publishes(tmp_path: Path, prefix: str) -> None:
    playlist = make_hls_archive(tmp_path / "archive", START, 4.0)
    data = tmp_path / "data"  # shared: SQLite and the result files, one host
    jobs = {"executor": "celery", "broker_url": BROKER, "queue_prefix": prefix,
            "heartbeat_interval": "0.3s", "heartbeat_timeout": "3s"}  # fmt: skip
    sources = [{"origin": CAMERA, "archives": [{"storage": "main", "url": playlist.as_uri()}]}]
    settings = make_settings(data, jobs=jobs, sources=sources, agents=[{"access_point": AGENT}])
    config = tmp_path / "agent.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [server]
            data_dir = "{data}"
            [jobs]
            executor = "celery"
            broker_url = "{BROKER}"
            queue_prefix = "{prefix}"
            [[agents]]
            access_point = "{AGENT}"
            [[sources]]
            origin = "{CAMERA}"
              [[sources.archives]]
              storage = "main"
              url = "{playlist.as_uri()}"
            """
        )
    )
    log = tmp_path / "agent.log"
    with running_server(settings) as server, log.open("wb") as output:
        agent = subprocess.Popen(
            [sys.executable, "-m", "vexport", "agent", "--config", str(config),
             "--access-point", AGENT, "--node", "rabbit-worker"],
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while " ready." not in log.read_text(errors="replace"):
                assert agent.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            stub = server.stub()
            at = START + timedelta(seconds=1)
            session = start_session(stub, archive_clip(CAMERA, at, at + timedelta(seconds=2)))
            state = wait_completed(stub, session)
            assert state.result.succeeded, state.error + log.read_text()
            body, _ = download(stub, session, state.result.files[0].path)
            assert hashlib.sha256(body).hexdigest() == state.result.files[0].sha256
            assert server.app is not None
            job = server.app.store.get(session)
            assert job is not None and job.owner == "rabbit-worker"
        finally:
            agent.terminate()
            agent.wait(30)
