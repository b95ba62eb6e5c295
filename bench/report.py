"""The benchmark's report: the table of medians and ratios, what came out, the machine.

Everything is Markdown, so the same text reads in a terminal and goes into
``docs/performance.md`` unchanged (``update_doc`` replaces the part between
the markers there).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import av

from bench.archive import Archive, ArchiveSpec, ffmpeg_version
from bench.harness import POLL_SHARE
from bench.measure import Result
from vexport.media.ffmpeg import ffmpeg_binary

__all__ = ["DOC_END", "DOC_START", "Report", "load_average", "machine", "table", "update_doc"]

DOC_START = "<!-- bench:results:start -->"
DOC_END = "<!-- bench:results:end -->"


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError, StopIteration):
        line = next(
            x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
        )
        ram = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "FFmpeg": ffmpeg_version(ffmpeg_binary()),
        "PyAV": av.__version__,
        "Python": platform.python_version(),
        "OS": f"{platform.system()} {platform.release()}",
    }


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def _fmt(value: float, throughput: bool) -> str:
    if throughput:
        return f"{value:,.0f} MB/s"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def table(results: Sequence[Result]) -> str:
    """The Markdown table: one row per case and baseline, medians and ratios; failures below."""
    lines = [
        "| case | vexport | compared with | its median | ratio | target | runs |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    failures = []
    for result in results:
        case = result.case
        ours = result.value(result.ours) if result.ours else None
        if result.error:
            failures.append(f"- {case.title}: vexport failed: {result.error}")
        for index, (variant, runs) in enumerate(zip(case.baselines, result.baselines, strict=True)):
            theirs = result.value(runs) if runs else None
            if result.baseline_errors[index]:
                failures.append(f"- {case.title}: {variant.label} failed: "
                                f"{result.baseline_errors[index]}")  # fmt: skip
            ratio = f"{ours / theirs:.2f}x" if ours is not None and theirs else "—"
            first = index == 0
            cells = [
                case.title if first else "",
                ("failed" if ours is None else _fmt(ours, case.throughput)) if first else "",
                variant.label,
                "failed" if theirs is None else _fmt(theirs, case.throughput),
                ratio,
                case.target if first else "(reference)",
                str(len(result.ours)) if first else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    if failures:
        lines += ["", *(line.replace("|", "/") for line in failures)]
    return "\n".join(lines)


def _size(total: int) -> str:
    return f"{total / 1e6:.1f} MB" if total >= 1e5 else f"{total / 1e3:.1f} kB"


def outputs(results: Sequence[Result]) -> str:
    """What each side produced in its last run, and the CPU time it used."""
    lines = [
        "| case | side | files | size | duration | CPU s / run | vexport says |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for result in results:
        if not result.ours or result.case.throughput:
            continue
        sides = [("vexport", result.ours)] + [
            (v.label, runs) for v, runs in zip(result.case.baselines, result.baselines, strict=True)
        ]
        for index, (label, runs) in enumerate(sides):
            if not runs:
                continue
            last = runs[-1]
            lines.append(
                "| "
                + " | ".join(
                    [
                        result.case.title if index == 0 else "",
                        label,
                        str(len(last.produced)),
                        _size(sum(size for _, size, _ in last.produced)),
                        ", ".join(probe for _, _, probe in last.produced),
                        f"{statistics.median(r.cpu for r in runs):.2f}",
                        last.processing.replace("|", "/"),
                    ]
                )
                + " |"
            )
    return "\n".join(lines)


@dataclass
class Report:
    spec: ArchiveSpec
    archive: Archive
    results: list[Result]
    machine: dict[str, str]
    load_before: str
    load_after: str
    started: datetime

    def text(self) -> str:
        spec = self.spec
        machine_line = "; ".join(f"{k}: {v}" for k, v in self.machine.items())
        made = (
            f"generated in {self.archive.generated_seconds:.0f} s"
            if self.archive.generated_seconds is not None
            else "from the cache"
        )
        return "\n".join(
            [
                f"Run of {self.started:%Y-%m-%d %H:%M} UTC. Machine: {machine_line}. "
                f"Load average before/after: {self.load_before} / {self.load_after}.",
                "",
                f"Archive: {spec.label()}, HLS/TS and DASH/fMP4, "
                f"{spec.segment_seconds:g} s segments ({made}). Medians of the runs; "
                "ratio = vexport / the command beside it (for MB/s rows: vexport's "
                f"rate / the floor's). The client polls GetSessionState from every 5 ms, "
                f"backing off to {POLL_SHARE:.0%} of the time elapsed.",
                "",
                table(self.results),
                "",
                "What came out (last run) and the CPU time of the processes doing the work "
                "(vexport: the server with its FFmpeg children, plus the client):",
                "",
                outputs(self.results),
            ]
        )


def update_doc(report_text: str, path: Path) -> None:
    """Replace the results between the markers of ``docs/performance.md``."""
    text = path.read_text()
    start, end = text.index(DOC_START) + len(DOC_START), text.index(DOC_END)
    path.write_text(text[:start] + "\n" + report_text + "\n" + text[end:])
