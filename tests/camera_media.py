"""What cameras send, encoded once by the project's FFmpeg: numbered frames, B-frames, G.711/AAC.

The RTSP test server (``tests/rtsp_server.py``) sends these files without
re-encoding them, so the encoder settings here are what the client receives:

- H.264 with x264's defaults (3 B-frames, B-pyramid, adaptive B placement),
  a keyframe every second as many cameras are set up;
- H.265 with x265's ``veryfast`` preset (4 B-frames, B-pyramid, open GOPs:
  CRA keyframes with leading pictures) at 30000/1001 fps;
- audio as cameras encode it: G.711 mu-law or A-law at 8 kHz mono, or AAC-LC
  at 16 kHz mono.

Every picture carries its frame number in its pixels (``tests/framecode.py``),
so a test reads which frames it got from the decoded output, not from timestamps.
Files are QuickTime (MOV): it holds all of these with exact timestamps (Matroska rounds
them to milliseconds, which 30000/1001 fps cannot take) and GStreamer demuxes it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from tests.framecode import framecode_graph
from vexport.media.ffmpeg import ffmpeg_binary

WIDTH, HEIGHT = 320, 180

_VIDEO_ARGS = {
    "h264": ["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    "h265": [
        "-c:v", "libx265", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-x265-params", "log-level=error",
    ],
}  # fmt: skip
_AUDIO_ARGS = {
    "pcmu": ["-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"],
    "pcma": ["-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1"],
    "aac": ["-c:a", "aac", "-ar", "16000", "-ac", "1", "-b:a", "32k"],
}
AUDIO_DECODERS = {"pcmu": "pcm_mulaw", "pcma": "pcm_alaw", "aac": "aac"}


@dataclass(frozen=True)
class CameraFile:
    path: Path
    video: str  # "h264" | "h265"
    audio: str  # "pcmu" | "pcma" | "aac"
    rate: Fraction


def encode_camera_file(
    path: Path, *, video: str, audio: str, rate: str = "25", seconds: float = 10.0
) -> CameraFile:
    """Numbered frames (a keyframe a second) and a tone, as a camera's encoder would send."""
    fps = Fraction(rate)
    gop = round(fps)
    command = [
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", framecode_graph(WIDTH, HEIGHT, rate),
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", f"{seconds:g}", "-map", "0:v", "-map", "1:a",
        *_VIDEO_ARGS[video], "-g", str(gop),
        *_AUDIO_ARGS[audio], str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return CameraFile(path=path, video=video, audio=audio, rate=fps)


def with_audio(source: CameraFile, path: Path, audio: str) -> CameraFile:
    """The same video (copied, not re-encoded) with the tone in another audio codec."""
    command = [
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source.path),
        "-map", "0:v", "-map", "0:a", "-c:v", "copy", *_AUDIO_ARGS[audio], str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return CameraFile(path=path, video=source.video, audio=audio, rate=source.rate)
