"""The simulator's bound on work: no scenario, valid or not, runs forever.

A /bin/cat that reads the pipe it writes copies forever, on Linux too (the real
backend stops it at its wall-clock bound); the model stops it at its bound on
rounds of work per op, or at its wall-clock bound per run, with an error at the
op that set it off, and `forklab run` exits 2. A run that is still going stops
at once on SIGTERM or Ctrl-C.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forklab import cli
from forklab.scenario.model import ScenarioError
from forklab.scenario.parse import parse_text
from forklab.sim.budget import BoundExceeded, Budget, OverBudget
from forklab.sim.kernel import Kernel

CAT_LOOP = '''id = "cat-loop"
title = "cat feeds itself"
summary = "a cat reads the pipe it writes"
[[step]]
do = """
parent: pipe -> r, w
parent: spawn /bin/cat dup2=r:0 dup2=w:1 -> c
parent: writefd w "hello"
"""
'''
WRITE_LINE = 8  # the line of `parent: writefd w "hello"` in CAT_LOOP


def _run_until_error(kernel: Kernel) -> ScenarioError:
    with pytest.raises(BoundExceeded) as caught:  # a ScenarioError the generator tells apart
        for op in kernel.scenario.ops:
            kernel.apply(op)
    return caught.value


def test_a_cat_that_feeds_itself_is_stopped_at_the_op_that_set_it_off() -> None:
    kernel = Kernel(parse_text(CAT_LOOP, "loop.toml"), budget=Budget(rounds=500))
    err = _run_until_error(kernel)
    assert err.where is not None
    assert (err.where.file, err.where.line, err.where.col) == ("loop.toml", WRITE_LINE, 1)
    assert "more than 500 rounds of work for this op" in err.message


def test_the_bound_on_time_stops_a_run_the_bound_on_rounds_would_not() -> None:
    kernel = Kernel(parse_text(CAT_LOOP, "loop.toml"),
                    budget=Budget(rounds=10**12, seconds=0.3))
    start = time.monotonic()
    err = _run_until_error(kernel)
    assert time.monotonic() - start < 0.3 + 5  # the bound, and a loaded machine's slack
    assert err.where is not None and err.where.line == WRITE_LINE
    assert "the run took longer than its bound of 0.3 s" in err.message


def test_the_time_of_a_run_adds_up_over_its_ops() -> None:
    budget = Budget(seconds=10.0)
    budget.start()
    budget.charge()  # a fresh run: far within the bound
    budget.stop()
    budget.spent = 9.99  # as if the earlier ops took that long
    budget.start()
    time.sleep(0.02)
    with pytest.raises(OverBudget, match=re.escape("longer than its bound of 10 s")):
        budget.charge()


def test_a_copy_of_the_kernel_has_a_budget_of_its_own() -> None:
    kernel = Kernel(parse_text(CAT_LOOP, "loop.toml"))
    kernel.budget.spent = 59.0
    assert kernel.copy().budget is not kernel.budget
    assert kernel.copy().budget.spent == 59.0


def test_forklab_run_reports_the_loop_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.toml"
    path.write_text(CAT_LOOP)
    assert cli.main(["run", "--backend", "sim", str(path)]) == 2
    out = capsys.readouterr()
    assert f"loop.toml:{WRITE_LINE}:1" in out.out + out.err
    assert "rounds of work for this op" in out.out + out.err


# A `forklab run` of the loop whose bounds are out of reach, for the signal tests.
UNBOUNDED_RUN = """
import sys
from forklab.cli import main
from forklab.sim.budget import Budget, OverBudget
Budget.__init__.__defaults__ = (10**12, 3600.0)
print("running", file=sys.stderr, flush=True)
sys.exit(main(["run", "--backend", "sim", sys.argv[1]]))
"""


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, -signal.SIGTERM),
                                         (signal.SIGINT, 130)])
def test_a_signal_stops_forklab_run_at_once(tmp_path: Path, sig: signal.Signals,
                                            status: int) -> None:
    path = tmp_path / "loop.toml"
    path.write_text(CAT_LOOP)

    def default_signals() -> None:  # a background shell ignores SIGINT in its children
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-c", UNBOUNDED_RUN, str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals, env=dict(os.environ))
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().strip() == "running"
        time.sleep(0.5)  # into the loop
        assert proc.poll() is None, "the loop ended by itself"
        sent = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=10)
        assert time.monotonic() - sent < 5
        assert proc.returncode == status
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
