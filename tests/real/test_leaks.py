"""A real run ends with every process killed and reaped, every fd closed and the
scratch directory gone — whatever happened: success, a scenario error, a hang,
Ctrl-C, or a run nobody closed."""
from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from scenario_text import scenario_text

import forklab
from forklab.real.backend import RealBackend
from forklab.real.driver import guard_path
from forklab.real.guard import guard
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
    guard(guard_path())  # forklab's guard lives as long as forklab: not a leak of a run
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
    from scenario_text import scenario_text
    from forklab.real.backend import RealBackend
    from forklab.scenario.parse import parse_text
    scenario = parse_text(scenario_text({script!r}))
    run = RealBackend(scratch_parent={scratch!r}).start(scenario)
    ops = scenario.steps[0].ops
    for op in ops[:-1]:
        run.apply(op)
    pids = [p.pid for p in run.driver.procs.values()]
    print(json.dumps({{"pids": pids, "scratch": run.scratch,
                      "control": run.driver.control_dir}}), flush=True)
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

    code = CTRL_C.format(tests=str(Path(__file__).parent.parent), script=BUSY + "parent: sleep 10s",
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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_forklab_killed_midway_leaves_nothing(no_leaks, scratch, sig):
    """forklab never gets to clean up: its guard, told of every process and
    directory, ends them once the kernel closes forklab's socket to it."""
    proc, info = _spawn("run.apply(ops[-1])", scratch)
    time.sleep(0.3)  # inside `sleep 10s`, with blocked, suspended and sleeping processes
    assert _pids_gone(info["pids"]) == info["pids"]
    proc.send_signal(sig)
    proc.communicate(timeout=20)
    assert proc.returncode == -sig
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (_pids_gone(info["pids"]) or os.path.exists(
            info["scratch"]) or os.path.exists(info["control"])):
        time.sleep(0.05)
    assert _pids_gone(info["pids"]) == []  # neither running nor zombies
    assert not os.path.exists(info["scratch"]) and not os.path.exists(info["control"])


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


HANG_LESSON = """\
id = "hang"
title = "hang"
summary = "a kernel run that takes a while"

[[step]]
do = '''
parent: thread -> t
parent/t: lock m
parent: spawn /bin/sleep 9 -> s
parent: fork -> c
parent: sleep 5s
'''
"""


def _processes_in(directory: Path) -> list[int]:
    """Processes whose working directory is inside directory (a run's scratch)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd.startswith(str(directory) + "/"):
                out.append(int(entry))
    return out


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGKILL])
def test_the_lesson_player_killed_during_a_kernel_run_leaves_nothing(tmp_path, sig):
    """The player, in a terminal (a pty) at 80x24, runs a lesson step on the
    kernel (`n`, then `r`) and is killed while the run sleeps."""
    import fcntl
    import pty
    import termios

    lesson = tmp_path / "hang.toml"
    lesson.write_text(HANG_LESSON)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = dict(os.environ, TMPDIR=str(tmp_path), TERM="xterm-256color",
               PYTHONPATH=str(FORKLAB_HOME), XDG_STATE_HOME=str(tmp_path / "state"))
    player = subprocess.Popen([sys.executable, "-m", "forklab", "learn", str(lesson)],
                              stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path,
                              start_new_session=True)
    os.close(slave)
    try:
        deadline = time.monotonic() + 30
        seen = b""
        while b"Kernel" not in seen and time.monotonic() < deadline:  # the key bar is drawn
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                seen += os.read(master, 65536)
        os.write(master, b"n")
        time.sleep(0.5)
        os.write(master, b"r")
        while not _processes_in(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert len(_processes_in(tmp_path)) >= 3  # the probe, its fork and /bin/sleep
        player.send_signal(sig)
        player.wait(timeout=20)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
                _processes_in(tmp_path) or list(tmp_path.glob("forklab-*"))):
            time.sleep(0.05)
        assert _processes_in(tmp_path) == []
        assert list(tmp_path.glob("forklab-*")) == []
    finally:
        if player.poll() is None:
            player.kill()
            player.wait()
        os.close(master)


def test_a_run_cancelled_from_another_thread_stops_and_leaves_nothing(no_leaks, scratch):
    cancel = threading.Event()
    scenario = parse_text(scenario_text(BUSY + "parent: sleep 10s"))
    threading.Timer(0.5, cancel.set).start()
    begun = time.monotonic()
    with (pytest.raises(ScenarioError, match="cancelled"),
          RealBackend(scratch_parent=str(scratch), cancel=cancel).start(scenario) as run):
        for op in scenario.steps[0].ops:
            run.apply(op)
    assert time.monotonic() - begun < 5
