"""The benchmark's own code path, tiny: every case runs once and lands in the table.

``make bench`` is too slow for the suite (a 10-minute 1080p archive), so this
runs the same ``bench.run.run_bench`` on a 12-second 320x180 archive with
one run per case. It checks outcomes, never timings: each case produced
its files on both sides (vexport's downloaded through the API), and the
report has a row for it with a number, not a failure.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.measure import Result
from bench.report import Report
from bench.run import SMOKE, run_bench

pytestmark = pytest.mark.slow

# Archive snapshots fail on archives with B-frames (issue 10: the keyframe's DTS is
# before its PTS). Strict: when the fix lands these pass and the marks must go.
CASES = [
    "copy-mp4",
    "copy-ts",
    "copy-mp4-dash",
    "smart-mp4",
    "smart-ts",
    "transcode",
    "snapshot",
    "snapshot-dash",
    "download-grpc",
    "download-grpc-4m",
    "download-http",
    *(["download-curl"] if shutil.which("curl") else []),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    work = tmp_path_factory.mktemp("bench")
    result, _ = run_bench(SMOKE, work / "run", cache=work / "cache", log=False)
    return result


def _result(report: Report, key: str) -> Result:
    found = [r for r in report.results if r.case.key == key]
    assert found, f"no case {key!r} in {[r.case.key for r in report.results]}"
    return found[0]


def test_every_case_ran(report: Report) -> None:
    assert sorted(r.case.key for r in report.results) == sorted(CASES)


@pytest.mark.parametrize(
    "key",
    CASES,
)
def test_case_produced_files_and_a_row(report: Report, key: str) -> None:
    result = _result(report, key)
    assert not result.error, result.error
    assert len(result.ours) == 1 and all(len(runs) == 1 for runs in result.baselines)
    for run in [*result.ours, *(runs[0] for runs in result.baselines)]:
        assert run.seconds > 0
        if result.case.throughput:
            assert run.moved == SMOKE.download_bytes
        else:
            assert run.produced, f"{key}: a side wrote nothing"
            assert all(size > 0 for _, size, _ in run.produced)
            assert not any(probe.startswith("unreadable") for _, _, probe in run.produced)
    rows = [
        line for line in report.text().splitlines() if line.startswith(f"| {result.case.title} |")
    ]
    assert rows, f"no table row for {result.case.title!r}"
    assert "| failed |" not in rows[0]
    assert "x |" in rows[0]  # a ratio


def test_report_names_the_machine_and_the_archive(report: Report) -> None:
    text = report.text()
    assert "FFmpeg: " in text and "cores: " in text and "RAM: " in text
    assert "320x180p25 H.264" in text


def test_update_doc_replaces_only_the_marked_part(report: Report, tmp_path: Path) -> None:
    from bench.report import DOC_END, DOC_START, update_doc

    doc = tmp_path / "performance.md"
    doc.write_text(f"# before\n{DOC_START}\nold table\n{DOC_END}\nafter\n")
    update_doc("new table", doc)
    assert doc.read_text() == f"# before\n{DOC_START}\nnew table\n{DOC_END}\nafter\n"
