"""Camera audio a container cannot hold as it is: converted packet by packet, times kept."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tests.camera_media import CameraFile, encode_camera_file, with_audio
from tests.media.conftest import T0, file_packets
from vexport.media.audio_fit import fit_audio
from vexport.media.plan import ContainerFormat


@pytest.fixture(scope="module")
def g711(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CameraFile]:
    directory = tmp_path_factory.mktemp("g711")
    mulaw = encode_camera_file(directory / "mulaw.mov", video="h264", audio="pcmu", seconds=2)
    return {"pcm_mulaw": mulaw, "pcm_alaw": with_audio(mulaw, directory / "alaw.mov", "pcma")}


def _decoded_samples(path: Path) -> bytes:
    with av.open(str(path)) as container:
        return b"".join(
            bytes(frame.planes[0])[: frame.samples * 2] for frame in container.decode(audio=0)
        )


@pytest.mark.parametrize("codec", ["pcm_mulaw", "pcm_alaw"])
def test_g711_in_matroska_is_the_pcm_it_decodes_to(g711: dict[str, CameraFile], codec: str) -> None:
    packets = list(fit_audio(file_packets(g711[codec].path), container=ContainerFormat.MKV,
                             origin="cam"))  # fmt: skip
    audio = [tp for tp in packets if tp.kind == "audio"]
    source = [tp for tp in file_packets(g711[codec].path) if tp.kind == "audio"]
    assert {tp.stream.codec_context.name for tp in audio} == {"pcm_s16le"}
    assert [tp.wall_pts for tp in audio] == [tp.wall_pts for tp in source]  # same times
    expanded = b"".join(bytes(tp.packet) for tp in audio)
    assert expanded == _decoded_samples(g711[codec].path)  # sample for sample
    assert sum(1 for tp in packets if tp.kind == "video") == 50  # the video passes untouched


@pytest.mark.parametrize("container", [ContainerFormat.MP4, ContainerFormat.MPEG_TS])
def test_g711_in_mp4_and_ts_becomes_aac(
    g711: dict[str, CameraFile], container: ContainerFormat
) -> None:
    packets = list(fit_audio(file_packets(g711["pcm_mulaw"].path), container=container,
                             origin="cam"))  # fmt: skip
    audio = [tp for tp in packets if tp.kind == "audio"]
    stream = audio[0].stream
    assert stream.codec_context.name == "aac" and stream.sample_rate == 48000
    assert stream.codec_context.extradata  # the AudioSpecificConfig a muxer needs
    # 2 s of sound, on the source's clock (the first packet carries the encoder's priming).
    assert audio[1].wall_pts == pytest.approx(T0, abs=1e-3)
    covered = audio[-1].wall_pts + audio[-1].duration - audio[1].wall_pts
    assert covered == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("container", [ContainerFormat.MOV, ContainerFormat.AVI])
def test_g711_stays_as_it_is_where_it_fits(
    g711: dict[str, CameraFile], container: ContainerFormat
) -> None:
    source = list(file_packets(g711["pcm_alaw"].path))
    fitted = list(fit_audio(iter(source), container=container, origin="cam"))
    assert [tp.packet for tp in fitted] == [tp.packet for tp in source]
