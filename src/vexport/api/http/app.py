"""The FastAPI application: the session routes, error handling, extra routers.

Built around the process's one ``JobService``; other parts of the service
(the export-to-s3dir workflow) hand their routers in rather than this module
importing them, so the session mirror depends on nothing but the sessions.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

import vexport
from vexport.api.contract import ExportContract
from vexport.api.http.access import AccessLog
from vexport.api.http.auth import AuthGate, BrowserGuard, auth_router
from vexport.api.http.docs import install_docs
from vexport.api.http.errors import install_error_handlers
from vexport.api.http.events import events_router
from vexport.api.http.limits import BodySizeLimit
from vexport.api.http.schema import use_message_schemas
from vexport.api.http.sessions import SCHEMAS, sessions_router
from vexport.auth.authenticator import Authenticator
from vexport.jobs.service import JobService


def create_app(
    service: JobService,
    contract: ExportContract,
    *,
    routers: Sequence[APIRouter] = (),
    authenticator: Authenticator | None = None,
    open_routes: Sequence[str] = (),
    browser_origins: Sequence[str] = (),
) -> FastAPI:
    """The app; with ``authenticator``, every route but ``open_routes`` needs a token.

    The checks are middleware around the whole app (``api/http/auth.py``), so a
    router added here or later is covered without declaring anything.
    """
    app = FastAPI(
        title="vexport",
        version=getattr(vexport, "__version__", "0"),
        description="Video export sessions over HTTP: a mirror of the gRPC ExportService.",
        docs_url=None,  # served by install_docs with local assets
        redoc_url=None,
    )
    install_docs(app, title="vexport")
    use_message_schemas(app, SCHEMAS)
    install_error_handlers(app)
    # Added last runs first: access log, size limit, CORS, browser checks, authentication.
    if authenticator is not None:
        app.add_middleware(AuthGate, authenticator=authenticator, open_routes=open_routes)
    app.add_middleware(BrowserGuard, allowed_origins=browser_origins)
    if browser_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(browser_origins),
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Range", "If-None-Match"],
            expose_headers=["Content-Range", "Content-Disposition", "ETag", "Location"],
        )
    app.add_middleware(BodySizeLimit)
    app.add_middleware(AccessLog)  # outermost: it sees every answer, refusals included
    app.include_router(auth_router(authenticator))
    # Before the session routes: ``/api/v1/sessions/events`` is not a session id.
    app.include_router(events_router(service))
    app.include_router(sessions_router(service, contract))
    for router in routers:
        app.include_router(router)
    return app
