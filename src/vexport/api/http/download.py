"""Result files over HTTP: Range, conditional requests, the right headers.

The file is found by the session's own list of files (``open_download``), never
by joining the URL onto a directory, so no request can name a path outside the
result store. Starlette's ``FileResponse`` does the byte serving: single and
multiple ranges, suffix and open ranges, ``If-Range``, ``HEAD`` and 416 with
``Content-Range: bytes */size``; a malformed ``Range`` gets its 400.

The ETag is the file's SHA-256 (which the session already lists), a strong
validator that survives restarts and copies, unlike one derived from mtime.
"""

from __future__ import annotations

import asyncio
import mimetypes
from pathlib import PurePosixPath

from fastapi import Request, Response
from starlette.responses import FileResponse

from vexport.sessions.model import ResultFile
from vexport.sessions.service import SessionService


def _etag(file: ResultFile) -> str:
    return f'"{file.sha256}"'


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    candidates = (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
    return etag in candidates


async def file_response(
    service: SessionService, session_id: str, file_id: str, request: Request
) -> Response:
    file, path = await asyncio.to_thread(service.open_download, session_id, file_id)
    etag = _etag(file)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    media_type = file.mime_type or mimetypes.guess_type(file_id)[0] or "application/octet-stream"
    return FileResponse(
        path,
        media_type=media_type,
        filename=PurePosixPath(file_id).name,
        headers={"ETag": etag, "Cache-Control": "private, no-transform"},
    )
