"""forklab bench on the kernel: tiny sizes, few repetitions; nothing left behind."""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from forklab.bench.cases import METHODS, Case
from forklab.bench.measure import bench_path, measure


# `python -m forklab` from the source tree would import the tree's forklab, whose timing
# program is built only by an in-place build; from / it imports the installed one.
OUTSIDE_THE_TREE = "/"


def children_of(pid: int) -> list[int]:
    """Every process whose parent is pid (zombies included)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_every_method_times_on_the_kernel_and_leaves_no_child() -> None:
    before = set(children_of(os.getpid()))  # forklab's guard, if a real run came first
    for method in METHODS:
        samples = measure(method, Case(size=1 << 20), reps=3, warmup=0)
        assert len(samples.values) == 3 and all(v > 0 for v in samples.values), method
    assert set(children_of(os.getpid())) == before


def test_fork_of_a_written_parent_is_slower_than_of_an_empty_one() -> None:
    empty = measure("fork", Case(), reps=5).median
    big = measure("fork", Case(size=128 << 20), reps=5).median
    assert big > 3 * empty


def test_bench_json_has_the_rows_it_promises(tmp_path: Path) -> None:
    png = tmp_path / "fig.png"
    done = subprocess.run([sys.executable, "-m", "forklab", "bench", "--sizes", "0,1MiB",
                           "--methods", "fork,posix_spawn", "--reps", "3", "--json",
                           "--png", str(png)], capture_output=True, text=True, timeout=120,
                          cwd=OUTSIDE_THE_TREE)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert [(r["method"], r["size_bytes"]) for r in rows] == [
        ("fork", 0), ("posix_spawn", 0), ("fork", 1 << 20), ("posix_spawn", 1 << 20)]
    assert all(r["measured_us"] > 0 and r["predicted_us"] > 0 for r in rows)
    assert "bench: fork at 0 B (1/4)" in done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_size_that_does_not_fit_is_a_clear_error_with_status_2() -> None:
    done = subprocess.run([sys.executable, "-m", "forklab", "bench", "--sizes", "64TiB"],
                          capture_output=True, text=True, timeout=60,
                          cwd=OUTSIDE_THE_TREE)
    assert done.returncode == 2
    assert "64 TiB" in done.stderr and "available" in done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_leaves_no_process_and_no_zombie() -> None:
    """SIGINT to the whole group, as a terminal sends it, in the middle of a zygote run."""
    proc = subprocess.Popen([sys.executable, "-m", "forklab", "bench", "--sizes", "256MiB",
                             "--methods", "zygote,fork", "--reps", "100000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=OUTSIDE_THE_TREE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the timing program is running
        timers = [c for c in children_of(proc.pid)
                  if Path(f"/proc/{c}/cmdline").read_bytes().startswith(bench_path().encode())]
        if timers and children_of(timers[0]):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the timing program and its zygote never started")
    timer = timers[0]
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not Path(f"/proc/{timer}").exists()  # reaped, not a zombie
    assert [p for p in os.listdir("/proc") if p.isdigit() and runs_bench(p)] == []


def runs_bench(pid: str) -> bool:
    try:
        return bench_path().encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # ended meanwhile
        return False


def test_a_call_after_writing_twice_the_cache_is_slower_than_in_a_loop() -> None:
    """What the cost model's cold term stands for (docs/model.md, "Costs")."""
    before = set(children_of(os.getpid()))
    ratios = []
    for _ in range(5):
        warm = measure("fork", Case(), reps=5).median
        cold = measure("fork", Case(cold=True), reps=5).median
        ratios.append(cold / warm)
    assert statistics.median(ratios) > 1.3, ratios
    assert set(children_of(os.getpid())) == before


def test_a_fork_that_must_write_protect_the_parent_is_slower() -> None:
    """What the wrprotect term stands for: a fork after a fork finds the parent's pages
    read-only already; written again, each must be write-protected."""
    size = 64 << 20
    ratios = []
    for _ in range(5):  # pairs measured side by side: a burst of load slows one pair
        again = measure("fork", Case(size=size), reps=5).median
        rewritten = measure("fork", Case(size=size, retouch=True), reps=5).median
        ratios.append(rewritten / again)
    assert statistics.median(ratios) > 1.15, ratios
