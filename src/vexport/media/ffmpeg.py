"""Which FFmpeg binary to run, and how its processes end with ours.

The service must work from a plain ``pip install``, so the default is the
static build that imageio-ffmpeg ships; an operator who needs other codecs or
hardware support names their own binary in the configuration or environment.

Every FFmpeg (and other helper) process vexport starts is started with
``preexec_fn=die_with_parent()``: on Linux the kernel sends it SIGKILL when the
thread that started it ends, so a server killed with ``kill -9`` leaves no
recorder writing and no live input holding a camera's connection
(docs/design/robustness.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["ENV_VAR", "die_with_parent", "ffmpeg_binary"]

ENV_VAR = "VEXPORT_FFMPEG"

_PR_SET_PDEATHSIG = 1
# Loaded in the parent: a child between fork and exec must not load libraries.
_libc = (
    ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None
)


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` for a child process: SIGKILL it when this process goes.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child ends,
    so children are started from threads that live at least as long as the
    child should (the event loop's, a job's). If the parent is already gone
    by the time the child runs it (it died between fork and here), the child
    leaves at once. It runs between fork and exec: no locks, no imports.
    """
    parent = os.getpid()

    def in_child() -> None:
        if _libc is None:
            return
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return in_child


def ffmpeg_binary(configured: str | None = None) -> str:
    """The configured path, else ``$VEXPORT_FFMPEG``, else imageio-ffmpeg's build."""
    if configured:
        return configured
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env
    import imageio_ffmpeg  # imported late: it looks for the binary on import paths

    return str(imageio_ffmpeg.get_ffmpeg_exe())
