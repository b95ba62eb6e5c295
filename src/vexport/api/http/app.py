"""The FastAPI application: the session routes, error handling, extra routers.

Built around the process's one ``JobService``; other parts of the service
(the export-to-s3dir workflow) hand their routers in rather than this module
importing them, so the session mirror depends on nothing but the sessions.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

import vexport
from vexport.api.contract import ExportContract
from vexport.api.http.access import AccessLog
from vexport.api.http.docs import install_docs
from vexport.api.http.errors import install_error_handlers
from vexport.api.http.limits import BodySizeLimit
from vexport.api.http.schema import use_message_schemas
from vexport.api.http.sessions import SCHEMAS, sessions_router
from vexport.jobs.service import JobService


def create_app(
    service: JobService, contract: ExportContract, *, routers: Sequence[APIRouter] = ()
) -> FastAPI:
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
    app.add_middleware(BodySizeLimit)
    app.add_middleware(AccessLog)  # outermost: it sees every answer, refusals included
    app.include_router(sessions_router(service, contract))
    for router in routers:
        app.include_router(router)
    return app
