"""Live progress: server-sent events of a session's state and of the session list.

``GET /api/v1/sessions/{id}/events`` sends the session's ``State`` whenever
it changes and ends after ``S_COMPLETED``; ``GET /api/v1/sessions/events``
sends the newest sessions, then each one that starts or changes. The page
uses them instead of polling (``docs/api.md``, "Live progress").

The job store has no change notifications (scaled out, a change may come
from any node), so each stream reads the store from a thread every
``POLL_SECONDS`` and sends only what changed: the event loop never waits
on the database. A comment line every ``HEARTBEAT_SECONDS`` keeps proxies
from closing a quiet stream and tells the server when the client has gone.
A session's stream counts as its client's sign of life (like
``GetSessionState``): a page watching an export keeps it from the watchdog.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from vexport.api.grpc.convert import session_infos, state_message
from vexport.api.http.models import ERROR_RESPONSES, message_json
from vexport.errors import NotFound
from vexport.jobs.model import Job, JobState
from vexport.jobs.service import MAX_PAGE_SIZE, JobService

__all__ = ["events_router"]

POLL_SECONDS = 0.5
"""How often a session's stream reads the store."""

LIST_POLL_SECONDS = 1.0
"""How often the session list's stream reads the first page."""

HEARTBEAT_SECONDS = 15.0

RETRY_MS = 2000
"""How long a browser's EventSource waits before it reconnects a broken stream."""

_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "a stream of events"}
}


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _state(job: Job) -> dict[str, Any]:
    return {"id": job.id, "state": message_json(state_message(job))}


class _Pacer:
    """Sleeps between reads and says when a heartbeat is due (time read from the loop)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._loop = asyncio.get_running_loop()
        self._last_sent = self._loop.time()

    def sent(self) -> None:
        self._last_sent = self._loop.time()

    async def wait(self) -> str | None:
        await asyncio.sleep(self.interval)
        if self._loop.time() - self._last_sent >= HEARTBEAT_SECONDS:
            self.sent()
            return ": keep-alive\n\n"
        return None


def events_router(service: JobService) -> APIRouter:
    router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"], responses=ERROR_RESPONSES)

    @router.get("/events", response_class=StreamingResponse, responses=_RESPONSES)
    async def session_list_events(
        request: Request, page_size: Annotated[int, Query(ge=0, le=MAX_PAGE_SIZE)] = 0
    ) -> StreamingResponse:
        """``sessions`` (the newest page) first, then ``session`` for each one that starts or
        changes, and ``dropped`` (``{"id"}``) for one no longer on the page."""
        page = await asyncio.to_thread(service.list_page, "", page_size)
        return StreamingResponse(
            _list_stream(service, request, page.jobs, page_size),
            media_type="text/event-stream",
            headers=_HEADERS,
        )

    @router.get("/{session_id}/events", response_class=StreamingResponse, responses=_RESPONSES)
    async def session_events(session_id: str, request: Request) -> StreamingResponse:
        """``state`` (``{"id", "state": State}``) now and on every change; ``end`` after
        ``S_COMPLETED``. Counts as a poll for the watchdog and retention."""
        job = await asyncio.to_thread(service.get_state, session_id)
        return StreamingResponse(
            _session_stream(service, request, job), media_type="text/event-stream", headers=_HEADERS
        )

    return router


async def _session_stream(service: JobService, request: Request, job: Job) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    pacer = _Pacer(POLL_SECONDS)
    last = ""
    while True:
        payload = _state(job)
        text = json.dumps(payload, sort_keys=True)
        if text != last:
            last = text
            pacer.sent()
            yield _event("state", payload)
        if job.state >= JobState.COMPLETED:
            yield _event("end", {"id": job.id})
            return
        beat = await pacer.wait()
        if beat is not None:
            yield beat
        if await request.is_disconnected():
            return
        try:
            job = await asyncio.to_thread(service.get_state, job.id)
        except NotFound:  # forgotten meanwhile
            yield _event("end", {"id": job.id})
            return


async def _list_stream(
    service: JobService, request: Request, jobs: list[Job], page_size: int
) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    infos = {info.session.id: message_json(info) for info in session_infos(jobs)}
    seen = {key: json.dumps(info, sort_keys=True) for key, info in infos.items()}
    yield _event("sessions", {"sessions": list(infos.values())})
    pacer = _Pacer(LIST_POLL_SECONDS)
    while True:
        beat = await pacer.wait()
        if beat is not None:
            yield beat
        if await request.is_disconnected():
            return
        page = await asyncio.to_thread(service.list_page, "", page_size)
        current: dict[str, str] = {}
        # Oldest first, so a client can prepend; a row that cannot be shown is left out.
        for shown in reversed(session_infos(page.jobs)):
            info = message_json(shown)
            text = current[shown.session.id] = json.dumps(info, sort_keys=True)
            if seen.get(shown.session.id) != text:
                pacer.sent()
                yield _event("session", info)
        for gone in seen.keys() - current.keys():
            pacer.sent()
            yield _event("dropped", {"id": gone})
        seen = current
