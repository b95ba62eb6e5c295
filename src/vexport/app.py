"""Wiring: build the store, catalog, executors, timers and servers from the settings.

Two shapes, one set of parts (``docs/design/jobs.md``):

- embedded (``[jobs] executor = "local"``, the default): one process serves
  the APIs, runs every agent's exports in its own threads and sweeps;
- scaled out (``"celery"``): ``vexport serve`` replicas run the APIs, the
  timers (one at a time, under a lease) and export-to-s3dir jobs; ``vexport
  agent`` processes run the exports from their agent's Celery queue.

Everything the process runs starts here and stops here, in reverse order, so
a SIGTERM leaves jobs in the store in a state the next start can recover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from vexport import metrics
from vexport.api.access import Access
from vexport.api.contract import ExportContract
from vexport.api.grpc.discovery import discovery_services
from vexport.api.grpc.server import GrpcServer
from vexport.api.grpc.servicer import ExportServicer
from vexport.api.http.app import create_app
from vexport.api.http.discovery import discovery_router
from vexport.api.http.evidence import evidence_router
from vexport.api.http.operations import operations_router
from vexport.api.http.s3dir import s3dir_router
from vexport.api.http.server import HttpServer
from vexport.api.http.web import web_router
from vexport.config import Settings
from vexport.demo import DemoCamera
from vexport.discovery import Discovery
from vexport.evidence.c2pa import ContentCredentials
from vexport.evidence.signer import Signer, load_signer
from vexport.jobs.executors.base import Executor
from vexport.jobs.executors.local import LocalPool
from vexport.jobs.exports import ExportRunner
from vexport.jobs.ledger import PollLedger
from vexport.jobs.model import JobKind, JobState
from vexport.jobs.node import NodePresence, default_node
from vexport.jobs.recovery import Recovery
from vexport.jobs.service import JobService
from vexport.jobs.store import JobStore
from vexport.jobs.timers import Sweeper
from vexport.jobs.worker import JobWorker, KindRunner
from vexport.private import private_dir
from vexport.results.base import ResultStore
from vexport.results.local import LocalResultStore
from vexport.results.s3 import S3ResultStore
from vexport.s3dir.service import AGENT as S3DIR_AGENT
from vexport.s3dir.service import S3DirRunner, S3DirService
from vexport.sources.catalog import Catalog
from vexport.storage import StorageReader, default_reader
from vexport.storage.s3 import S3Reader

__all__ = ["App", "Parts", "build_parts"]

log = logging.getLogger(__name__)


@dataclass
class Parts:
    """What a serving process and an agent process both have."""

    settings: Settings
    catalog: Catalog
    node: str
    store: JobStore
    results: ResultStore
    worker: JobWorker
    recovery: Recovery
    presence: NodePresence
    s3dir_runner: S3DirRunner
    reader: StorageReader
    signer: Signer | None = None


def build_parts(settings: Settings, catalog: Catalog, node: str) -> Parts:
    """The store, result stores, kind runners and the worker, from the settings."""
    store = JobStore(settings.database_url)
    # One S3 client for archives and results: boto3 clients are thread-safe and
    # keep a connection pool; archive s3:// URLs use the [s3] endpoint.
    s3 = S3Reader(settings.s3_endpoint())
    config = settings.results
    results: ResultStore
    if config.store == "s3" and config.store_bucket is not None:
        results = S3ResultStore(s3.client, config.store_bucket, config.store_prefix)
    else:
        results = LocalResultStore(settings.results_dir)
    cloud = None
    if config.s3_bucket is not None:
        cloud = S3ResultStore(s3.client, config.s3_bucket, config.s3_prefix)
    signer = None
    credentials = None
    evidence = settings.evidence
    if evidence.manifest or (evidence.c2pa and evidence.certificate_chain is not None):
        signer = load_signer(evidence, settings.server.data_dir)
    if signer is not None and evidence.c2pa and signer.key.chain_pem:
        credentials = ContentCredentials(signer.key, evidence.c2pa_tsa_url)
    if not evidence.manifest:
        signer = None
    reader = default_reader(s3=s3)
    exports = ExportRunner(
        catalog,
        reader=reader,
        ffmpeg=settings.media.ffmpeg,
        cloud=cloud,
        signer=signer,
        credentials=credentials,
    )
    s3dir_runner = S3DirRunner(settings)
    runners: dict[JobKind, KindRunner] = {
        kind: exports for kind in JobKind if kind is not JobKind.S3DIR
    }
    runners[JobKind.S3DIR] = s3dir_runner
    worker = JobWorker(
        store,
        results,
        runners,
        node=node,
        config=settings.jobs,
        work_dir=settings.server.data_dir / "work",
    )
    return Parts(
        settings=settings,
        catalog=catalog,
        node=node,
        store=store,
        results=results,
        worker=worker,
        recovery=Recovery(store, results, settings.jobs),
        presence=NodePresence(store, node, ttl=settings.jobs.heartbeat_timeout),
        s3dir_runner=s3dir_runner,
        signer=signer,
        reader=reader,
    )


def agent_limit(settings: Settings, access_point: str) -> int:
    for agent in settings.agents:
        if agent.access_point == access_point:
            return agent.max_running or settings.sessions.max_running
    raise KeyError(access_point)


class App:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        private_dir(settings.server.data_dir)
        self.demo: DemoCamera | None = None
        catalog = Catalog(settings.sources)
        if settings.demo.enabled:
            self.demo = DemoCamera(settings.demo, settings.server.data_dir, settings.media.ffmpeg)
            catalog.add(self.demo.source())
        node = settings.jobs.node or default_node(settings.server.data_dir)
        self.parts = parts = build_parts(settings, catalog, node)
        self.store = parts.store
        worker = parts.worker
        self.executors: dict[str, Executor] = {}
        if settings.jobs.executor == "celery":
            from vexport.jobs.executors.celery import CeleryExecutor, celery_app, queue_name

            celery = celery_app(settings)
            for agent in settings.agents:
                self.executors[agent.access_point] = CeleryExecutor(
                    celery, agent.access_point, queue_name(settings, agent.access_point)
                )
        else:
            for agent in settings.agents:
                self.executors[agent.access_point] = LocalPool(
                    agent.access_point,
                    worker.run,
                    worker.control,
                    max_running=agent_limit(settings, agent.access_point),
                )
        self.s3dir_pool = LocalPool(
            S3DIR_AGENT,
            worker.run,
            worker.control,
            max_running=settings.export_to_s3dir.max_running,
        )
        self.ledger = PollLedger()
        self.access = access = Access.build(settings, parts.store.engine)
        self.service = JobService(
            settings,
            parts.store,
            parts.results,
            {**self.executors, S3DIR_AGENT: self.s3dir_pool},
            self.ledger,
            pinned=catalog.pins(),
            audit=access.audit,
        )
        self.s3dir = S3DirService(
            settings,
            parts.store,
            self.s3dir_pool,
            parts.s3dir_runner,
            node=node,
            audit=access.audit,
        )
        self.sweeper = Sweeper(
            settings, parts.store, self.service, self.ledger, parts.recovery, parts.presence
        )
        contract = ExportContract(
            catalog, self.service.agent_names, cloud_store=settings.results.s3_bucket is not None
        )
        self.discovery = Discovery(catalog, parts.reader)
        self.grpc = GrpcServer(
            ExportServicer(self.service, contract),
            settings.server.grpc,
            services=discovery_services(self.discovery),
            auth=access.auth_servicer,
            interceptors=access.interceptors,
            credentials=access.grpc_credentials,
        )
        routers = [
            s3dir_router(self.s3dir),
            discovery_router(self.discovery),
            web_router(),
            operations_router({"database": parts.store.ping, "results": parts.results.check}),
            evidence_router(self.service, parts.signer, catalog=catalog, reader=parts.reader),
        ]
        self.http = HttpServer(
            create_app(
                self.service,
                contract,
                routers=routers,
                authenticator=access.authenticator,
                open_routes=access.open_routes,
                browser_origins=settings.server.browser_origins,
            ),
            settings.server.http,
            tls=access.tls.ssl_context() if access.tls is not None else None,
        )
        self._unwatch_depth: Callable[[], None] | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._access_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Store calls run in threads; enough of them that 100 polling clients never queue.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=32, thread_name_prefix="vexport-io")
        )
        await asyncio.to_thread(self._recover)
        # After the node's name is ours: a second server on this data directory stops
        # above (NodeInUse) before it touches the recorder. The lock and the playlist in a
        # worker thread; the recorder from the loop's thread, which lives as long as the
        # server (the recorder dies with the thread that started it).
        if self.demo is not None and await asyncio.to_thread(self.demo.prepare):
            self.demo.record()
        await self.grpc.start()
        await self.http.start()
        self._timer_task = asyncio.create_task(self._timers(), name="job-timers")
        self._access_task = asyncio.create_task(self._access_timer(), name="access-timer")
        self.access.announce()
        self._unwatch_depth = metrics.watch_queue_depth(self._queue_depth)
        log.info("vexport serving gRPC on %s and HTTP on %s as node %s (%s executor)",
                 self.grpc.address, self.http.url, self.parts.node,
                 self.settings.jobs.executor)  # fmt: skip

    def _queue_depth(self) -> dict[str, dict[str, int]]:
        """Each agent's queued and running sessions, from the store (a scrape, in a thread)."""
        depth: dict[str, dict[str, int]] = {}
        for agent in self.service.agent_names:
            counts = self.store.count_by_state(agent)
            depth[agent] = {
                "queued": counts.get(JobState.NONE, 0),
                "running": counts.get(JobState.RUNNING, 0),
            }
        return depth

    def _recover(self) -> None:
        """Take this node's name, then settle what its previous process left running."""
        self.parts.presence.claim()
        self.parts.recovery.recover_own(self.parts.node)

    async def _timers(self) -> None:
        interval = self.settings.sessions.timer_interval.total_seconds()
        while True:
            try:
                await asyncio.to_thread(self.sweeper.tick)
            except Exception:
                log.exception("job timers failed; retrying")
            await asyncio.sleep(interval)

    async def _access_timer(self) -> None:
        interval = self.settings.tls.reload_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.access.tick)
            except Exception:
                log.exception("certificate reload or token purge failed; retrying")

    async def stop(self) -> None:
        if self._unwatch_depth is not None:
            self._unwatch_depth()
        grace = self.settings.server.shutdown_grace.total_seconds()
        await asyncio.gather(self.http.stop(grace), self.grpc.stop(grace))
        if self._access_task is not None:
            self._access_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._access_task
        if self._timer_task is not None:
            self._timer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer_task
        for executor in self.executors.values():
            await executor.close()
        await self.s3dir_pool.close()
        self.discovery.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.ledger.flush, self.store)
        await asyncio.to_thread(self.parts.presence.release)
        if self.demo is not None:
            self.demo.stop()
        self.store.close()
