"""Timing one case: each side run several times, interleaved, and what each run wrote.

A case is vexport's way of doing a job (``ours``) beside one or more other
ways (``baselines``: the ffmpeg command a user would type, or vexport's own
copy for the smart cut). Runs alternate between the sides, so a change in
the machine's load during the run hits both alike; the table shows medians.
A side that fails marks its case failed with the reason, and the other
cases still run. CPU seconds are counted per run from ``/proc`` and
``getrusage``: the server process with its threads and the FFmpeg children
it waited for, the client, or the FFmpeg command.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av

__all__ = [
    "Case",
    "Measure",
    "Result",
    "Run",
    "Variant",
    "children_cpu",
    "cpu_of",
    "ffmpeg_run",
    "probe",
    "run_cases",
    "self_cpu",
]


@dataclass
class Run:
    """One run of one side: how long, what it wrote, how many bytes it moved."""

    seconds: float
    files: list[Path] = field(default_factory=list)
    processing: str = ""
    moved: int = 0  # bytes, for throughput cases
    cpu: float = 0.0  # CPU seconds of the processes doing the work
    produced: list[tuple[str, int, str]] = field(default_factory=list)  # name, size, probe


Measure = Callable[[int], Run]


@dataclass(frozen=True)
class Variant:
    label: str
    measure: Measure


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    ours: Variant
    baselines: tuple[Variant, ...]
    target: str  # what the issue asks, for the table
    throughput: bool = False
    slow: bool = False


@dataclass
class Result:
    case: Case
    ours: list[Run] = field(default_factory=list)
    baselines: list[list[Run]] = field(default_factory=list)
    error: str = ""  # why vexport's side failed
    baseline_errors: list[str] = field(default_factory=list)

    def value(self, runs: list[Run]) -> float:
        if self.case.throughput:
            return statistics.median(r.moved / r.seconds / 1e6 for r in runs)
        return statistics.median(r.seconds for r in runs)


def cpu_of(pid: int) -> float:
    """CPU seconds of a process, its threads and the children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_cases(
    cases: Sequence[Case], runs: int, slow_runs: int, *, log: bool = True
) -> list[Result]:
    """Every case, ours and baselines interleaved run by run; a failure is recorded, not raised."""
    results = []
    for case in cases:
        result = Result(
            case,
            baselines=[[] for _ in case.baselines],
            baseline_errors=["" for _ in case.baselines],
        )
        count = slow_runs if case.slow else runs
        if log:
            print(f"  {case.title} ({count} runs)", flush=True)
        for attempt in range(count):
            if not result.error:
                try:
                    result.ours.append(_described(case.ours.measure(attempt), case))
                except Exception as exc:  # the table says why; the baselines still run
                    result.error = f"{type(exc).__name__}: {exc}"
                    result.ours.clear()
                    if log:
                        print(f"    vexport failed: {result.error}", flush=True)
            for index, baseline in enumerate(case.baselines):
                if result.baseline_errors[index]:
                    continue
                try:
                    result.baselines[index].append(_described(baseline.measure(attempt), case))
                except Exception as exc:
                    result.baseline_errors[index] = f"{type(exc).__name__}: {exc}"
                    result.baselines[index].clear()
                    if log:
                        print(f"    {baseline.label} failed: {exc}", flush=True)
        results.append(result)
    return results


def _described(run: Run, case: Case) -> Run:
    """Note what the run wrote while its files still exist (the next run replaces them)."""
    if not case.throughput:
        run.produced = [(p.name, p.stat().st_size, probe(p)) for p in run.files if p.exists()]
    return run


def ffmpeg_run(command: list[str], outputs: list[Path]) -> Run:
    for path in outputs:
        path.unlink(missing_ok=True)
    cpu = children_cpu()
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])}…: {done.stderr.strip()[-500:]}")
    return Run(seconds, outputs, cpu=children_cpu() - cpu)


def probe(path: Path) -> str:
    try:
        with av.open(str(path)) as container:
            if path.suffix == ".jpg":
                stream = container.streams.video[0]
                return f"{stream.codec_context.width}x{stream.codec_context.height}"
            duration = container.duration / 1e6 if container.duration else 0.0
            return f"{duration:.2f} s"
    except av.FFmpegError as exc:
        return f"unreadable ({exc})"
