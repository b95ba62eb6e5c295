"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with their assets served by vexport itself.

FastAPI's defaults load both from a CDN, so on a machine without internet
(most camera networks) the pages stay blank. The JavaScript and CSS come from
the ``fastapi-offline`` package (its bundled swagger-ui 5 and redoc 2
builds, under their own licences: Apache-2.0 and MIT) and are served from
``/docs/assets``; nothing on either page reaches for another host (no Google
Fonts either). ReDoc's sidebar credit is an image on its CDN: a
Content-Security-Policy limited to this origin keeps the browser from asking
for it (and for anything else elsewhere), and a style rule hides the empty
frame it would leave.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install_docs"]

ASSETS = "/docs/assets"

# The pages' own inline bootstrap script and styles; ReDoc's search runs in a blob: worker.
_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
))  # fmt: skip
_HIDE_CREDIT = '<style>a[href*="redocly.com"] { display: none; }</style></head>'


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _POLICY
    return page


def _asset_directory() -> str:
    return str(resources.files("fastapi_offline") / "static")


def install_docs(app: FastAPI, *, title: str) -> None:
    """Serve the two documentation pages and their assets (the app has docs_url=None)."""
    app.mount(ASSETS, StaticFiles(directory=_asset_directory()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local_only(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{title}: API",
                swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
                oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            )
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title}: API reference",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        html = bytes(page.body).decode().replace("</head>", _HIDE_CREDIT, 1)
        return _local_only(HTMLResponse(html))
