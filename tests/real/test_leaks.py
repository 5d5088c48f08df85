"""A real run ends with every process killed and reaped, every fd closed and the
scratch directory gone — whatever happened: success, a scenario error, a hang,
Ctrl-C, or a run nobody closed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from realkit import scenario_text

import forklab
from forklab.real.backend import RealBackend
from forklab.runner import run_scenario
from forklab.scenario.model import ScenarioError
from forklab.scenario.parse import parse_text

# the subprocesses import the same forklab as this test (installed or not)
FORKLAB_HOME = Path(forklab.__file__).resolve().parents[1]


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append((int(entry), fields[0]))
    return out


def _snapshot(scratch: Path) -> dict:
    return {
        "children": sorted(_children(os.getpid())),
        "fds": sorted(os.listdir("/proc/self/fd")),
        "scratch": sorted(os.listdir(scratch)),
        "threads": sorted(t.name for t in threading.enumerate()),
    }


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """Where this test's runs put their scratch directories."""
    return tmp_path


@pytest.fixture
def no_leaks(scratch: Path):
    before = _snapshot(scratch)
    yield
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and _snapshot(scratch) != before:
        time.sleep(0.05)
    assert _snapshot(scratch) == before


BUSY = """
parent: mmap heap 4MiB
parent: write heap
parent: pipe -> r, w
parent: thread -> t
parent: fork -> a
a: fork -> b
b: vfork -> v
parent: spawn /bin/sleep 5 -> s
parent: spawn probe -> p
p: spawn /bin/cat -> cat
a: pipe -> r2, w2
a: readfd r2
"""


def test_a_successful_run_leaves_nothing(no_leaks, scratch):
    scenario = parse_text(scenario_text(BUSY))
    result = run_scenario(RealBackend(scratch_parent=str(scratch)), scenario)
    assert result.error is None
    obs = result.steps[0].observations
    assert obs["b.state"] == "suspended" and obs["a.state"] == "blocked"
    assert obs["s.state"] == "running"
    assert obs["cat.state"] == "zombie" and obs["cat.exit_code"] == 0  # stdin: /dev/null


def test_a_scenario_error_midway_leaves_nothing(no_leaks, scratch):
    scenario = parse_text(scenario_text(BUSY, "v: exec probe\nparent: wait a\nparent: fork -> z"))
    result = run_scenario(RealBackend(scratch_parent=str(scratch)), scenario)
    assert result.error is not None and "blocked" in result.error.message
    assert len(result.steps) == 1


def test_a_hanging_run_is_killed_at_its_time_bound(no_leaks, scratch):
    scenario = parse_text(scenario_text(BUSY + "parent: sleep 10s"))
    start = time.monotonic()
    with (pytest.raises(ScenarioError, match="bound of 1 s") as err,
          RealBackend(timeout=1.0, scratch_parent=str(scratch)).start(scenario) as run):
        for op in scenario.steps[0].ops:
            run.apply(op)
    assert time.monotonic() - start < 5
    assert err.value.where is not None


def test_an_exception_inside_the_with_block_leaves_nothing(no_leaks, scratch):
    scenario = parse_text(scenario_text(BUSY))
    with (pytest.raises(RuntimeError),
          RealBackend(scratch_parent=str(scratch)).start(scenario) as run):
        for op in scenario.steps[0].ops:
            run.apply(op)
        raise RuntimeError("boom")


CTRL_C = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    from realkit import scenario_text
    from forklab.real.backend import RealBackend
    from forklab.scenario.parse import parse_text
    scenario = parse_text(scenario_text({script!r}))
    run = RealBackend(scratch_parent={scratch!r}).start(scenario)
    ops = scenario.steps[0].ops
    for op in ops[:-1]:
        run.apply(op)
    pids = [p.pid for p in run.driver.procs.values()]
    print(json.dumps({{"pids": pids, "scratch": run.scratch}}), flush=True)
    {tail}
""")


def _pids_gone(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                f.read()
            alive.append(pid)
        except OSError:
            pass
    return alive


def _spawn(tail: str, scratch: Path) -> tuple[subprocess.Popen, dict]:
    import json

    code = CTRL_C.format(tests=str(Path(__file__).parent), script=BUSY + "parent: sleep 10s",
                         tail=tail, scratch=str(scratch))
    env = dict(os.environ, PYTHONPATH=str(FORKLAB_HOME))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=scratch)
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return proc, json.loads(line)


def test_ctrl_c_during_a_run_kills_everything(no_leaks, scratch):
    proc, info = _spawn("run.apply(ops[-1])", scratch)
    time.sleep(0.3)  # inside `sleep 10s`
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert "KeyboardInterrupt" in err
    assert _pids_gone(info["pids"]) == []
    assert not os.path.exists(info["scratch"])


def test_a_run_nobody_closed_ends_with_the_interpreter(no_leaks, scratch):
    proc, info = _spawn("", scratch)
    proc.communicate(timeout=20)
    assert _pids_gone(info["pids"]) == []
    assert not os.path.exists(info["scratch"])


def test_a_dropped_run_is_cleaned_up_by_the_garbage_collector(no_leaks, scratch):
    import gc

    scenario = parse_text(scenario_text("parent: fork -> c\nparent: spawn /bin/sleep 5 -> s"))
    run = RealBackend(scratch_parent=str(scratch)).start(scenario)
    for op in scenario.steps[0].ops:
        run.apply(op)
    pids = [p.pid for p in run.driver.procs.values()]
    del run, op
    gc.collect()
    assert _pids_gone(pids) == []
