"""The operator page's assets: served from the package, with their types, ETags and CSP."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import httpx

from tests.api.harness import RunningServer

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "vexport" / "web"


def test_the_page_and_its_modules_are_served_with_a_strict_policy(server: RunningServer) -> None:
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert '<script type="module" src="/web/app.js">' in page.text
        for name, kind in (("app.js", "text/javascript"), ("api.js", "text/javascript"),
                           ("mask.js", "text/javascript"), ("login.js", "text/javascript"),
                           ("app.css", "text/css")):  # fmt: skip
            asset = client.get(f"/web/{name}")
            assert asset.status_code == 200, name
            assert asset.headers["content-type"].startswith(kind)
            assert asset.content == (WEB / name).read_bytes()
            again = client.get(f"/web/{name}", headers={"If-None-Match": asset.headers["etag"]})
            assert again.status_code == 304
        missing = client.get("/web/../config.py")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "NOT_FOUND"
        assert client.get("/web/nothing.js").json()["error"]["code"] == "NOT_FOUND"


def test_no_asset_loads_anything_from_another_host() -> None:
    for path in WEB.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path.name


def test_every_asset_is_in_the_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["vexport"]
    for path in WEB.iterdir():
        name = f"web/{path.name}"
        assert any(fnmatch(name, pattern) for pattern in globs), name
