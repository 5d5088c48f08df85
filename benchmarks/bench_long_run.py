"""How a model run grows with its number of steps (the hardening bound).

Two scenarios of N one-op steps, each run with `forklab run --backend sim` in a
fresh process, timed and measured for peak memory (max RSS):

- "steady": malloc and free in turn, so the world stays the same size;
- "growing": mmap, write, fork, the child exits (a zombie): by the end the
  world holds N/4 mappings and N/4 zombies, so each step's observation grows.

Run: python benchmarks/bench_long_run.py [--steps 250,500,1000] [--reps 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def steady(n: int) -> str:
    ops = [f"parent: malloc 64 -> a{i}" if i % 2 == 0 else f"parent: free a{i - 1}"
           for i in range(n)]
    return _scenario("steady", ops)


def growing(n: int) -> str:
    kinds = [lambda i: f"parent: mmap m{i} 64KiB", lambda i: f"parent: write m{i - 1}",
             lambda i: f"parent: fork -> c{i}", lambda i: f"c{i - 1}: exit 0"]
    return _scenario("growing", [kinds[i % 4](i) for i in range(n)])


def _scenario(ident: str, ops: list[str]) -> str:
    steps = "".join(f'[[step]]\ndo = "{op}"\nexpect = ["parent.threads == 1"]\n' for op in ops)
    return f'id = "{ident}"\ntitle = "t"\nsummary = "s"\n{steps}'


def run_once(path: Path) -> tuple[float, float]:
    """Seconds and peak MiB (max RSS) of one `forklab run` of ``path`` in a child."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "forklab", "run", "--backend", "sim",
                              str(path)], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"forklab run {path.name} exited {child.returncode}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="250,500,1000")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for make in (steady, growing):
            for n in map(int, args.steps.split(",")):
                path = Path(tmp) / f"{make.__name__}-{n}.toml"
                path.write_text(make(n))
                runs = [run_once(path) for _ in range(args.reps)]
                print(f"{make.__name__:8} {n:5} steps: median "
                      f"{statistics.median(s for s, _ in runs):7.2f} s, "
                      f"peak RSS {max(m for _, m in runs):6.0f} MiB")


if __name__ == "__main__":
    main()
