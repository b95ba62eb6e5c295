"""The operator page with authentication on, in a real headless Chromium.

The walk of an operator on a server that needs a login: ``/`` shows the
login form (focus in its first field), a wrong password shows the server's
reason in the form, the right one shows the cameras without a reload; a
short MP4 export reaches 100 %, "Verify" shows the server's verdict on its
signed manifest ("verified" for the clip); "Log out" ends the token and the
form is back. Screenshots go to ``test-artifacts/operator-login/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.harness import RunningServer, make_settings, running_server
from tests.browser import chromium
from vexport.auth.passwords import hash_password

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "operator-login"
DEMO = "demo/camera1"
USER = "olive"
PASSWORD = "olive operates the cameras"
CLIP_SECONDS = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    user = {"name": USER, "roles": ["exporter"], "password_hash": hash_password(PASSWORD)}
    settings = make_settings(
        tmp_path_factory.mktemp("data"),
        demo={"enabled": True},
        evidence={"manifest": True},
        auth={"enabled": True, "users": [user]},
    )
    with running_server(settings) as running:
        yield running


def _token(server: RunningServer) -> str:
    answer = httpx.post(
        f"{server.http_url}/v1/authentication/authenticate_ex2",
        json={"user_name": USER, "password": PASSWORD},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token_value"])  # "Bearer <token>"


def _recorded(server: RunningServer, seconds: float) -> dict[str, Any]:
    """The demo archive's first interval, once it holds ``seconds`` of video."""
    headers = {"Authorization": _token(server)}
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(
            f"{server.http_url}/api/v1/origins/{DEMO}/intervals", headers=headers, timeout=10
        )
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


def test_an_operator_logs_in_exports_verifies_and_logs_out(server: RunningServer) -> None:
    # Unauthenticated, the API refuses and the page's own code is served.
    assert httpx.get(f"{server.http_url}/api/v1/origins", timeout=10).status_code == 401
    assert httpx.get(f"{server.http_url}/", timeout=10).status_code == 200
    recorded = _recorded(server, CLIP_SECONDS + 2)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server.http_url}/")

        # The form, opened by the first 401, with the focus in the user name.
        page.wait_for_selector("#login", state="visible")
        assert page.evaluate("document.activeElement.id") == "login-user"
        assert page.get_by_label("User name").is_visible()
        assert page.get_by_label("Password").is_visible()
        assert page.locator("#origin option").count() == 0
        _shot(page, "1-login")
        for _ in range(2):  # Escape does not leave the page without a login
            page.keyboard.press("Escape")
        page.wait_for_selector("#login", state="visible")
        page.focus("#login-user")

        # A wrong password, typed and sent with the keyboard: the server's reason in the form.
        page.keyboard.type(USER)
        page.keyboard.press("Tab")
        page.keyboard.type("not the password")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "document.querySelector('#login-error').textContent === 'wrong user name or password'"
        )
        assert page.locator("#login").is_visible()
        _shot(page, "2-wrong-password")

        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#login", state="hidden")
        page.wait_for_selector(f"#origin option[value='{DEMO}']", state="attached")
        assert page.text_content("#user") == f"Logged in as {USER}"
        assert page.evaluate("sessionStorage.getItem('vexport.token')").startswith("vxs_")
        _shot(page, "3-cameras")

        begin = datetime.fromisoformat(recorded["begin"]) + timedelta(seconds=1)
        end = begin + timedelta(seconds=CLIP_SECONDS)
        page.wait_for_selector("#timeline .recorded")  # the page's own default range is set
        page.fill("#start", begin.isoformat())
        page.dispatch_event("#start", "change")
        page.fill("#end", end.isoformat())
        page.dispatch_event("#end", "change")
        assert page.text_content("#range-info").startswith(f"{CLIP_SECONDS:.1f} s")
        page.select_option("#format", "MP4")
        page.click("#export")
        page.wait_for_function(
            "document.querySelector('#export-status').textContent.startsWith('Export started')"
        )
        done = page.locator("#sessions tr", has_text="100%").filter(has=page.locator("progress"))
        done.first.wait_for(timeout=60_000)
        _shot(page, "4-exported")

        done.first.get_by_role("button", name="verify session").click()
        page.wait_for_function(
            "document.querySelector('#verification-status').textContent.startsWith('Verified')",
            timeout=20_000,
        )
        clip = page.locator("#verification-files tr[data-file$='.mp4']")
        assert clip.count() == 1
        assert clip.locator("td.verdict").text_content() == "verified"
        verdicts = page.locator("#verification-files td.verdict").all_text_contents()
        assert verdicts and set(verdicts) == {"verified"}, verdicts
        _shot(page, "5-verified")

        # Again with the archive check: every copied packet compared with the recorded segment.
        page.check("#verify-archive")
        done.first.get_by_role("button", name="verify session").click()
        page.wait_for_function(
            "document.querySelector('#verification-status').textContent.startsWith('Verified')"
            " && document.querySelector('#verification-files tr')",
            timeout=30_000,
        )
        details = clip.locator("td").nth(3).text_content() or ""
        assert clip.locator("td.verdict").text_content() == "verified"
        assert details.startswith("archive: "), details
        _shot(page, "6-verified-archive")

        # Log out: the token is closed on the server and the form is back.
        token = page.evaluate("sessionStorage.getItem('vexport.token')")
        page.click("#logout")
        page.wait_for_selector("#login", state="visible")
        assert page.evaluate("sessionStorage.getItem('vexport.token')") is None
        closed = httpx.get(
            f"{server.http_url}/api/v1/origins",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert closed.status_code == 401, closed.text
        _shot(page, "7-logged-out")
        assert not errors, errors
