"""``StreamSetting``s (codecs, quality, frame rate, time-lapse, audio) into a ``Rendering``.

Every value is checked here, against the container too, so a combination
the file could not hold is refused before anything runs, with the field's
path and the containers that would hold it.
"""

from __future__ import annotations

from collections.abc import Sequence

from vexport.errors import InvalidArgument, Unimplemented
from vexport.media.encoding import container_holds, containers_for
from vexport.media.plan import ContainerFormat
from vexport.media.rendering import (
    AudioCodec,
    AudioEncoding,
    Quality,
    Rendering,
    TimeLapse,
    VideoCodec,
    VideoEncoding,
)
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

QUALITIES = {
    pb.C_BEST_QUALITY: Quality.BEST_QUALITY,
    pb.C_FINE_QUALITY: Quality.FINE,
    pb.C_GOOD_QUALITY: Quality.GOOD,
    pb.C_NORMAL: Quality.NORMAL,
    pb.C_SMALL_SIZE: Quality.SMALL,
    pb.C_TINY_SIZE: Quality.TINY,
    pb.C_BEST_SIZE: Quality.BEST_SIZE,
    pb.C_MEDIUM: Quality.MEDIUM,
}
VIDEO_CODECS = {
    pb.StreamSetting.VC_DEFAULT: VideoCodec.COPY,
    pb.StreamSetting.VC_MJPEG: VideoCodec.MJPEG,
    pb.StreamSetting.VC_MPEG4: VideoCodec.MPEG4,
    pb.StreamSetting.VC_H264: VideoCodec.H264,
    pb.StreamSetting.VC_H265: VideoCodec.H265,
}
AUDIO_CODECS = {
    pb.StreamSetting.AC_DEFAULT: AudioCodec.COPY,
    pb.StreamSetting.AC_G711: AudioCodec.G711,
    pb.StreamSetting.AC_MP2: AudioCodec.MP2,
    pb.StreamSetting.AC_AAC: AudioCodec.AAC,
    pb.StreamSetting.AC_OPUS: AudioCodec.OPUS,
}
FRAME_DIVISORS = {
    pb.StreamSetting.FF_ORIGINAL: 1,
    pb.StreamSetting.FF_HALF: 2,
    pb.StreamSetting.FF_QUARTER: 4,
    pb.StreamSetting.FF_OCTANT: 8,
}
MAX_TIME_LAPSE_FPS = 60.0
MAX_TIME_LAPSE_SPEED = 1000.0


def rendering_from_stream_settings(
    settings: Sequence[pb.StreamSetting], container: ContainerFormat, *, field: str
) -> Rendering:
    """The encoding asked by ``settings`` (a later entry of the same kind wins)."""
    video_codec, video_quality, divisor = VideoCodec.COPY, Quality.NORMAL, 1
    audio_codec, audio_quality = AudioCodec.COPY, Quality.NORMAL
    reject_audio = False
    lapse: TimeLapse | None = None
    codec_fields: dict[str, str] = {}
    for index, setting in enumerate(settings):
        path = f"{field}[{index}]"
        which = setting.WhichOneof("setting")
        if which is None:
            raise InvalidArgument("empty setting: set one of its fields", field=path)
        path = f"{path}.{which}"
        if which == "video_quality":
            video_quality = QUALITIES[setting.video_quality]
        elif which == "video_codec":
            video_codec = VIDEO_CODECS[setting.video_codec]
            codec_fields["video"] = path
        elif which == "audio_quality":
            audio_quality = QUALITIES[setting.audio_quality]
        elif which == "audio_codec":
            audio_codec = AUDIO_CODECS[setting.audio_codec]
            codec_fields["audio"] = path
        elif which == "frame_frequency":
            divisor = FRAME_DIVISORS[setting.frame_frequency]
        elif which == "reject_audio":
            reject_audio = setting.reject_audio
        elif which == "time_lapse":
            lapse = _time_lapse(setting.time_lapse, path)
        elif which == "password":
            continue  # encrypts the evidence package (``package_password``)
        else:  # a setting added to the contract after this code
            raise Unimplemented(f"'{which}' is not supported", field=path)

    if reject_audio:
        audio_codec = AudioCodec.NONE
    for codec, kind in ((video_codec, "video"), (audio_codec, "audio")):
        if not container_holds(container, codec):
            raise InvalidArgument(
                f"{container.name} cannot hold {codec.value} {kind}; "
                f"use one of {', '.join(containers_for(codec))} or another codec",
                field=codec_fields.get(kind, field),
            )
    return Rendering(
        video=VideoEncoding(codec=video_codec, quality=video_quality, frame_divisor=divisor),
        audio=AudioEncoding(codec=audio_codec, quality=audio_quality),
        time_lapse=lapse,
    )


def _time_lapse(lapse: pb.TimeLapse, field: str) -> TimeLapse | None:
    fps, speed = float(lapse.fps), float(lapse.speed)
    if not 0 <= fps <= MAX_TIME_LAPSE_FPS:
        raise InvalidArgument(
            f"{fps:g} is not a frame rate; use 0 (original) up to {MAX_TIME_LAPSE_FPS:g}",
            field=f"{field}.fps",
        )
    if speed != 0 and not 1 <= speed <= MAX_TIME_LAPSE_SPEED:
        raise InvalidArgument(
            f"{speed:g} is not a speed-up; use 0 (none) or 1..{MAX_TIME_LAPSE_SPEED:g}",
            field=f"{field}.speed",
        )
    if fps == 0 and speed in (0, 1):
        return None  # nothing asked: real time, every frame
    return TimeLapse(fps=fps, speed=0.0 if speed == 1 else speed)


MAX_PASSWORD = 256


def package_password(settings: Sequence[pb.StreamSetting], *, field: str) -> tuple[str, str]:
    """The evidence package's password (a later entry wins) and the field that set it."""
    password, where = "", ""
    for index, setting in enumerate(settings):
        if setting.WhichOneof("setting") != "password":
            continue
        where = f"{field}[{index}].password"
        password = setting.password
        if not password or len(password) > MAX_PASSWORD or "\x00" in password:
            raise InvalidArgument(
                f"a password of 1 to {MAX_PASSWORD} characters, no NUL", field=where
            )
    return password, where
