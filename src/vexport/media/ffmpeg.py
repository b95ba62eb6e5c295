"""Which FFmpeg binary to run, and how its processes end with ours.

The service must work from a plain ``pip install``, so the default is the
static build that imageio-ffmpeg ships; an operator who needs other codecs or
hardware support names their own binary in the configuration or environment.

Every FFmpeg (and other helper) process vexport starts is started through
``dying_with_parent(command)``: on Linux, util-linux's ``setpriv
--pdeathsig KILL`` sets the parent-death signal and execs the command, so the
kernel kills it when the thread that started it ends, and a server killed
with ``kill -9`` leaves no recorder writing and no live input holding a
camera's connection (docs/design/robustness.md). Not ``preexec_fn``: a
Python function between fork and exec forces a full ``fork()`` instead of
``vfork()``, which runs gRPC's fork handlers in the child and, with gRPC's
threads mid-poll, breaks it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys

__all__ = ["ENV_VAR", "dying_with_parent", "ffmpeg_binary"]

log = logging.getLogger(__name__)

ENV_VAR = "VEXPORT_FFMPEG"


@functools.cache
def _setpriv() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    found = shutil.which("setpriv")
    if found is None:
        log.warning("setpriv (util-linux) not found: FFmpeg processes may outlive a killed server")
    return found


def dying_with_parent(command: list[str]) -> list[str]:
    """``command`` run so that the kernel sends it SIGKILL when its parent thread ends.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that started the child ends,
    so children are started from threads that live at least as long as the
    child should (the event loop's, a job's).
    """
    setpriv = _setpriv()
    if setpriv is None:
        return command
    return [setpriv, "--pdeathsig", "KILL", "--", *command]


def ffmpeg_binary(configured: str | None = None) -> str:
    """The configured path, else ``$VEXPORT_FFMPEG``, else imageio-ffmpeg's build."""
    if configured:
        return configured
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env
    import imageio_ffmpeg  # imported late: it looks for the binary on import paths

    return str(imageio_ffmpeg.get_ffmpeg_exe())
