"""Encoder settings: codecs, the eight quality levels, and what each container holds.

One table per codec, used by every path that encodes (clips, live, archive,
the HTTP broadcast export), so a quality level means the same thing wherever
it is asked for. The numbers are documented in ``docs/api.md``:

- x264 CRF 18..34 (23 is x264's own default, our ``MEDIUM``); x265 is about
  5 CRF points more efficient, so its table is shifted up by 5.
- MJPEG and MPEG-4 Part 2 have no CRF: a fixed quantiser (``-q:v`` 2..16).
- Audio: a bitrate per codec; G.711 is 64 kbit/s by definition.

What each container holds is decided here too: for codecs a client asks for
(``container_holds``) and for the audio a stream copy brings from a camera
(``copied_audio``; see docs/design/media.md, "G.711").
"""

from __future__ import annotations

from vexport.media.plan import ContainerFormat
from vexport.media.rendering import AudioCodec, Quality, VideoCodec

# Quality.NORMAL re-encodes as MEDIUM (contract: "do not re-encode without need, else medium").
_ORDER = (
    Quality.BEST_QUALITY,
    Quality.FINE,
    Quality.GOOD,
    Quality.MEDIUM,
    Quality.SMALL,
    Quality.TINY,
    Quality.BEST_SIZE,
)

_X264_CRF = dict(zip(_ORDER, (18, 20, 22, 23, 26, 30, 34), strict=True))
_X265_CRF = {quality: crf + 5 for quality, crf in _X264_CRF.items()}
_QSCALE = dict(zip(_ORDER, (2, 3, 4, 5, 8, 12, 16), strict=True))

_AUDIO_KBPS: dict[AudioCodec, dict[Quality, int]] = {
    AudioCodec.AAC: dict(zip(_ORDER, (192, 160, 128, 128, 96, 64, 48), strict=True)),
    AudioCodec.OPUS: dict(zip(_ORDER, (128, 96, 80, 64, 48, 32, 24), strict=True)),
    AudioCodec.MP2: dict(zip(_ORDER, (256, 192, 160, 160, 128, 96, 64), strict=True)),
}

VIDEO_ENCODERS = {
    VideoCodec.H264: "libx264",
    VideoCodec.H265: "libx265",
    VideoCodec.MJPEG: "mjpeg",
    VideoCodec.MPEG4: "mpeg4",
}
AUDIO_ENCODERS = {
    AudioCodec.AAC: "aac",
    AudioCodec.OPUS: "libopus",
    AudioCodec.MP2: "mp2",
    AudioCodec.G711: "pcm_mulaw",
}
# What the decoders report, to tell whether a source stream already is the asked codec.
CODEC_NAMES = {
    VideoCodec.H264: "h264",
    VideoCodec.H265: "hevc",
    VideoCodec.MJPEG: "mjpeg",
    VideoCodec.MPEG4: "mpeg4",
    AudioCodec.AAC: "aac",
    AudioCodec.OPUS: "opus",
    AudioCodec.MP2: "mp2",
    AudioCodec.G711: "pcm_mulaw",
}

# Combinations a container cannot hold, or that no common player plays from it. Matroska
# has no G.711 codec ID: FFmpeg writes it only through the legacy ACM mapping, below
# normal compliance, and PyAV's muxer refuses it.
_UNSUPPORTED: dict[ContainerFormat, set[VideoCodec | AudioCodec]] = {
    ContainerFormat.MP4: {AudioCodec.G711},
    ContainerFormat.MOV: {AudioCodec.OPUS},
    ContainerFormat.MKV: {AudioCodec.G711},
    ContainerFormat.MPEG_TS: {VideoCodec.MJPEG, AudioCodec.G711},
    ContainerFormat.AVI: {AudioCodec.OPUS},
}

G711_DECODERS = frozenset({"pcm_mulaw", "pcm_alaw"})
# Camera audio (by decoder name) a stream copy cannot put into a container as it is, and
# the encoder that replaces it there: 16-bit PCM where the container has it (G.711 decodes
# to it sample for sample, nothing lost), else AAC. MOV and AVI hold G.711 as it is.
_COPIED_AUDIO_REPLACED: dict[ContainerFormat, tuple[frozenset[str], str]] = {
    ContainerFormat.MKV: (G711_DECODERS, "pcm_s16le"),
    ContainerFormat.MP4: (G711_DECODERS, "aac"),
    ContainerFormat.MPEG_TS: (G711_DECODERS, "aac"),
}

# Seconds between forced keyframes: short enough to split by size and seek well.
KEYFRAME_INTERVAL = 2.0


def container_holds(container: ContainerFormat, codec: VideoCodec | AudioCodec) -> bool:
    """Whether ``container`` can carry ``codec`` (copy is always allowed: it was the source's)."""
    if codec in (VideoCodec.COPY, AudioCodec.COPY, AudioCodec.NONE):
        return True
    return codec not in _UNSUPPORTED.get(container, set())


def copied_audio(container: ContainerFormat, decoder: str) -> str | None:
    """The encoder that replaces source audio ``decoder`` in ``container``; None: copy it."""
    refused, replacement = _COPIED_AUDIO_REPLACED.get(container, (frozenset(), ""))
    return replacement if decoder in refused else None


def containers_for(codec: VideoCodec | AudioCodec) -> list[str]:
    """Clip containers that can hold ``codec``, for error messages."""
    return [c.name for c in _UNSUPPORTED if container_holds(c, codec)]


def video_args(codec: VideoCodec, quality: Quality, *, x264_preset: str = "veryfast") -> list[str]:
    """FFmpeg output arguments for the video stream."""
    level = Quality.MEDIUM if quality is Quality.NORMAL else quality
    if codec is VideoCodec.H264:
        return [
            "-c:v", "libx264", "-preset", x264_preset, "-crf", str(_X264_CRF[level]),
            "-pix_fmt", "yuv420p", "-flags:v", "+global_header",
        ]  # fmt: skip
    if codec is VideoCodec.H265:
        return [
            "-c:v", "libx265", "-preset", "superfast", "-crf", str(_X265_CRF[level]),
            "-pix_fmt", "yuv420p", "-x265-params", "log-level=error",
            "-flags:v", "+global_header",
        ]  # fmt: skip
    if codec is VideoCodec.MJPEG:
        return ["-c:v", "mjpeg", "-q:v", str(_QSCALE[level]), "-pix_fmt", "yuvj420p"]
    if codec is VideoCodec.MPEG4:
        # Setting flags replaces them: keep the fixed quantiser that -q:v asked for.
        return [
            "-c:v", "mpeg4", "-q:v", str(_QSCALE[level]), "-pix_fmt", "yuv420p",
            "-flags:v", "+global_header+qscale",
        ]  # fmt: skip
    raise ValueError(f"{codec} is not an encoder")


def audio_args(codec: AudioCodec, quality: Quality) -> list[str]:
    """FFmpeg output arguments for the audio stream (``-an`` for none)."""
    level = Quality.MEDIUM if quality is Quality.NORMAL else quality
    if codec is AudioCodec.NONE:
        return ["-an"]
    if codec is AudioCodec.COPY:
        return ["-c:a", "copy"]
    if codec is AudioCodec.G711:
        return ["-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"]
    args = ["-c:a", AUDIO_ENCODERS[codec], "-b:a", f"{_AUDIO_KBPS[codec][level]}k"]
    if codec is AudioCodec.OPUS:
        args += ["-ar", "48000"]
    return args
