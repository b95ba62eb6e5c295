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


def _frame(text: str) -> str:
    """``func (pkg/mod.py:123)`` -> ``func (pkg/mod.py)``: lines apart, one function."""
    return re.sub(r":\d+\)$", ")", text)


# Frames that every stack of a thread passes through: the CLI, the event loop's own
# loop, thread bootstraps. They say nothing about where the time went.
_STRUCTURAL = re.compile(
    r"\((typer/|click/|vexport/cli\.py|vexport/__main__\.py|<frozen runpy>|asyncio/runners\.py"
    r"|threading\.py|concurrent/futures/thread\.py)"
    r"|^BaseEventLoop\.(run_forever|run_until_complete|_run_once) "
)


def summarize_profile(raw: Path, rate: int, *, threads: int = 4, top: int = 8) -> str:
    """Busy seconds per thread group, and per group the functions its samples were in.

    A function on (nearly) every stack of a thread, such as its ``run`` or the
    event loop's ``_run_once``, says nothing and is left out of the list.
    """
    per_thread: Counter[str] = Counter()
    inclusive: dict[str, Counter[str]] = {}
    leaf: dict[str, Counter[str]] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = _thread_group(frames[0].split(":", 1)[-1].strip())
        calls = [name for name in map(_frame, frames[1:]) if not _STRUCTURAL.search(name)]
        total += count
        per_thread[thread] += count
        for name in set(calls):
            inclusive.setdefault(thread, Counter())[name] += count
        if calls:
            leaf.setdefault(thread, Counter())[calls[-1]] += count
    if not total:
        return "    (no samples)"
    lines = []
    for thread, count in per_thread.most_common(threads):
        lines.append(
            f"    {thread}: {count / rate:.2f} busy s ({100 * count / total:.0f}% of all samples)"
        )
        telling = [
            (name, n)
            for name, n in inclusive.get(thread, Counter()).most_common()
            if n < 0.97 * count
        ]
        for name, n in telling[:top]:
            lines.append(f"      {100 * n / count:5.1f}%  {name}")
        ends = leaf.get(thread, Counter()).most_common(3)
        lines.append(
            "      self: " + "; ".join(f"{100 * n / count:.0f}% {name}" for name, n in ends)
        )
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
        try:
            with py_spy(pid_of(case), raw, rate):
                began = time.perf_counter()
                run = case.ours.measure(0)
                wall = time.perf_counter() - began
        except Exception as exc:  # a failing case has no profile worth reading
            parts.append(f"  {case.title}: failed ({type(exc).__name__}: {exc})")
            continue
        seconds = run.moved / run.seconds / 1e6 if case.throughput else run.seconds
        shown = f"{seconds:,.0f} MB/s" if case.throughput else f"{seconds:.2f} s"
        parts.append(f"  {case.title}: {shown} ({wall:.2f} s wall with the profiler)")
        if raw.exists():
            parts.append(summarize_profile(raw, rate))
    return "\n".join(parts)
