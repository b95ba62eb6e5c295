from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.api.harness import RunningServer, make_settings, running_server
from tests.media_fixtures import make_hls_archive

ARCHIVE_START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ARCHIVE_SECONDS = 12.0
FPS = 25
CAMERA = "hosts/test/DeviceIpint.1/SourceEndpoint.video:0:0"
CAMERA2 = "hosts/test/DeviceIpint.2/SourceEndpoint.video:0:0"
STORAGE = "hosts/test/MultimediaStorage.Main/MultimediaStorage"
LIVE = "hosts/test/DeviceIpint.9/SourceEndpoint.video:0:0"
AGENT2 = "hosts/test/MMExportAgent.2"


@pytest.fixture(scope="session")
def archive_playlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("archive")
    return make_hls_archive(directory, ARCHIVE_START, ARCHIVE_SECONDS)


@pytest.fixture(scope="session")
def flat_archive_playlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive with flat frames, for tests of what is drawn on them (text, masks)."""
    directory = tmp_path_factory.mktemp("flat-archive")
    return make_hls_archive(directory, ARCHIVE_START, ARCHIVE_SECONDS, pattern="flat")


def sources(playlist: Path) -> list[dict[str, object]]:
    return [
        {"origin": CAMERA, "archives": [{"storage": STORAGE, "url": playlist.as_uri()}]},
        {"origin": CAMERA2, "archives": [{"storage": STORAGE, "url": playlist.as_uri()}]},
        {"origin": LIVE, "live": "lavfi:testsrc2=size=320x180:rate=25"},
    ]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, archive_playlist: Path
) -> Iterator[RunningServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("data"),
        sources=sources(archive_playlist),
        agents=[
            {"access_point": "hosts/test/MMExportAgent.1"},
            {"access_point": AGENT2, "max_running": 1, "max_queued": 1},
        ],
    )
    with running_server(settings) as running:
        yield running
