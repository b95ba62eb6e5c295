from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from vexport.config import DEFAULT_AGENT, load_settings
from vexport.sources.catalog import Catalog


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


def test_rtsp_transport_per_source(tmp_path: Path) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text(
        """
[[sources]]
origin = "lan"
live = "rtsp://10.0.0.7/stream1"
rtsp_transport = "udp"

[[sources]]
origin = "nat"
live = "rtsp://camera.example/stream1"
"""
    )
    settings = load_settings(config)
    catalog = Catalog(settings.sources)
    assert catalog.get("lan").rtsp_transport == "udp"
    assert catalog.get("nat").rtsp_transport == "tcp"  # the default: works through NAT


@pytest.mark.parametrize(
    ("live", "transport", "reason"),
    [
        ("rtsp://cam/1", "multicast", "rtsp_transport"),
        ("http://cam/live.m3u8", "udp", "rtsp:// live URL only"),
        (None, "tcp", "rtsp:// live URL only"),
        ("rtsps://cam/1", "udp", "TLS"),
    ],
)
def test_rtsp_transport_is_checked(
    tmp_path: Path, live: str | None, transport: str, reason: str
) -> None:
    config = tmp_path / "vexport.toml"
    live_line = f'live = "{live}"\n' if live else ""
    config.write_text(f'[[sources]]\norigin = "cam"\n{live_line}rtsp_transport = "{transport}"\n')
    with pytest.raises(ValidationError, match=reason):
        load_settings(config)


def test_live_connect_timeout(tmp_path: Path) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text('[sessions]\nlive_connect_timeout = "4s"\n')
    assert load_settings(config).sessions.live_connect_timeout == timedelta(seconds=4)


def test_explicit_values_beat_the_environment_which_beats_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text('[sessions]\nmax_running = 2\nretention = "10m"\nwatchdog = "20m"\n')
    monkeypatch.setenv("VEXPORT_SESSIONS__MAX_RUNNING", "7")
    monkeypatch.setenv("VEXPORT_SESSIONS__RETENTION", "15m")
    settings = load_settings(config, sessions={"max_running": 3})
    assert settings.sessions.max_running == 3  # explicit over environment
    assert settings.sessions.retention == timedelta(minutes=15)  # environment over file
    assert settings.sessions.watchdog == timedelta(minutes=20)  # file over default
    assert settings.sessions.watchdog_live_clip == timedelta(minutes=5)  # default


def test_the_demo_default_yields_to_an_explicit_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEXPORT_CONFIG", raising=False)
    assert not load_settings(None, demo={"enabled": False}).demo.enabled
    monkeypatch.setenv("VEXPORT_DEMO__ENABLED", "false")
    assert not load_settings(None).demo.enabled


SECTIONS = [
    "server", "sessions", "demo", "media", "s3", "results", "export_to_s3dir", "jobs",
]  # fmt: skip


@pytest.mark.parametrize("section", SECTIONS)
def test_an_unknown_key_is_refused_in_every_section(tmp_path: Path, section: str) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text(f"[{section}]\nno_such_key = 1\n")
    with pytest.raises(ValidationError, match=rf"{section}\.no_such_key"):
        load_settings(config)


@pytest.mark.parametrize(
    ("table", "entry"),
    [
        ("agents", 'access_point = "a"\nmax_runing = 2'),
        ("sources", 'origin = "cam"\nlife = "rtsp://x"'),
    ],
)
def test_an_unknown_key_is_refused_in_list_entries(tmp_path: Path, table: str, entry: str) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text(f"[[{table}]]\n{entry}\n")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        load_settings(config)


def test_an_unknown_key_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEXPORT_SESSIONS__RETENTOIN", "10m")
    with pytest.raises(ValidationError, match=r"sessions\.retentoin"):
        load_settings(None)
