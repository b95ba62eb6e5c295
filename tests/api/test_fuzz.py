"""Property-based and fuzz tests of what clients send: no UNKNOWN, no 500, nothing stuck.

In process, through the very functions the servers call (``ExportContract``
for gRPC ``Options`` and the HTTP JSON body, ``s3dir_request_of_bytes`` for
``/export-to-s3dir``): 10,000 generated ``Options`` and 10,000 bodies. The
properties: a refusal is one of the documented errors with a bounded
message; whatever is accepted can be stored and read back (the plan of an
accepted request never fails ``stored_plan``, the poison of issue 12). Then
a smaller sample over the real gRPC and HTTP sockets of a running server,
after which every session it accepted completes once stopped and is listed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import CAMERA, CAMERA2, LIVE, STORAGE, sources
from tests.api.fuzz_strategies import options, s3dir_bodies
from tests.api.fuzzer import OptionsFuzzer, S3DirFuzzer
from tests.api.harness import RunningServer, make_settings, running_server
from vexport.api.contract import ExportContract
from vexport.api.contract.s3dir import s3dir_request_of_bytes
from vexport.api.http.sessions import parse_options
from vexport.config import ExportToS3DirConfig, Settings, load_settings
from vexport.errors import (
    MAX_MESSAGE,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unimplemented,
)
from vexport.jobs.planning import plan_of, stored_plan
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.s3dir.errors import ErrorCode, S3DirError
from vexport.sources.catalog import Catalog

CALLER = "fuzz-caller"
BUCKET = "fuzz-archive"
ORIGINS = [CAMERA, CAMERA2]
LIVE_ORIGINS = [LIVE]
REFUSALS = (InvalidArgument, NotFound, FailedPrecondition, Unimplemented)
S3DIR_REFUSALS = {
    ErrorCode.BAD_REQUEST,
    ErrorCode.UNAUTHORIZED,
    ErrorCode.BAD_STORAGE_INFO,
}
RUNS = 10_000
PROPERTIES = settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,  # the same 10,000 every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SOCKET_RUNS = 80


def _settings(data_dir: Path, playlist: Path) -> Settings:
    return make_settings(
        data_dir,
        sources=sources(playlist),
        sessions={"max_running": 1, "max_queued": 10_000, "timer_interval": "0.2s"},
        export_to_s3dir={"session_ids": [CALLER], "archive_buckets": [BUCKET], "max_running": 1},
    )


SETTINGS = load_settings(
    None,
    sources=sources(Path("/nonexistent/index.m3u8")),
    demo={"enabled": False},
)
CONTRACT = ExportContract(Catalog(SETTINGS.sources), [a.access_point for a in SETTINGS.agents])
S3DIR = ExportToS3DirConfig(session_ids=[CALLER], archive_buckets=[BUCKET])


def _check(message: pb.Options) -> bool:
    """The property of one ``Options``; whether it was accepted."""
    try:
        request = CONTRACT.request(message)
    except REFUSALS as exc:
        text = str(exc)
        assert text and len(text) <= MAX_MESSAGE
        return False
    # Accepted: its plan can be stored and read back (issue 12's poisoned rows).
    stored_plan(plan_of(request, SETTINGS))
    return True


def _check_both(message: pb.Options) -> bool:
    """``_check`` over gRPC's message and over the same message as HTTP JSON."""
    accepted = _check(message)
    try:
        text = json_format.MessageToJson(message, preserving_proto_field_name=True)
    except (json_format.SerializeToJsonError, ValueError):
        return accepted  # not expressible in JSON (a Duration out of range): gRPC only
    try:
        again = parse_options(json.loads(text))
    except InvalidArgument:
        return accepted  # refused before the contract, as a 400
    assert _check(again) is accepted
    return accepted


@PROPERTIES
@given(options(ORIGINS, LIVE_ORIGINS))
def test_options_are_accepted_and_stored_or_refused_with_a_documented_error(
    message: pb.Options,
) -> None:
    _check_both(message)


@PROPERTIES
@given(s3dir_bodies(CALLER, BUCKET))
def test_export_to_s3dir_bodies_are_a_request_or_a_contract_error(raw: bytes) -> None:
    _check_body(raw)


