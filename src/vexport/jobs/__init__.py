"""The job engine: one state machine, one store, one control for every kind of export.

See ``docs/design/jobs.md``. Archive and live clips, snapshots and
export-to-s3dir are all jobs: stored (SQLite embedded, PostgreSQL scaled
out), handed by id to an executor (a local thread pool or a Celery queue
per agent), run by a worker under a heartbeat lease, and answered from the
store.
"""
