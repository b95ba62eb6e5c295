"""Where vexport's time goes: py-spy attached to the server for one run of a case.

py-spy samples every thread of the server process from outside (no change
to the code measured) and writes collapsed stacks; ``summarize_profile``
turns them into busy thread-seconds per thread group (the gRPC event loop,
the export worker, its read-ahead and FFmpeg-feeding threads) and the
functions those samples were in. Idle threads (waiting on a lock, a socket
or a child process) are not sampled, so the shares are of the time a thread
was running Python or a C call made from it. Time in FFmpeg child
processes is not in the profile: the case's CPU seconds count it.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench.measure import Case

__all__ = ["profile", "py_spy", "summarize_profile"]


def _thread_group(name: str) -> str:
    name = re.sub(r"\s*\(.*\)$", "", name)
    return re.sub(r"[-_]?\d+(_\d+)?$", "", name) or name


def summarize_profile(raw: Path, rate: int, *, top: int = 12) -> str:
    """Busy seconds per thread group and the functions they were in, from py-spy raw output."""
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = _thread_group(frames[0].split(":", 1)[-1].strip())
        calls = [re.sub(r" \(([^)]*/)?([^/)]+):\d+\)$", r" (\2)", f) for f in frames[1:]]
        total += count
        threads[thread] += count
        for name in set(calls):
            inclusive[name] += count
        if calls:
            leaf[calls[-1]] += count
    if not total:
        return "    (no samples)"
    lines = ["    busy thread-seconds by thread:"]
    for name, count in threads.most_common(6):
        lines.append(f"      {count / rate:7.2f} s  {100 * count / total:5.1f}%  {name}")
    lines.append("    functions (inclusive share of busy samples):")
    for name, count in inclusive.most_common(top):
        lines.append(f"      {100 * count / total:5.1f}%  {name}")
    lines.append("    where the samples ended (self):")
    for name, count in leaf.most_common(top // 2):
        lines.append(f"      {100 * count / total:5.1f}%  {name}")
    return "\n".join(lines)


@contextlib.contextmanager
def py_spy(pid: int, output: Path, rate: int) -> Iterator[None]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    proc = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
         "--threads", "--nonblocking", "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.0)  # let it attach
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if not output.exists():
            print(f"    py-spy wrote nothing: {err.decode()[-300:]}")


def profile(
    cases: Sequence[Case], pid_of: Callable[[Case], int], directory: Path, rate: int = 200
) -> str:
    """Each case's vexport side once more with py-spy attached to its server; the summaries."""
    directory.mkdir(parents=True, exist_ok=True)
    parts = []
    for case in cases:
        raw = directory / f"{case.key}.txt"
        with py_spy(pid_of(case), raw, rate):
            began = time.perf_counter()
            run = case.ours.measure(0)
            wall = time.perf_counter() - began
        seconds = run.moved / run.seconds / 1e6 if case.throughput else run.seconds
        shown = f"{seconds:,.0f} MB/s" if case.throughput else f"{seconds:.2f} s"
        parts.append(f"  {case.title}: {shown} ({wall:.2f} s wall with the profiler)")
        if raw.exists():
            parts.append(summarize_profile(raw, rate))
    return "\n".join(parts)
