"""Archive manifests: hand-written edge cases, generated archives, and one over HTTP."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.media_fixtures import make_dash_archive, make_hls_archive
from vexport.sources.archive_index import (
    ArchiveError,
    ArchiveIndex,
    Gap,
    Segment,
    load_archive_index,
    parse_dash,
)
from vexport.storage import StorageError, default_reader

T0 = datetime(2025, 6, 1, 8, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class MemoryReader:
    """Manifests held in memory, keyed by URL, as a storage backend would serve them."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read(self, url: str) -> bytes:
        try:
            return self.files[url].encode()
        except KeyError:
            raise StorageError(f"{url}: no such file") from None


def load(text: str, url: str = "https://archive/cam1/index.m3u8") -> ArchiveIndex:
    return load_archive_index(url, MemoryReader({url: text}))


def playlist(*body: str, head: str = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n") -> str:
    return head + "\n".join(body) + "\n"


# --- HLS ---------------------------------------------------------------------------------


def test_hls_pdt_per_segment_and_continuation() -> None:
    index = load(
        playlist(
            "#EXT-X-MEDIA-SEQUENCE:40",
            "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T08:00:00.000Z",
            "#EXTINF:2.0,",
            "a.ts",
            "#EXTINF:2.5,",
            "sub/b.ts",
            "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T10:00:05.000+02:00",
            "#EXTINF:2.0,",
            "https://cdn/c.ts",
        )
    )
    assert [s.start for s in index.video] == [at(0), at(2), at(5)]
    assert [s.url for s in index.video] == [
        "https://archive/cam1/a.ts",
        "https://archive/cam1/sub/b.ts",
        "https://cdn/c.ts",
    ]
    assert [s.sequence for s in index.video] == [40, 41, 42]
    assert {s.track for s in index.video} == {"muxed"}
    assert index.start == at(0)
    assert index.end == at(7)
    assert index.gaps_between(at(0), at(7)) == [Gap(at(4.5), at(5))]


def test_hls_segments_before_the_first_pdt_are_dated_backwards() -> None:
    index = load(
        playlist(
            "#EXTINF:2,",
            "a.ts",
            "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T08:00:02Z",
            "#EXTINF:2,",
            "b.ts",
        )
    )
    assert [s.start for s in index.video] == [at(0), at(2)]


def test_hls_without_pdt_is_refused() -> None:
    with pytest.raises(ArchiveError, match="no EXT-X-PROGRAM-DATE-TIME"):
        load(playlist("#EXTINF:2,", "a.ts", "#EXT-X-ENDLIST"))


def test_hls_pdt_without_zone_is_refused() -> None:
    with pytest.raises(ArchiveError, match="no time zone"):
        load(playlist("#EXT-X-PROGRAM-DATE-TIME:2025-06-01T08:00:00", "#EXTINF:2,", "a.ts"))


def test_hls_fmp4_map_and_discontinuity() -> None:
    index = load(
        playlist(
            '#EXT-X-MAP:URI="init-1.mp4"',
            "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T08:00:00Z",
            "#EXTINF:2,",
            "s1.m4s",
            "#EXT-X-DISCONTINUITY",
            '#EXT-X-MAP:URI="init-2.mp4"',
            "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T08:01:00Z",
            "#EXTINF:2,",
            "s2.m4s",
            "#EXTINF:2,",
            "s3.m4s",
        )
    )
    assert [s.init_url for s in index.video] == [
        "https://archive/cam1/init-1.mp4",
        "https://archive/cam1/init-2.mp4",
        "https://archive/cam1/init-2.mp4",
    ]
    assert [s.start for s in index.video] == [at(0), at(60), at(62)]
    assert index.gaps_between(at(1), at(61)) == [Gap(at(2), at(60))]
    assert [s.url[-6:] for s in index.segments_between(at(1), at(61))] == ["s1.m4s", "s2.m4s"]


def test_hls_gap_tag_leaves_a_hole() -> None:
    index = load(
        playlist(
            "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T08:00:00Z",
            "#EXTINF:2,",
            "a.ts",
            "#EXT-X-GAP",
            "#EXTINF:2,",
            "missing.ts",
            "#EXTINF:2,",
            "c.ts",
        )
    )
    assert [s.start for s in index.video] == [at(0), at(4)]
    assert index.gaps_between(at(0), at(6)) == [Gap(at(2), at(4))]


def test_hls_master_playlist_follows_the_best_variant() -> None:
    master = "https://archive/cam1/master.m3u8"
    files = {
        master: playlist(
            '#EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS="avc1.4d401f"',
            "low/index.m3u8",
            "#EXT-X-STREAM-INF:BANDWIDTH=4000000",
            "high/index.m3u8",
            head="#EXTM3U\n",
        ),
        "https://archive/cam1/high/index.m3u8": playlist(
            "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T08:00:00Z", "#EXTINF:2,", "a.ts"
        ),
    }
    index = load_archive_index(master, MemoryReader(files))
    assert index.url == master
    assert [s.url for s in index.video] == ["https://archive/cam1/high/a.ts"]


def test_not_a_manifest() -> None:
    with pytest.raises(ArchiveError, match="neither an HLS playlist nor a DASH MPD"):
        load("GIF89a")


def test_errors_hide_url_secrets() -> None:
    url = "https://user:pw@archive/cam1/index.m3u8?token=s3cr3t"
    with pytest.raises(ArchiveError) as caught:
        load(playlist("#EXTINF:2,", "a.ts"), url)
    assert "https://archive/cam1/index.m3u8" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert "pw" not in str(caught.value)


# --- gaps --------------------------------------------------------------------------------


def _index(*spans: tuple[float, float]) -> ArchiveIndex:
    return ArchiveIndex(
        "mem://x", tuple(Segment(f"s{i}", at(a), b - a, "muxed") for i, (a, b) in enumerate(spans))
    )


def test_gaps_at_the_edges_and_in_the_middle() -> None:
    index = _index((10, 12), (12, 14), (20, 22))
    assert index.gaps_between(at(5), at(30)) == [
        Gap(at(5), at(10)),
        Gap(at(14), at(20)),
        Gap(at(22), at(30)),
    ]
    assert index.gaps_between(at(11), at(13)) == []
    assert index.gaps_between(at(15), at(16)) == [Gap(at(15), at(16))]


def test_holes_within_tolerance_are_not_gaps() -> None:
    index = _index((0, 2), (2.03, 4), (4.2, 6))
    assert index.gaps_between(at(0), at(6)) == [Gap(at(4), at(4.2))]


def test_segments_between_overlap_rules() -> None:
    index = _index((0, 2), (2, 4), (4, 6))
    assert [s.url for s in index.segments_between(at(2), at(2))] == ["s1"]
    assert [s.url for s in index.segments_between(at(1.9), at(4))] == ["s0", "s1", "s2"]
    assert index.segments_between(at(7), at(8)) == []
    assert _index().start is None


# --- DASH --------------------------------------------------------------------------------

MPD_NUMBER = """<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"
     availabilityStartTime="2025-06-01T08:00:00Z" mediaPresentationDuration="PT17S">
  <BaseURL>media/</BaseURL>
  <Period start="PT10S">
    <AdaptationSet contentType="video">
      <BaseURL>video/</BaseURL>
      <SegmentTemplate timescale="90000" duration="180000" startNumber="5"
          presentationTimeOffset="900000"
          initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number%05d$.m4s"/>
      <Representation id="low" bandwidth="100000"/>
      <Representation id="high" bandwidth="900000"><BaseURL>hq/</BaseURL></Representation>
    </AdaptationSet>
    <AdaptationSet mimeType="audio/mp4">
      <Representation id="aac" bandwidth="64000">
        <SegmentTemplate timescale="48000" duration="96000"
            initialization="a-init.mp4" media="a-$Bandwidth$-$Number$-$$.m4s"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_dash_number_template_with_base_urls_and_pto() -> None:
    index = parse_dash(MPD_NUMBER, "https://h/cam/manifest.mpd")
    video = index.video
    assert [s.url for s in video] == [
        f"https://h/cam/media/video/hq/high/{n:05d}.m4s" for n in (5, 6, 7, 8)
    ]
    assert video[0].init_url == "https://h/cam/media/video/hq/high/init.mp4"
    # Period@start 10 s; with a $Number$ template the PTO only shifts media time.
    assert [s.start for s in video] == [at(10), at(12), at(14), at(16)]
    assert [s.duration for s in video] == [2, 2, 2, 1]  # cut by the presentation end (17 s)
    assert [s.sequence for s in video] == [5, 6, 7, 8]
    assert {s.track for s in video} == {"video"}
    audio = index.audio
    assert audio[0].url == "https://h/cam/media/a-64000-1-$.m4s"
    assert audio[0].init_url == "https://h/cam/media/a-init.mp4"
    assert {s.track for s in audio} == {"audio"}
    assert index.end == at(17)


MPD_TIMELINE = """<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"
     availabilityStartTime="2025-06-01T08:00:00.5Z">
  <Period id="p0" duration="PT20S">
    <AdaptationSet contentType="video">
      <SegmentTemplate timescale="1000" presentationTimeOffset="1000"
          media="v-$RepresentationID$-$Time$.m4s" initialization="v-init.mp4">
        <SegmentTimeline>
          <S t="1000" d="2000" r="-1"/>
          <S t="9000" d="2000" r="1"/>
          <S t="15000" d="2500" r="-1"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="v1" bandwidth="2000000"/>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_dash_timeline_repeats_until_next_s_and_period_end() -> None:
    index = parse_dash(MPD_TIMELINE, "file:///arch/cam/x.mpd")
    times = [1000, 3000, 5000, 7000, 9000, 11000, 15000, 17500, 20000]
    assert [s.url for s in index.video] == [f"file:///arch/cam/v-v1-{t}.m4s" for t in times]
    assert [s.start for s in index.video] == [at(0.5 + (t - 1000) / 1000) for t in times]
    assert index.audio == ()
    # 9000..13000 then 15000: a 1 s hole; the last segment ends at the period end.
    assert index.gaps_between(at(0.5), at(20.5)) == [Gap(at(12.5), at(14.5))]
    assert index.end == at(20.5)


MPD_DYNAMIC = """<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"
     availabilityStartTime="2025-06-01T08:00:00Z" timeShiftBufferDepth="PT10S">
  <Period start="PT0S">
    <AdaptationSet mimeType="video/mp4">
      <SegmentTemplate timescale="1" duration="2" startNumber="1" media="s$Number$.m4s"/>
      <Representation id="v" bandwidth="1"/>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_dash_dynamic_number_template_lists_the_available_window() -> None:
    index = parse_dash(MPD_DYNAMIC, "https://h/live.mpd", now=at(61))
    # 30 segments have ended by 61 s; the 10 s buffer keeps those ending at or after 51 s.
    assert [s.sequence for s in index.video] == [26, 27, 28, 29, 30]
    assert index.video[0].start == at(50)
    assert index.video[-1].end == at(60)


def test_dash_without_namespace_and_availability_start() -> None:
    text = """<MPD type="static" mediaPresentationDuration="PT4S"><Period>
      <AdaptationSet contentType="video"><Representation id="1" bandwidth="1">
        <SegmentTemplate duration="2" media="$Number$.mp4"/>
      </Representation></AdaptationSet></Period></MPD>"""
    index = parse_dash(text, "/arch/a.mpd")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert [s.start for s in index.video] == [epoch, epoch + timedelta(seconds=2)]
    assert index.video[0].url == "file:///arch/1.mp4"


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ('<SegmentTemplate media="$Number$.m4s"/>', "SegmentTimeline or a duration"),
        ('<SegmentList duration="2"/>', "only SegmentTemplate"),
        ('<SegmentTemplate duration="2" media="$Foo$.m4s"/>', "unknown identifier"),
    ],
)
def test_dash_unsupported_addressing(fragment: str, message: str) -> None:
    text = f"""<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" mediaPresentationDuration="PT4S">
      <Period><AdaptationSet contentType="video"><Representation id="1" bandwidth="1">
      {fragment}</Representation></AdaptationSet></Period></MPD>"""
    with pytest.raises(ArchiveError, match=message):
        parse_dash(text, "https://h/a.mpd")


def test_dash_malformed_xml() -> None:
    with pytest.raises(ArchiveError, match="not well-formed"):
        load("<MPD><Period>", "https://h/a.mpd")


# --- generated archives, and over HTTP ---------------------------------------------------


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("archives")
    return {
        "hls": make_hls_archive(root / "hls", T0, 6.0, drop_segments={1}, pdt_every_segment=False),
        "dash": make_dash_archive(root / "dash", T0, 6.0, template="number"),
    }


def test_generated_hls_archive(archives: dict[str, Path]) -> None:
    index = load_archive_index(str(archives["hls"]), default_reader())
    assert [s.start for s in index.video] == [at(0), at(4)]
    assert index.gaps_between(at(0), at(6)) == [Gap(at(2), at(4))]


def test_generated_dash_archive(archives: dict[str, Path]) -> None:
    index = load_archive_index(archives["dash"].as_uri(), default_reader())
    assert [s.start for s in index.video] == [at(0), at(2), at(4)]
    assert len(index.audio) == 3
    assert index.gaps_between(at(0), at(6)) == []


@pytest.fixture(scope="module")
def http_root(archives: dict[str, Path]) -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(archives["hls"].parent))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_hls_over_http(http_root: str) -> None:
    index = load_archive_index(f"{http_root}/index.m3u8", default_reader())
    assert [s.url for s in index.video] == [
        f"{http_root}/seg00000.ts",
        f"{http_root}/seg00002.ts",
    ]
    assert len(default_reader().read(index.video[0].url)) > 1000
    with pytest.raises(ArchiveError, match="HTTP 404"):
        load_archive_index(f"{http_root}/missing.m3u8", default_reader())
