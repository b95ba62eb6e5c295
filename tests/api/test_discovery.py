"""Discovery over real sockets: origins, intervals, days and thumbnails, HTTP and gRPC.

The archive has a gap (its third segment is missing), so intervals, gaps and
thumbnails of a time without video are all tested against what is on disk.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO

import av
import grpc
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tests.api.conftest import CAMERA, LIVE, STORAGE
from tests.api.harness import RunningServer, make_settings, running_server
from tests.media_fixtures import LUMA_PERIOD, frame_number, frame_time, make_hls_archive
from vexport.api.grpc.discovery import from_vendor_ms, to_vendor_ms
from vexport.protos.axxonsoft.bl.archive import ArchiveService_pb2 as apb
from vexport.protos.axxonsoft.bl.archive import ArchiveService_pb2_grpc as apb_grpc
from vexport.protos.vexport.v1 import discovery_service_pb2 as dpb
from vexport.protos.vexport.v1 import discovery_service_pb2_grpc as dpb_grpc

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
SECONDS = 12.0  # six 2 s segments; the third (4 s - 6 s) is missing
GAP = (START + timedelta(seconds=4), START + timedelta(seconds=6))
LOST = "hosts/test/DeviceIpint.3/SourceEndpoint.video:0:0"  # its manifest is missing
ACCESS_POINT = (
    "hosts/test/MultimediaStorage.Main/Sources/src.test_DeviceIpint.1_SourceEndpoint.video_0_0"
)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    playlist = make_hls_archive(
        tmp_path_factory.mktemp("gap-archive"), START, SECONDS, drop_segments={2}
    )
    settings = make_settings(
        tmp_path_factory.mktemp("data"),
        sources=[
            {"origin": CAMERA, "archives": [{"storage": STORAGE, "url": playlist.as_uri()}]},
            {"origin": LIVE, "name": "door", "live": "lavfi:testsrc2=size=320x180:rate=25"},
            {
                "origin": LOST,
                "archives": [{"storage": STORAGE, "url": (playlist.parent / "gone.m3u8").as_uri()}],
            },
        ],
    )
    with running_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        yield client


def _decoded(data: bytes) -> av.VideoFrame:
    with av.open(BytesIO(data)) as container:
        return next(container.decode(video=0))


def test_origins_list_names_labels_live_and_archives_never_urls(http: httpx.Client) -> None:
    answer = http.get("/api/v1/origins")
    assert answer.status_code == 200
    origins = {o["origin"]: o for o in answer.json()["origins"]}
    assert origins[CAMERA] == {
        "origin": CAMERA,
        "label": "test_DeviceIpint.1_SourceEndpoint.video_0_0",
        "live": False,
        "archives": [{"storage": STORAGE, "access_point": ACCESS_POINT}],
    }
    assert origins[LIVE] == {"origin": LIVE, "label": "door", "live": True, "archives": []}
    assert origins[LOST]["archives"][0]["storage"] == STORAGE
    assert "file:" not in answer.text and "lavfi" not in answer.text


def test_intervals_and_gaps_of_the_whole_archive_and_of_a_range(http: httpx.Client) -> None:
    answer = http.get(f"/api/v1/origins/{CAMERA}/intervals")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["storage"] == STORAGE and body["complete"] is True
    assert [i["begin"] for i in body["intervals"]] == [iso(START), iso(GAP[1])]
    assert body["intervals"][0]["end"] == iso(GAP[0])
    assert body["gaps"] == [{"begin": iso(GAP[0]), "end": iso(GAP[1])}]
    ranged = http.get(
        f"/api/v1/origins/{CAMERA}/intervals",
        params={"begin": iso(START + timedelta(seconds=3)), "end": "20260101T120007"},
    ).json()
    assert ranged["intervals"] == [
        {"begin": iso(START + timedelta(seconds=3)), "end": iso(GAP[0])},
        {"begin": iso(GAP[1]), "end": iso(START + timedelta(seconds=7))},
    ]
    capped = http.get(f"/api/v1/origins/{CAMERA}/intervals", params={"max_count": 1}).json()
    assert len(capped["intervals"]) == 1 and capped["complete"] is False


def test_days_in_utc_and_in_a_time_zone(http: httpx.Client) -> None:
    url = f"/api/v1/origins/{CAMERA}/calendar"
    assert http.get(url).json()["days"] == ["2026-01-01"]
    assert http.get(url, params={"tz": "+12:00"}).json()["days"] == ["2026-01-02"]
    assert http.get(url, params={"tz": "America/New_York"}).json()["days"] == ["2026-01-01"]
    bad = http.get(url, params={"tz": "Atlantis/Capital"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert bad.json()["error"]["field"] == "tz"


@pytest.mark.parametrize(
    ("path", "params", "status", "code", "field"),
    [
        ("/api/v1/origins/no/such/camera/intervals", {}, 404, "NOT_FOUND", "origin"),
        (f"/api/v1/origins/{CAMERA}/intervals", {"begin": "yesterday"}, 400, "INVALID_ARGUMENT",
         "begin"),
        (f"/api/v1/origins/{CAMERA}/intervals",
         {"begin": "20260101T120005", "end": "20260101T120001"}, 400, "INVALID_ARGUMENT", "end"),
        (f"/api/v1/origins/{CAMERA}/intervals", {"storage": "nope"}, 404, "NOT_FOUND", None),
        (f"/api/v1/origins/{LIVE}/calendar", {}, 409, "FAILED_PRECONDITION", None),
        (f"/api/v1/origins/{CAMERA}/thumbnails", {"begin": "20260101T120000"}, 400,
         "INVALID_ARGUMENT", "end"),
        (f"/api/v1/origins/{CAMERA}/thumbnails",
         {"begin": "20260101T120000", "end": "20260101T120010", "interval": "0s"}, 400,
         "INVALID_ARGUMENT", "interval"),
        (f"/api/v1/origins/{CAMERA}/thumbnail", {"time": "20260101T120000", "width": 0}, 400,
         "INVALID_ARGUMENT", "width"),
        (f"/api/v1/origins/{CAMERA}/thumbnail", {"time": "20260101T120005"}, 404, "NOT_FOUND",
         "time"),
    ],
)  # fmt: skip
def test_bad_requests_name_the_field(
    http: httpx.Client,
    path: str,
    params: dict[str, object],
    status: int,
    code: str,
    field: str | None,
) -> None:
    answer = http.get(path, params=params)  # type: ignore[arg-type]
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["field"] == field
    assert "file:" not in error["message"] and "Traceback" not in error["message"]


def test_thumbnails_are_keyframes_unless_exact_and_scaled_as_asked(http: httpx.Client) -> None:
    at = frame_time(START, 37)  # 37 frames after the keyframe of frame 0
    answer = http.get(
        f"/api/v1/origins/{CAMERA}/thumbnails",
        params={"times": f"{iso(at)},{iso(GAP[0] + timedelta(seconds=1))}", "format": "png"},
    )
    assert answer.status_code == 200, answer.text
    fast, missing = answer.json()["images"]
    assert fast["frame_time"] == iso(START) and fast["time"] == iso(at)
    assert (fast["width"], fast["height"], fast["mime_type"]) == (320, 180, "image/png")
    assert frame_number(_decoded(base64.b64decode(fast["data"]))) == 0
    assert missing["error"] == "NO_MEDIA" and missing["data"] is None

    exact = http.get(
        f"/api/v1/origins/{CAMERA}/thumbnails",
        params={"times": iso(at), "format": "png", "exact": "true"},
    ).json()["images"][0]
    assert exact["frame_time"] == iso(frame_time(START, 37))
    assert frame_number(_decoded(base64.b64decode(exact["data"]))) == 37 % LUMA_PERIOD

    small = http.get(f"/api/v1/origins/{CAMERA}/thumbnail", params={"time": iso(at), "width": 160})
    assert small.status_code == 200
    assert small.headers["content-type"] == "image/jpeg"
    assert small.headers["x-frame-time"] == iso(START)
    picture = _decoded(small.content)
    assert (picture.width, picture.height) == (160, 90)


def test_thumbnails_at_an_interval_are_capped_and_say_where_to_go_on(http: httpx.Client) -> None:
    answer = http.get(
        f"/api/v1/origins/{CAMERA}/thumbnails",
        params={
            "begin": iso(START),
            "end": iso(START + timedelta(seconds=10)),
            "interval": "2s",
            "max_results": 3,
            "height": 90,
        },
    ).json()
    times = [i["time"] for i in answer["images"]]
    assert times == [iso(START + timedelta(seconds=s)) for s in (0, 2, 4)]
    assert [i["error"] for i in answer["images"]] == ["", "", "NO_MEDIA"]
    assert answer["next_time"] == iso(START + timedelta(seconds=6))
    assert {(i["width"], i["height"]) for i in answer["images"][:2]} == {(160, 90)}


def test_vendor_archive_service_get_history2_and_get_calendar(server: RunningServer) -> None:
    stub = apb_grpc.ArchiveServiceStub(server.channel())
    begin, end = to_vendor_ms(START - timedelta(hours=1)), to_vendor_ms(START + timedelta(hours=1))
    answer = stub.GetHistory2(
        apb.GetHistory2Request(access_point=ACCESS_POINT, begin_time=begin, end_time=end)
    )
    assert answer.result == apb.GetHistory2Response.FULL
    assert [(i.begin_time, i.end_time) for i in answer.intervals] == [
        (to_vendor_ms(START), to_vendor_ms(GAP[0])),
        (to_vendor_ms(GAP[1]), to_vendor_ms(START + timedelta(seconds=SECONDS))),
    ]
    assert from_vendor_ms(answer.intervals[0].begin_time) == START
    newest = stub.GetHistory2(
        apb.GetHistory2Request(access_point=CAMERA, begin_time=end, end_time=begin, max_count=1)
    )
    assert newest.result == apb.GetHistory2Response.PARTIAL
    assert [i.begin_time for i in newest.intervals] == [to_vendor_ms(GAP[1])]
    merged = stub.GetHistory2(
        apb.GetHistory2Request(
            access_point=ACCESS_POINT, begin_time=begin, end_time=end, min_gap_ms=2500
        )
    )
    assert len(merged.intervals) == 1
    days = stub.GetCalendar(
        apb.GetCalendarRequest(access_point=ACCESS_POINT, begin_time=begin, end_time=end)
    )
    assert list(days.days) == [to_vendor_ms(datetime(2026, 1, 1, tzinfo=UTC))]
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetHistory2(apb.GetHistory2Request(access_point="hosts/x/Sources/src.y"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "access_point" in (caught.value.details() or "")


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def test_own_discovery_service_over_grpc(server: RunningServer) -> None:
    stub = dpb_grpc.DiscoveryServiceStub(server.channel())
    origins = stub.ListOrigins(dpb.ListOriginsRequest()).origins
    assert [o.origin for o in origins] == [CAMERA, LIVE, LOST]
    assert origins[0].archives[0].access_point == ACCESS_POINT
    intervals = stub.GetIntervals(dpb.GetIntervalsRequest(origin=CAMERA))
    assert len(intervals.intervals) == 2 and len(intervals.gaps) == 1
    assert intervals.gaps[0].begin.ToDatetime(tzinfo=UTC) == GAP[0]
    days = stub.GetDays(dpb.GetDaysRequest(origin=CAMERA, time_zone="+12:00"))
    assert list(days.days) == ["2026-01-02"]
    images = list(
        stub.GetImages(
            dpb.GetImagesRequest(
                origin=CAMERA,
                begin=_ts(START),
                end=_ts(START + timedelta(seconds=8)),
                interval=Duration(seconds=4),
                width=64,
                format=dpb.IMAGE_FORMAT_PNG,
            )
        )
    )
    pictures = [r.images[0] for r in images]
    assert [p.error for p in pictures] == ["", "NO_MEDIA", ""]
    assert pictures[0].mime_type == "image/png" and pictures[0].width == 64
    assert _decoded(pictures[2].data).width == 64
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.GetImages(dpb.GetImagesRequest(origin=CAMERA, begin=_ts(START))))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("end:")
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetIntervals(dpb.GetIntervalsRequest(origin="nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_discovery_services_are_health_checked(server: RunningServer) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(server.channel())
    for name in ("axxonsoft.bl.archive.ArchiveService", "vexport.v1.DiscoveryService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_an_unreadable_archive_is_try_later_never_its_path(
    server: RunningServer, http: httpx.Client
) -> None:
    answer = http.get(f"/api/v1/origins/{LOST}/intervals")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    error = answer.json()["error"]
    assert error["code"] == "UNAVAILABLE"
    assert "gone.m3u8" not in error["message"] and "file:" not in error["message"]
    assert error["message"].endswith("cannot be read now")
    stub = apb_grpc.ArchiveServiceStub(server.channel())
    history = stub.GetHistory2(apb.GetHistory2Request(access_point=LOST, end_time=2**40))
    assert history.result == apb.GetHistory2Response.TRY_LATER
    assert list(history.intervals) == []
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetCalendar(apb.GetCalendarRequest(access_point=LOST, end_time=2**40))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "gone.m3u8" not in (caught.value.details() or "")
