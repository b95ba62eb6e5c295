"""Executors: where jobs run. A local thread pool, or a Celery queue per agent.

Both take nothing but job ids (``submit``); the worker that runs a job reads
it from the store. ``vexport.jobs.executors.celery`` is imported only when
configured, so the embedded default never loads Celery.
"""

from vexport.jobs.executors.base import Executor
from vexport.jobs.executors.local import LocalPool

__all__ = ["Executor", "LocalPool"]
