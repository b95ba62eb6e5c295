"""The HTTP API: a REST mirror of the export sessions, plus routers other parts add."""
