"""The operator page in a real headless Chromium, against a real server with the demo camera.

One walk, as an operator would: open ``/``, pick the demo camera, see its
recorded range and thumbnails on the timeline, preview a range, draw a mask
on its first frame, start an MP4 export with a timestamp, watch its
progress reach 100 % without reloading, download the file and probe it.
A screenshot of each step goes to ``test-artifacts/operator-page/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.api.harness import RunningServer, make_settings, running_server
from tests.browser import chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "operator-page"
DEMO = "demo/camera1"
CLIP_SECONDS = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(tmp_path_factory.mktemp("data"), demo={"enabled": True})
    with running_server(settings) as running:
        yield running


def _recorded(server: RunningServer, seconds: float) -> dict[str, Any]:
    """The demo archive's first interval, once it holds ``seconds`` of video."""
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(f"{server.http_url}/api/v1/origins/{DEMO}/intervals", timeout=10)
        if answer.status_code == 200 and answer.json()["intervals"]:
            first = answer.json()["intervals"][0]
            length = datetime.fromisoformat(first["end"]) - datetime.fromisoformat(first["begin"])
            if length.total_seconds() >= seconds:
                return dict(first)
        if time.monotonic() > deadline:
            raise AssertionError(f"the demo camera recorded too little: {answer.text}")
        time.sleep(0.5)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_an_operator_finds_previews_masks_exports_and_downloads(
    server: RunningServer, tmp_path: Path
) -> None:
    with chromium() as browser:
        recorded = _recorded(server, CLIP_SECONDS + 3)
        # Playwright evaluates its waits as strings, which the page's CSP (no eval) refuses.
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server.http_url}/")
        page.wait_for_selector(f"#origin option[value='{DEMO}']", state="attached")
        page.select_option("#origin", DEMO)
        page.wait_for_function("document.querySelector('#day').options.length > 0")
        _shot(page, "1-camera")

        # The timeline: the recorded range as a bar, and thumbnails decoded by the browser.
        page.wait_for_selector("#timeline .recorded")
        page.wait_for_function(
            "[...document.querySelectorAll('#thumbnails img')]"
            ".some(img => img.complete && img.naturalWidth === 160)"
        )
        _shot(page, "2-timeline")

        begin = datetime.fromisoformat(recorded["begin"]) + timedelta(seconds=1)
        end = begin + timedelta(seconds=CLIP_SECONDS)
        page.fill("#start", begin.isoformat())
        page.dispatch_event("#start", "change")
        page.fill("#end", end.isoformat())
        page.dispatch_event("#end", "change")
        page.click("#preview")
        page.wait_for_function(
            "document.querySelector('#preview-status').textContent === 'Preview ready.'",
            timeout=30_000,
        )
        page.wait_for_function("document.querySelector('#player').readyState >= 1")
        duration = page.evaluate("document.querySelector('#player').duration")
        assert abs(duration - CLIP_SECONDS) < 0.2
        _shot(page, "3-preview")

        # A triangle drawn on the first frame of the range.
        page.wait_for_function("document.querySelector('#mask-canvas').height > 0")
        canvas = page.locator("#mask-canvas")
        box = canvas.bounding_box()
        assert box is not None
        for x, y in ((0.1, 0.1), (0.5, 0.1), (0.3, 0.6)):
            canvas.click(position={"x": box["width"] * x, "y": box["height"] * y})
        page.click("#mask-close")
        polygon = page.input_value("#mask-text").split()
        assert len(polygon) == 3
        assert [float(v) for v in polygon[0].split(",")] == pytest.approx([0.1, 0.1], abs=0.01)
        _shot(page, "4-mask")

        page.select_option("#format", "MP4")
        page.check("#timestamp")
        page.evaluate("window.notReloaded = true")
        page.click("#export")
        page.wait_for_function(
            "document.querySelector('#export-status').textContent.startsWith('Export started')"
        )
        done = page.locator("#sessions tr", has_text="100%").filter(has=page.locator("progress"))
        done.first.wait_for(timeout=60_000)
        assert page.evaluate("window.notReloaded") is True
        session_id = done.first.get_attribute("data-session")
        _shot(page, "5-progress")

        with page.expect_download() as waiting:
            done.first.locator("button", has_text="Download").click()
        saved = tmp_path / "clip.mp4"
        waiting.value.save_as(saved)
        _shot(page, "6-downloaded")
        page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, portrait
        _shot(page, "7-tablet")
        assert not errors, errors

    with av.open(str(saved)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (320, 180)
        assert container.duration is not None
        assert abs(container.duration / 1_000_000 - CLIP_SECONDS) < 0.2
    state = httpx.get(f"{server.http_url}/api/v1/sessions/{session_id}", timeout=10).json()
    processing = state["state"]["processing"]
    assert "privacy mask" in processing and "text" in processing, processing
    options = state["session"]["options"]
    assert {"timestamp_format": "%Y-%m-%d %H:%M:%S"} in options["settings"]
