"""The deployment files say what the code does: a valid configuration, real commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vexport.cli import app
from vexport.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_scaled_out_configuration_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEXPORT_S3__ACCESS_KEY", "key")
    monkeypatch.setenv("VEXPORT_S3__SECRET_KEY", "secret")
    settings = load_settings(ROOT / "deploy" / "vexport.toml")
    assert settings.jobs.executor == "celery" and settings.results.store == "s3"
    compose = (ROOT / "compose.yaml").read_text()
    agents = re.findall(r'"--access-point", "([^"]+)"', compose)
    assert sorted(agents) == sorted(a.access_point for a in settings.agents)
    assert compose.count('command: ["serve"') == 2  # two API replicas


@pytest.mark.parametrize(
    ("unit", "command"),
    [("vexport-api.service", "serve"), ("vexport-agent@.service", "agent")],
)
def test_the_systemd_units_use_options_that_exist(unit: str, command: str) -> None:
    text = (ROOT / "deploy" / "systemd" / unit).read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    assert f"/vexport {command} " in line
    options = set(re.findall(r"(--[a-z-]+)", line))
    helped = CliRunner().invoke(app, [command, "--help"], terminal_width=200).output
    for option in options:
        assert option in helped, (unit, option)


def test_the_image_builds_the_generated_code_it_needs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    # setup.py generates the gRPC code while the wheel is built (tests/packaging proves it).
    assert "COPY pyproject.toml setup.py" in dockerfile and "build --wheel" in dockerfile
    assert 'ENTRYPOINT ["vexport"]' in dockerfile
