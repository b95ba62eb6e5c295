"""The service's Prometheus metrics: one registry, the counters, and the names they use.

Every counter lives here and is moved by a small function, so a metric's
name, labels and meaning are decided in one place (``docs/api.md``,
"Metrics"). The job engine calls ``export_started`` and ``export_finished``;
the APIs call ``downloaded`` and ``error``. Queue depth is not counted but
read from the job store when Prometheus scrapes (``watch_queue_depth``): the store
is the truth shared by every replica, so any replica reports the same depth.

Counters are per process. Embedded, one process does everything; scaled out,
``vexport serve`` counts starts, downloads and errors while the ``vexport
agent`` processes count finished exports and durations, each exposing its
own registry (``vexport agent --metrics``); Prometheus sums them
(``docs/design/operations.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "downloaded",
    "error",
    "export_finished",
    "export_started",
    "render",
    "watch_queue_depth",
]

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
CONTENT_TYPE = CONTENT_TYPE_LATEST

_STARTED = Counter(
    "vexport_exports_started",
    "Export jobs accepted (StartSession, POST /api/v1/sessions, export-to-s3dir).",
    ["kind"],
    registry=REGISTRY,
)
_FINISHED = Counter(
    "vexport_exports_finished",
    "Export runs ended, by outcome: succeeded, failed, requeued (interrupted, run again), "
    "lost (the lease went to another worker).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
# From a snapshot (under a second) to an hour-long live clip.
_DURATION = Histogram(
    "vexport_export_duration_seconds",
    "Wall time of one export run, claim to completion.",
    ["kind"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
_DOWNLOADED = Counter(
    "vexport_downloaded_bytes",
    "Result file bytes sent to clients (gRPC DownloadFile, HTTP GET).",
    ["api"],
    registry=REGISTRY,
)
_ERRORS = Counter(
    "vexport_errors",
    "Requests answered with an error, by API and gRPC status name (HTTP answers carry the "
    "same name in their body).",
    ["api", "code"],
    registry=REGISTRY,
)


def export_started(kind: str) -> None:
    _STARTED.labels(kind=kind).inc()


def export_finished(kind: str, outcome: str, seconds: float) -> None:
    _FINISHED.labels(kind=kind, outcome=outcome).inc()
    _DURATION.labels(kind=kind).observe(seconds)


def downloaded(api: str, size: int) -> None:
    _DOWNLOADED.labels(api=api).inc(size)


def error(api: str, code: str) -> None:
    _ERRORS.labels(api=api, code=code).inc()


DepthSource = Callable[[], Mapping[str, Mapping[str, int]]]
"""``{agent: {"queued": n, "running": m}}`` from a job store (blocking)."""

_depth_sources: dict[int, DepthSource] = {}


class _QueueDepth(Collector):
    """``vexport_queue_depth{agent, state}``, read from the stores at scrape time.

    The sources run in the scraping thread (``render`` is called off the event
    loop). Several servers in one process (tests) each add their own source.
    """

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "vexport_queue_depth",
            "Sessions of each export agent waiting (queued) and running, from the job store.",
            labels=["agent", "state"],
        )
        for source in list(_depth_sources.values()):
            for agent, states in source().items():
                for state, count in states.items():
                    family.add_metric([agent, state], count)
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing to query when registering


REGISTRY.register(_QueueDepth())


def watch_queue_depth(source: DepthSource) -> Callable[[], None]:
    """Report ``source``'s depths from now on; the returned function stops it."""
    key = id(source)
    _depth_sources[key] = source

    def stop() -> None:
        _depth_sources.pop(key, None)

    return stop


def render() -> tuple[bytes, str]:
    """The text exposition of every metric, and its content type (blocking: use a thread)."""
    return generate_latest(REGISTRY), CONTENT_TYPE
