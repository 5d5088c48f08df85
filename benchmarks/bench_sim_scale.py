"""How a whole simulator run grows with the size of its memory, for every kind of memory.

Each family is one scenario, run with `forklab run --backend sim` in a fresh
process at 64 MiB, 64 GiB and 1 TiB: the median wall time of the runs, its
ratio to the 64 MiB run, and the peak memory (max RSS) of the simulator.
The goal: every ratio at most 1.5, every peak under 200 MiB.

A run is stopped after --timeout seconds and limited to --limit-mib of address
space (so a model that holds a buffer of the mapping's size fails alone,
without starving the machine); such a run is shown as "timeout" or "failed".

Sizes up to 128TiB (a whole user address space) run on the simulator.

Run: python benchmarks/bench_sim_scale.py [--reps 3] [--sizes 64MiB,64GiB,1TiB]
     [--family NAME ...] [--timeout 120] [--limit-mib 4096]
"""
from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAMILIES = {
    "anon-private": """
parent: mmap heap {size}
parent: write heap
parent: fork -> child
child: write heap[0:1p]
""",
    "anon-private-thp": """
parent: mmap heap {size} thp
parent: write heap
parent: fork -> child
child: write heap[0:1p]
""",
    "anon-shared": """
parent: mmap heap {size} shared
parent: read heap
parent: write heap
parent: fork -> child
child: read heap
""",
    "file-private": """
parent: mmap heap {size} file=data private
parent: read heap
parent: write heap[0:1p]
parent: fork -> child
""",
    "file-shared": """
parent: mmap heap {size} file=data shared
parent: write heap
parent: fork -> child
child: read heap
""",
    "file-read-only": """
parent: mmap heap {size} file=data private ro
parent: read heap
parent: fork -> child
child: read heap
""",
    "protect-advice": """
parent: mmap heap {size}
parent: write heap
parent: mprotect heap ro
parent: mprotect heap rw
parent: madvise heap wipeonfork
parent: fork -> child
parent: madvise heap dontneed
child: read heap
""",
    "exec-munmap": """
parent: mmap heap {size}
parent: write heap
parent: fork -> child
child: exec probe
child: exit 0
parent: wait child
parent: munmap heap
""",
    "spawn-vfork": """
parent: mmap heap {size}
parent: write heap
parent: spawn /bin/true -> s
parent: vfork -> v
v: exit 0
parent: wait s
""",
    "malloc": """
parent: malloc {size} -> a
parent: fork -> child
child: free a
parent: free a
""",
}


def scenario(family: str, size: str) -> str:
    """The family's script as one step per line, each expecting what no run can break."""
    lines = [line for line in FAMILIES[family].format(size=size).splitlines() if line]
    steps = "".join(f"[[step]]\ndo = \"{line}\"\nexpect = [\"parent.threads == 1\"]\n"
                    for line in lines)
    return f'id = "{family}"\ntitle = "t"\nsummary = "s"\n{steps}'


def _limit(address_space: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


def run_once(path: Path, timeout: float, limit: int) -> tuple[float, float] | str:
    """Seconds and peak MiB (max RSS) of one run of ``path`` in a child, or why it has none."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "forklab", "run", "--backend", "sim", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: _limit(limit))
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > timeout:
            child.send_signal(signal.SIGKILL)
            os.wait4(child.pid, 0)
            return "timeout"
        time.sleep(0.01)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        return "failed"
    return seconds, usage.ru_maxrss / 1024


def measure(family: str, size: str, reps: int, timeout: float, limit: int,
            tmp: Path) -> tuple[float, float] | str:
    """Median seconds and peak MiB of ``reps`` runs, or the first reason a run failed."""
    path = tmp / f"{family}-{size}.toml"
    path.write_text(scenario(family, size))
    runs = []
    for _ in range(reps):
        result = run_once(path, timeout, limit)
        if isinstance(result, str):
            return result
        runs.append(result)
    return statistics.median(s for s, _ in runs), max(m for _, m in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sizes", default="64MiB,64GiB,1TiB")
    parser.add_argument("--family", action="append", choices=sorted(FAMILIES))
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--limit-mib", type=int, default=4096)
    args = parser.parse_args()
    limit = args.limit_mib << 20
    sizes = args.sizes.split(",")
    print(f"{'family':18}" + "".join(f"{size:>26}" for size in sizes))
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.family or FAMILIES:
            cells, base = [], None
            for size in sizes:
                result = measure(family, size, args.reps, args.timeout, limit, Path(tmp))
                if isinstance(result, str):
                    cells.append(result)
                    continue
                seconds, peak = result
                base = seconds if base is None else base
                cells.append(f"{seconds:6.2f}s {seconds / base:5.1f}x {peak:5.0f}MiB")
            print(f"{family:18}" + "".join(f"{cell:>26}" for cell in cells), flush=True)


if __name__ == "__main__":
    main()
