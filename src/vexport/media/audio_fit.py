"""Camera audio in a container that cannot hold it as it is.

Cameras send G.711 (mu-law or A-law, 8 kHz mono) more often than any other
audio. MOV and AVI hold it as it is; MP4 and MPEG-TS have no G.711, and
Matroska none that our muxer writes (``encoding.copied_audio`` is the one
table that decides). A stream copy into those neither fails nor silently
loses its sound; the video is still copied, and the log says what happened:

- Matroska: G.711 is expanded to the 16-bit linear PCM it encodes. Its
  decoder is a table, so every sample is the one any G.711 decoder gives:
  nothing is lost, at 128 instead of 64 kbit/s. Packets keep their times.
- MP4, MPEG-TS: the audio is re-encoded to AAC-LC, 64 kbit/s (G.711's own
  rate) at 48 kHz. At 8 kHz one AAC frame would be 128 ms and the encoder's
  look-ahead two of them, so the sound would trail the video by a quarter of
  a second and a clip's last quarter second of sound would be cut with it; at
  48 kHz that is 60 ms, and 48 kHz is the rate every player decodes.

Packets are converted one at a time as they come: no source packet is held
back, so none outlives the demuxer it came from (live connections and archive
segments close theirs as soon as their packets are out). What the encoder
still holds at the end of a run comes out then, on streams of its own.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import Any, Protocol

import av

from vexport.media.encoding import copied_audio
from vexport.media.packets import TimedPacket
from vexport.media.plan import ContainerFormat

__all__ = ["fit_audio"]

log = logging.getLogger(__name__)

_AAC_RATE = 48000
_AAC_BITS_PER_SECOND = 64000


def fit_audio(
    packets: Iterable[TimedPacket], *, container: ContainerFormat, origin: str
) -> Iterator[TimedPacket]:
    """``packets`` with audio that ``container`` holds: as it is, expanded to PCM, or AAC."""
    replacement: str | None = None
    decided = False
    converter: _Converter | None = None
    run: int | None = None
    for tp in packets:
        if tp.kind != "audio":
            yield tp
            continue
        if not decided:
            decided = True
            decoder = str(tp.stream.codec_context.name)
            replacement = copied_audio(container, decoder)
            if replacement is not None:
                log.info(
                    "%s: %s audio cannot go into %s as it is: %s, the video copied",
                    origin,
                    decoder,
                    container.name,
                    "expanded to 16-bit PCM (lossless)"
                    if replacement == "pcm_s16le"
                    else "re-encoded to AAC (64 kbit/s, 48 kHz)",
                )
        if replacement is None:
            yield tp
            continue
        if converter is None or tp.run != run:
            # A new run is a new demuxer (a live reconnection): a converter of its own.
            if converter is not None:
                yield from converter.flush()
            run = tp.run
            converter = (
                _PcmExpander(tp.stream) if replacement == "pcm_s16le" else _AacEncoder(tp.stream)
            )
        yield from converter.convert(tp)
    if converter is not None:
        yield from converter.flush()


class _Converter(Protocol):
    def convert(self, tp: TimedPacket) -> Iterator[TimedPacket]: ...

    def flush(self) -> Iterator[TimedPacket]:
        """What the converter still holds, at the end of a run (its packets are its own)."""
        ...


def _decoder(stream: Any) -> Any:
    source = stream.codec_context
    decoder: Any = av.CodecContext.create(source.name, "r")
    decoder.sample_rate = source.sample_rate
    decoder.layout = source.layout
    return decoder


def _layout(stream: Any) -> str:
    """A named channel layout: RTP and NUT give G.711 an unordered "1 channels"."""
    layout = stream.codec_context.layout
    named = {1: "mono", 2: "stereo"}
    return named.get(len(layout.channels), str(layout.name))


def _encoder(codec: str, rate: int, layout: str, bit_rate: int) -> Any:
    encoder: Any = av.CodecContext.create(codec, "w")
    encoder.sample_rate = rate
    encoder.layout = layout
    encoder.format = encoder.codec.audio_formats[0].name
    encoder.time_base = Fraction(1, rate)
    encoder.bit_rate = bit_rate
    encoder.open()
    return encoder


def _described(codec: str, rate: int, layout: str, bit_rate: int) -> tuple[Any, Any]:
    """The stream an encoder's packets belong to, as a demuxer presents it.

    Writers make output streams from the stream of a packet, a decoder's view
    of it; an encoder's own stream is not one. So one silent frame is encoded
    with the same settings into a NUT file in memory, and its demuxed stream
    (kept open with its container) stands for the converted packets: the same
    codec parameters, AAC's AudioSpecificConfig included.
    """
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="nut") as muxer:
        stream: Any = muxer.add_stream(codec, rate=rate, layout=layout)
        stream.bit_rate = bit_rate
        silence = av.AudioFrame(
            format=stream.codec_context.format.name, layout=layout, samples=1024
        )
        silence.sample_rate = rate
        silence.pts = 0
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        for frame in (silence, None):
            for packet in stream.encode(frame):
                muxer.mux(packet)
    demuxer = av.open(io.BytesIO(buffer.getvalue()), "r", format="nut")
    return demuxer, demuxer.streams.audio[0]


class _PcmExpander:
    """G.711 packets to 16-bit little-endian PCM packets with the same times."""

    def __init__(self, stream: Any) -> None:
        self._decoder = _decoder(stream)
        source = stream.codec_context
        rate, layout = int(source.sample_rate), _layout(stream)
        self._described, self.stream = _described("pcm_s16le", rate, layout, 0)

    def convert(self, tp: TimedPacket) -> Iterator[TimedPacket]:
        source = tp.packet
        for frame in self._decoder.decode(source):
            size = frame.samples * len(frame.layout.channels) * 2
            packet = av.Packet(bytes(frame.planes[0])[:size])
            packet.time_base = source.time_base
            packet.pts = source.pts
            packet.dts = source.dts
            packet.duration = source.duration
            yield TimedPacket(
                packet=packet,
                stream=self.stream,
                kind="audio",
                wall_pts=tp.wall_pts,
                wall_dts=tp.wall_dts,
                duration=tp.duration,
                is_keyframe=True,
                run=tp.run,
            )

    def flush(self) -> Iterator[TimedPacket]:
        return iter(())


class _AacEncoder:
    """Audio packets of any decodable codec to AAC-LC packets, timed by the source's clock."""

    def __init__(self, stream: Any) -> None:
        self._decoder = _decoder(stream)
        source = stream.codec_context
        self._rate = int(source.sample_rate)
        layout = _layout(stream)
        bit_rate = _AAC_BITS_PER_SECOND * len(source.layout.channels)
        self._encoder = _encoder("aac", _AAC_RATE, layout, bit_rate)
        self._described, self.stream = _described("aac", _AAC_RATE, layout, bit_rate)
        self._resampler = av.AudioResampler(
            format=self._encoder.format.name, layout=layout, rate=_AAC_RATE, frame_size=1024
        )
        self._origin: float | None = None
        self._run = 0

    def convert(self, tp: TimedPacket) -> Iterator[TimedPacket]:
        self._run = tp.run
        if self._origin is None:
            self._origin = tp.wall_pts
        offset = round((tp.wall_pts - self._origin) * self._rate)
        for frame in self._decoder.decode(tp.packet):
            frame.pts = offset
            frame.time_base = Fraction(1, self._rate)
            offset += frame.samples
            for chunk in self._resampler.resample(frame):
                for packet in self._encoder.encode(chunk):
                    yield self._timed(packet, tp.run)

    def flush(self) -> Iterator[TimedPacket]:
        if self._origin is None:
            return
        for chunk in self._resampler.resample(None):
            for packet in self._encoder.encode(chunk):
                yield self._timed(packet, self._run)
        for packet in self._encoder.encode(None):
            yield self._timed(packet, self._run)

    def _timed(self, packet: Any, run: int) -> TimedPacket:
        assert self._origin is not None
        tb = packet.time_base or Fraction(1, _AAC_RATE)
        packet.time_base = tb
        dts = packet.dts if packet.dts is not None else packet.pts
        return TimedPacket(
            packet=packet,
            stream=self.stream,
            kind="audio",
            wall_pts=self._origin + float(packet.pts * tb),
            wall_dts=self._origin + float(dts * tb),
            duration=float((packet.duration or 0) * tb),
            is_keyframe=True,
            run=run,
        )
