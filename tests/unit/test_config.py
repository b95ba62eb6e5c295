from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from vexport.config import DEFAULT_AGENT, load_settings


def test_no_file_means_embedded_default_with_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEXPORT_CONFIG", raising=False)
    settings = load_settings()
    assert settings.demo.enabled
    assert [a.access_point for a in settings.agents] == [DEFAULT_AGENT]
    assert settings.sessions.watchdog_live_clip == timedelta(minutes=5)
    assert settings.sessions.watchdog == timedelta(minutes=30)
    assert settings.sessions.retention == timedelta(hours=1)
    assert settings.database_url.startswith("sqlite:///")


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text(
        """
[sessions]
retention = "10m"
max_running = 2

[[agents]]
access_point = "hosts/a/MMExportAgent.1"

[[sources]]
origin = "cam"
live = "rtsp://camera.example/stream"
  [[sources.archives]]
  storage = "main"
  url = "file:///srv/cam/index.m3u8"
"""
    )
    monkeypatch.setenv("VEXPORT_SESSIONS__MAX_RUNNING", "7")
    settings = load_settings(config)
    assert not settings.demo.enabled
    assert settings.sessions.retention == timedelta(minutes=10)
    assert settings.sessions.max_running == 7
    assert settings.sources[0].archives[0].url == "file:///srv/cam/index.m3u8"


def test_unknown_keys_and_bad_values_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text('[sessions]\nretention = "soon"\n')
    with pytest.raises(ValidationError, match="retention"):
        load_settings(config)
    config.write_text("[sesions]\nretention = 1\n")
    with pytest.raises(ValidationError, match="sesions"):
        load_settings(config)
