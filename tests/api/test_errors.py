"""Bad requests get the right status and a message naming the field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import grpc
import pytest

from tests.api.conftest import ARCHIVE_START, CAMERA, LIVE
from tests.api.harness import RunningServer, download, wait_completed
from tests.api.options import archive_clip, live_clip
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

S = grpc.StatusCode
T0 = ARCHIVE_START + timedelta(seconds=1)
T1 = ARCHIVE_START + timedelta(seconds=3)


def _clip() -> pb.Options:
    return archive_clip(CAMERA, T0, T1)


def _no_mode() -> pb.Options:
    options = pb.Options()
    options.stream.format = pb.StreamType.MP4
    return options


def _no_output() -> pb.Options:
    options = _clip()
    options.ClearField("stream")
    return options


def _end_before_start() -> pb.Options:
    return archive_clip(CAMERA, T1, T0)


def _bad_timestamp() -> pb.Options:
    options = _clip()
    options.archive.start_timestamp = "yesterday"
    return options


def _zero_duration() -> pb.Options:
    options = live_clip(LIVE, 1)
    options.live.duration.seconds = 0
    options.live.duration.nanos = 0
    return options


def _unknown_enum() -> pb.Options:
    options = _clip()
    options.stream.format = 77  # type: ignore[assignment]
    return options


def _tiny_max_file_size() -> pb.Options:
    options = _clip()
    options.max_file_size = 100
    return options


def _unknown_origin() -> pb.Options:
    return archive_clip("hosts/nowhere/DeviceIpint.404/SourceEndpoint.video:0:0", T0, T1)


def _unknown_storage() -> pb.Options:
    options = _clip()
    options.archive.sources[0].storages.append("hosts/test/MultimediaStorage.Nope")
    return options


def _unknown_agent() -> pb.Options:
    options = _clip()
    options.export_agent_access_point = "hosts/test/MMExportAgent.404"
    return options


def _exe() -> pb.Options:
    options = _clip()
    options.stream.format = pb.StreamType.EXE
    return options


def _fisheye() -> pb.Options:
    options = _clip()
    options.archive.sources[0].settings.add().fisheye_info.lens = "x"
    return options


def _g711_in_mp4() -> pb.Options:
    options = _clip()
    options.stream.format = pb.StreamType.MP4
    options.stream.settings.add().audio_codec = pb.StreamSetting.AC_G711
    return options


def _g711_in_mkv() -> pb.Options:
    options = _clip()
    options.stream.format = pb.StreamType.MKV
    options.stream.settings.add().audio_codec = pb.StreamSetting.AC_G711
    return options


def _password() -> pb.Options:
    options = _clip()
    options.stream.settings.add().password = "secret"
    return options


def _slow_motion() -> pb.Options:
    options = _clip()
    options.stream.settings.add().time_lapse.speed = 0.5
    return options


def _live_without_live_url() -> pb.Options:
    return live_clip(CAMERA, 1)


CASES: list[tuple[Callable[[], pb.Options], grpc.StatusCode, str]] = [
    (_no_mode, S.INVALID_ARGUMENT, "session_options.mode"),
    (_no_output, S.INVALID_ARGUMENT, "session_options.output_type"),
    (_end_before_start, S.INVALID_ARGUMENT, "end_timestamp"),
    (_bad_timestamp, S.INVALID_ARGUMENT, "start_timestamp"),
    (_zero_duration, S.INVALID_ARGUMENT, "live.duration"),
    (_unknown_enum, S.INVALID_ARGUMENT, "stream.format"),
    (_tiny_max_file_size, S.INVALID_ARGUMENT, "max_file_size"),
    (_unknown_origin, S.NOT_FOUND, "origin"),
    (_unknown_storage, S.NOT_FOUND, "storages"),
    (_unknown_agent, S.NOT_FOUND, "export_agent_access_point"),
    (_live_without_live_url, S.NOT_FOUND, "origin"),
    (_exe, S.UNIMPLEMENTED, "stream.format"),
    (_fisheye, S.UNIMPLEMENTED, "fisheye_info"),
    (_g711_in_mp4, S.INVALID_ARGUMENT, "audio_codec"),
    (_g711_in_mkv, S.INVALID_ARGUMENT, "audio_codec"),
    (_password, S.INVALID_ARGUMENT, "password"),  # encrypts an evidence package only
    (_slow_motion, S.INVALID_ARGUMENT, "time_lapse.speed"),
]


@pytest.mark.parametrize(("build", "code", "field"), CASES, ids=[c[0].__name__ for c in CASES])
def test_start_session_rejects(
    server: RunningServer, build: Callable[[], pb.Options], code: grpc.StatusCode, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        server.stub().StartSession(spb.StartSessionRequest(session_options=build()))
    assert error.value.code() == code
    assert field in error.value.details()


def test_missing_options(server: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as error:
        server.stub().StartSession(spb.StartSessionRequest())
    assert error.value.code() == S.INVALID_ARGUMENT
    assert "session_options" in error.value.details()


@pytest.mark.parametrize("call", ["GetSessionState", "StopSession", "DestroySession"])
def test_unknown_session_is_not_found(server: RunningServer, call: str) -> None:
    request_type = getattr(spb, f"{call}Request")
    with pytest.raises(grpc.RpcError) as error:
        getattr(server.stub(), call)(request_type(session_id="no-such-session"))
    assert error.value.code() == S.NOT_FOUND
    assert "no-such-session" in error.value.details()


def test_download_rules(server: RunningServer) -> None:
    stub = server.stub()
    running = stub.StartSession(
        spb.StartSessionRequest(session_options=live_clip(LIVE, 30))
    ).started_session_id
    with pytest.raises(grpc.RpcError) as error:
        download(stub, running, "anything.mp4")
    assert error.value.code() == S.FAILED_PRECONDITION
    assert "S_COMPLETED" in error.value.details()
    stub.DestroySession(spb.DestroySessionRequest(session_id=running))

    done = stub.StartSession(spb.StartSessionRequest(session_options=_clip())).started_session_id
    state = wait_completed(stub, done)
    assert state.result.succeeded, state.error
    for bad_path in [
        "../../vexport.db",
        "/etc/passwd",
        "nope.mp4",
        state.result.files[0].path + "/",
    ]:
        with pytest.raises(grpc.RpcError) as error:
            download(stub, done, bad_path)
        assert error.value.code() == S.NOT_FOUND, bad_path
    with pytest.raises(grpc.RpcError) as error:
        download(stub, done, state.result.files[0].path, start_from_chunk_index=10**6)
    assert error.value.code() == S.INVALID_ARGUMENT


def test_full_queue_is_resource_exhausted(server: RunningServer) -> None:
    from tests.api.conftest import AGENT2

    stub = server.stub()
    options = live_clip(LIVE, 20)
    options.export_agent_access_point = AGENT2
    first = stub.StartSession(spb.StartSessionRequest(session_options=options)).started_session_id
    try:
        # AGENT2 runs one export at a time and queues one more.
        second = stub.StartSession(
            spb.StartSessionRequest(session_options=options)
        ).started_session_id
        with pytest.raises(grpc.RpcError) as error:
            stub.StartSession(spb.StartSessionRequest(session_options=options))
        assert error.value.code() == S.RESOURCE_EXHAUSTED
        assert AGENT2 in error.value.details()
        queued = stub.GetSessionState(spb.GetSessionStateRequest(session_id=second))
        assert queued.session_state.state == spb.S_NONE
        stub.DestroySession(spb.DestroySessionRequest(session_id=second))
    finally:
        stub.DestroySession(spb.DestroySessionRequest(session_id=first))
