"""``/healthz``, ``/readyz`` and ``/metrics``: what an orchestrator and Prometheus ask.

Three small routes, each its own, so that an authentication layer can leave
them open (probes and scrapers carry no token) while every API route needs
one. ``/healthz`` answers from the event loop alone: the process is alive
and serving. ``/readyz`` runs the readiness checks (the job database, the
result store) in threads, all at once and each with a time limit, so a
database that hangs makes the replica unready instead of hanging the probe
or the loop. ``/metrics`` renders the registry in a thread too: the queue
depth gauge reads the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from vexport import metrics

__all__ = ["CHECK_TIMEOUT", "Health", "Readiness", "operations_router"]

CHECK_TIMEOUT = 5.0
"""Seconds a readiness check may take before it counts as failed (probes time out at ~10 s)."""

Check = Callable[[], None]
"""Raises when its part is unreachable; the message says why (no secrets, no paths)."""


class Health(BaseModel):
    status: str = Field(description="`ok`")


class Readiness(BaseModel):
    status: str = Field(description="`ok`, or `unavailable` when any check failed")
    checks: dict[str, str] = Field(
        description="each check (`database`, `results`) and `ok` or why it failed"
    )


async def _run(check: Check, timeout: float) -> str:
    try:
        await asyncio.wait_for(asyncio.to_thread(check), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return "ok"


def operations_router(checks: Mapping[str, Check], *, timeout: float = CHECK_TIMEOUT) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health, summary="Liveness: the process serves HTTP")
    async def healthz() -> Health:
        return Health(status="ok")

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "a check failed"}},
        summary="Readiness: the job database and the result store answer",
    )
    async def readyz() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(_run(checks[name], timeout) for name in names))
        outcome = dict(zip(names, results, strict=True))
        ready = all(result == "ok" for result in results)
        body = Readiness(status="ok" if ready else "unavailable", checks=outcome)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
        summary="Prometheus metrics",
    )
    async def prometheus_metrics() -> Response:
        body, content_type = await asyncio.to_thread(metrics.render)
        return Response(body, media_type=content_type)

    return router
