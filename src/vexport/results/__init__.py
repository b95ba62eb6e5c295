"""Result stores: where a finished job's files live until retention removes them.

One protocol (``ResultStore``), two stores: local disk (the embedded default)
and S3 (scaled out, so that any replica serves any download). See
``docs/design/jobs.md``.
"""

from vexport.results.base import ResultFile, ResultReader, ResultStore, describe, sha256_of

__all__ = ["ResultFile", "ResultReader", "ResultStore", "describe", "sha256_of"]
