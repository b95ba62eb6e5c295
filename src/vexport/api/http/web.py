"""The operator page at ``/`` and its assets under ``/web/`` (``docs/design/operator.md``).

Plain HTML, CSS and ES modules shipped in the package (``vexport/web/``): no
CDN, no build step. They are read once when the app is built and served from
memory, so a request never touches the disk, with an ETag of their content
and a Content-Security-Policy that allows nothing but this server (pictures
and clips the page fetched itself come as ``data:`` and ``blob:`` URLs).
"""

from __future__ import annotations

import hashlib
from importlib.resources import files

from fastapi import APIRouter, Request, Response

from vexport.errors import NotFound

__all__ = ["web_router"]

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def _assets() -> dict[str, tuple[bytes, str, str]]:
    """name -> (content, content type, ETag), read once."""
    found: dict[str, tuple[bytes, str, str]] = {}
    for entry in files("vexport").joinpath("web").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            data = entry.read_bytes()
            found[entry.name] = (data, _TYPES[suffix], f'"{hashlib.sha256(data).hexdigest()[:32]}"')
    return found


def web_router() -> APIRouter:
    assets = _assets()
    router = APIRouter(include_in_schema=False)

    def serve(name: str, request: Request) -> Response:
        if name not in assets:
            raise NotFound(f"no page asset {name!r}")
        data, media_type, etag = assets[name]
        headers = {
            "ETag": etag,
            "Cache-Control": "no-cache",  # revalidated: a new version shows at once
            "Content-Security-Policy": POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=media_type, headers=headers)

    @router.get("/")
    async def page(request: Request) -> Response:
        return serve("index.html", request)

    @router.get("/web/{name}")
    async def asset(name: str, request: Request) -> Response:
        return serve(name, request)

    return router
