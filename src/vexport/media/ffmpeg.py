"""Which FFmpeg binary to run.

The service must work from a plain ``pip install``, so the default is the
static build that imageio-ffmpeg ships; an operator who needs other codecs or
hardware support names their own binary in the configuration or environment.
"""

from __future__ import annotations

import os

ENV_VAR = "VEXPORT_FFMPEG"


def ffmpeg_binary(configured: str | None = None) -> str:
    """The configured path, else ``$VEXPORT_FFMPEG``, else imageio-ffmpeg's build."""
    if configured:
        return configured
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env
    import imageio_ffmpeg  # imported late: it looks for the binary on import paths

    return str(imageio_ffmpeg.get_ffmpeg_exe())