def test_a_fuzz_run_of_10000_options() -> None:
    fuzzer = OptionsFuzzer(12, ORIGINS, LIVE_ORIGINS)
    accepted = sum(_check_both(fuzzer.next()) for _ in range(RUNS))
    assert RUNS // 20 < accepted < RUNS  # both paths ran, often


def test_a_fuzz_run_of_10000_export_to_s3dir_bodies() -> None:
    fuzzer = S3DirFuzzer(12, CALLER, BUCKET)
    accepted = sum(_check_body(fuzzer.next()) for _ in range(RUNS))
    assert RUNS // 20 < accepted < RUNS


def _check_body(raw: bytes) -> bool:
    try:
        request = s3dir_request_of_bytes(raw, S3DIR)
    except S3DirError as exc:
        assert exc.code in S3DIR_REFUSALS, (exc.code, str(exc))
        assert str(exc) and len(str(exc)) < 1000
        return False
    assert request.caller == CALLER
    assert request.duration_ms > 0 and request.start < request.end
    assert not request.destination_key.startswith("/") and ".." not in request.destination_key
    return True


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, archive_playlist: Path
) -> Iterator[RunningServer]:
    with running_server(_settings(tmp_path_factory.mktemp("fuzz"), archive_playlist)) as running:  # type: ignore[arg-type]
        yield running


def test_a_sample_over_the_sockets_gets_documented_answers_and_nothing_sticks(
    server: RunningServer,
) -> None:
    stub = server.stub()
    url = server.http_url
    started: list[str] = []
    codes: dict[str, int] = {}

    messages = OptionsFuzzer(34, ORIGINS, LIVE_ORIGINS)
    for _ in range(SOCKET_RUNS):  # gRPC
        try:
            answer = stub.StartSession(spb.StartSessionRequest(session_options=messages.next()))
        except grpc.RpcError as exc:
            assert exc.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (
                exc.code(),
                exc.details(),
            )
            codes[exc.code().name] = codes.get(exc.code().name, 0) + 1
            continue
        started.append(answer.started_session_id)
    for _ in range(SOCKET_RUNS):  # HTTP
        try:
            body = json_format.MessageToJson(messages.next(), preserving_proto_field_name=True)
        except (json_format.SerializeToJsonError, ValueError):
            continue
        answer = httpx.post(
            f"{url}/api/v1/sessions", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code in (201, 400, 404, 409, 413, 429, 501), answer.text
        assert answer.headers["content-type"] == "application/json"
        if answer.status_code == 201:
            started.append(answer.json()["session_id"])
        else:
            assert answer.json()["error"]["code"] != "INTERNAL"
    bodies = S3DirFuzzer(34, CALLER, BUCKET)
    for _ in range(SOCKET_RUNS):
        answer = httpx.post(
            f"{url}/export-to-s3dir",
            content=bodies.next(),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        code = answer.json()["ErrorCode"]
        assert code in {int(c) for c in ErrorCode} and code != ErrorCode.INTERNAL, answer.text

    assert started, codes  # some were accepted: the accepting path ran too

    # Nothing stuck: every accepted session completes once stopped, and is listed.
    for session_id in started:
        stub.StopSession(spb.StopSessionRequest(session_id=session_id))
    deadline = time.monotonic() + 120
    for session_id in started:
        while True:
            state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
            if state.session_state.state >= spb.S_COMPLETED:
                break
            assert time.monotonic() < deadline, f"{session_id} stuck: {state.session_state}"
            time.sleep(0.1)
    listed = {
        info.session.id
        for page in stub.ListSessions(spb.ListSessionsRequest(page_size=1000))
        for info in page.sessions
    }
    assert set(started) <= listed
    answer = httpx.get(f"{url}/api/v1/sessions", params={"page_size": 1000})
    assert set(started) <= {info["session"]["id"] for info in answer.json()["sessions"]}


def test_the_storage_name_of_the_catalog_is_real() -> None:
    assert CONTRACT.catalog.get(CAMERA).archive(STORAGE).storage == STORAGE
