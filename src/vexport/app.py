"""Wiring: build the store, catalog, agents, timers and servers from the settings.

Everything the process runs starts here and stops here, in reverse order, so
a SIGTERM leaves sessions in the store in a state the next start can recover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from pathlib import Path

from fastapi import APIRouter

from vexport.agents.local import LocalPool
from vexport.api.grpc.server import GrpcServer
from vexport.api.http.app import create_app
from vexport.api.http.s3dir import s3dir_router
from vexport.api.http.server import HttpServer
from vexport.config import Settings
from vexport.demo import DemoCamera
from vexport.media.control import SimpleJobControl
from vexport.media.plan import ExportPlan, ProducedFile
from vexport.media.runner import run_export
from vexport.results.local import LocalResultStore
from vexport.results.s3 import S3ResultStore
from vexport.s3dir.jobs import S3DirJobs
from vexport.sessions.job import StoreJobControl, execute_session
from vexport.sessions.service import SessionService
from vexport.sessions.store import SessionStore
from vexport.sources.catalog import Catalog
from vexport.storage import default_reader
from vexport.storage.s3 import S3Reader

log = logging.getLogger(__name__)


class App:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.server.data_dir.mkdir(parents=True, exist_ok=True)
        self.demo: DemoCamera | None = None
        catalog = Catalog(settings.sources)
        if settings.demo.enabled:
            self.demo = DemoCamera(settings.demo, settings.server.data_dir, settings.media.ffmpeg)
            catalog.add(self.demo.source())
        self.store = SessionStore(settings.database_url)
        self.results = LocalResultStore(settings.results_dir)
        self.service = SessionService(settings, self.store, self.results, catalog)
        # One S3 client for archives and results: boto3 clients are thread-safe
        # and keep a connection pool; archive s3:// URLs use the [s3] endpoint.
        s3 = S3Reader(settings.s3_endpoint())
        cloud = None
        if settings.results.s3_bucket is not None:
            cloud = S3ResultStore(s3.client, settings.results.s3_bucket, settings.results.s3_prefix)
        reader = default_reader(s3=s3)

        def export(
            plan: ExportPlan, control: SimpleJobControl, workdir: Path
        ) -> list[ProducedFile]:
            return run_export(
                plan, control, workdir=workdir, reader=reader, ffmpeg=settings.media.ffmpeg
            )

        runner = partial(execute_session, self.store, self.results, export, cloud=cloud)
        for agent in settings.agents:
            self.service.add_executor(
                LocalPool(
                    agent.access_point,
                    runner,
                    max_running=agent.max_running or settings.sessions.max_running,
                    max_queued=(
                        settings.sessions.max_queued
                        if agent.max_queued is None
                        else agent.max_queued
                    ),
                    make_control=lambda sid: StoreJobControl(self.store, sid),
                    on_dequeued_stop=self.service.on_dequeued_stop,
                )
            )
        self.s3dir = S3DirJobs(settings, self.store.engine)
        self.grpc = GrpcServer(self.service, settings.server.grpc)
        self.http = HttpServer(
            create_app(self.service, routers=self._http_routers()), settings.server.http
        )
        self._timer_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.demo is not None:
            self.demo.start()
        self.service.recover()
        await self.grpc.start()
        await self.http.start()
        self._timer_task = asyncio.create_task(self._timers(), name="session-timers")
        log.info("vexport serving gRPC on %s and HTTP on %s", self.grpc.address, self.http.url)

    def _http_routers(self) -> list[APIRouter]:
        """Routers beyond the session mirror, mounted on the same HTTP server."""
        return [s3dir_router(self.s3dir)]

    async def _timers(self) -> None:
        interval = self.settings.sessions.timer_interval.total_seconds()
        while True:
            try:
                await asyncio.to_thread(self.service.sweep)
            except Exception:
                log.exception("session timers failed; retrying")
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        grace = self.settings.server.shutdown_grace.total_seconds()
        await asyncio.gather(self.http.stop(grace), self.grpc.stop(grace))
        if self._timer_task is not None:
            self._timer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer_task
        for executor in self.service.executors.values():
            await executor.close()
        self.s3dir.close()
        if self.demo is not None:
            self.demo.stop()
        self.store.close()
