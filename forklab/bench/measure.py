"""Timing on the kernel: run forklab-bench (C) for a case and a method, read its samples.

The clock is read in C around the call itself, so nothing of Python's is in
a sample. forklab-bench reaps every child it makes; if the run is
interrupted, it is told to stop (SIGTERM), and waited for, so it leaves no
process behind. Before anything is mapped, the memory a case needs is checked
against MemAvailable, and a case that would not fit is refused.
"""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
from dataclasses import dataclass

from forklab.bench.cases import EVICT_BYTES, METHODS, Case
from forklab.vocabulary import PAGE, format_size

BENCH_NAME = "forklab-bench"
HEADROOM = 256 << 20
"""Memory left free beyond what a case needs: for the system, and the children's own pages."""


class BenchError(Exception):
    """Something the user must fix (a size too large, the program not built): said plainly."""


def bench_path() -> str:
    """Where the installed timing program is (FORKLAB_BENCH overrides)."""
    env = os.environ.get("FORKLAB_BENCH")
    if env:
        return os.path.realpath(env)
    import forklab.real

    return os.path.join(os.path.dirname(forklab.real.__file__), BENCH_NAME)


def mem_available(meminfo: str = "/proc/meminfo") -> int:
    """Bytes the kernel says can be allocated without swapping (MemAvailable)."""
    with open(meminfo) as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"forklab bench: {meminfo} has no MemAvailable line")


def bytes_needed(case: Case) -> int:
    """Memory a case takes: what it writes, its page tables, and a forked copy of them,
    and the memory it writes to cool the caches."""
    tables = case.written_bytes // PAGE * 8 + case.maps * 2 * PAGE
    return case.written_bytes + 2 * tables + (EVICT_BYTES if case.cold else 0)


def preflight(cases: list[Case], available: int | None = None) -> None:
    """Refuse, naming the first one, a case that would not fit in available memory."""
    free = mem_available() if available is None else available
    for case in cases:
        need = bytes_needed(case) + HEADROOM
        if need > free:
            raise BenchError(
                f"forklab bench: {case.label()} needs about {format_size(need)} of memory "
                f"(the mapping, its page tables and a child's copy of them, and "
                f"{format_size(HEADROOM)} to spare), but only {format_size(free)} "
                f"is available (MemAvailable); choose smaller --sizes")


@dataclass(frozen=True)
class Samples:
    """Repeated single measurements of one method on one case, in microseconds."""

    method: str
    case: Case
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def quartiles(self) -> tuple[float, float]:
        """The 25th and 75th percentiles: the spread of a single measurement."""
        if len(self.values) < 2:
            return self.values[0], self.values[0]
        q = statistics.quantiles(self.values, n=4, method="inclusive")
        return q[0], q[2]


def measure(method: str, case: Case, reps: int, warmup: int = 2) -> Samples:
    """Time `reps` creations by `method` from a parent in the state `case` says."""
    if method not in METHODS:
        raise BenchError(f"forklab bench: unknown method {method!r}; "
                         f"known: {', '.join(METHODS)}")
    program = bench_path()
    if not os.access(program, os.X_OK):
        raise BenchError(f"forklab bench: {program} is missing: build it with "
                         f"`python setup.py build_ext --inplace` or reinstall forklab")
    argv = [program, method, *case.options(), "--reps", str(reps), "--warmup", str(warmup)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        out, err = proc.communicate()
    except BaseException:  # KeyboardInterrupt above all: stop it, and wait for its children
        proc.send_signal(signal.SIGTERM)
        proc.communicate()
        raise
    if proc.returncode != 0:
        why = err.strip() or f"exit status {proc.returncode}"
        raise BenchError(f"forklab bench: timing {method} at {case.label()} failed: {why}")
    values = tuple(float(line) for line in out.split())
    if len(values) != reps:
        raise BenchError(f"forklab bench: {BENCH_NAME} printed {len(values)} samples, "
                         f"not {reps}")
    return Samples(method, case, values)
