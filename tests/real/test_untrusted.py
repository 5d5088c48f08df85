"""A scenario is untrusted input: whatever its ops say — even ops built by hand,
past the parser — it cannot reach forklab's own fds, run another program,
leave its scratch directory, take all the memory, or outlive its run."""
from __future__ import annotations

import dataclasses
import os

import pytest
from realkit import observations
from scenario_text import scenario_text

from forklab.real.backend import RealBackend
from forklab.scenario.model import Program, ScenarioError, SpawnAction
from forklab.scenario.parse import parse_text


def _run_edited(script: str, edit) -> None:
    """Parse script, let edit(op) rewrite fields of its last op, run it all."""
    scenario = parse_text(scenario_text(script))
    ops = list(scenario.steps[0].ops)
    ops[-1] = dataclasses.replace(ops[-1], **edit(ops[-1]))
    with RealBackend(timeout=10).start(scenario) as run:
        for op in ops:
            run.apply(op)
        run.observe()


@pytest.mark.parametrize("script, edit, message", [
    ("parent: dup2 1 5", lambda op: {"num": 900}, "not a scenario fd"),
    ("parent: close 3", lambda op: {"fd": 901}, "not a scenario fd"),
    ("parent: close_range 3 4", lambda op: {"lo": 950, "hi": 960}, "not a scenario fd"),
    ("parent: spawn probe close=3 -> c",
     lambda op: {"actions": (SpawnAction("dup2", fd=1, num=900),)}, "not a scenario fd"),
    ("parent: exec /bin/true", lambda op: {"program": Program("program", "/bin/sh")},
     "not allowed"),
    ("parent: spawn /bin/cat -> c",
     lambda op: {"program": Program("program", "/bin/cat", ("/etc/shadow",))},
     "absolute path"),
    ("parent: spawn /bin/cat -> c",
     lambda op: {"program": Program("program", "/bin/cat", ("--help",))}, "not options"),
    ("parent: spawn /bin/cat -> c",
     lambda op: {"program": Program("program", "/bin/cat", ("../../etc/shadow",))},
     "leads out"),
    ("parent: exec /bin/sleep 1",
     lambda op: {"program": Program("program", "/bin/sleep", ("100000",))}, "at most"),
    ("parent: open data -> f", lambda op: {"path": "/etc/passwd"}, "absolute path"),
    ("parent: open data -> f", lambda op: {"path": "../../etc/passwd"}, "leads out"),
    ("parent: spawn probe chdir=sub -> c",
     lambda op: {"actions": (SpawnAction("chdir", path="../.."),)}, "leads out"),
    ("parent: mmap m 4KiB file=data", lambda op: {"path": "../escape"}, "leads out"),
    ("parent: writefd 1 \"x\"", lambda op: {"data": "x" * 100_000}, "at most 65536 bytes"),
    ("parent: sleep 1ms", lambda op: {"seconds": 3600.0}, "limited to"),
    ("parent: shm_open box create -> s", lambda op: {"name": "../../tmp/x"},
     "not a shared-memory object name"),
    ("parent: mq_open box -> q", lambda op: {"name": "../../tmp/x"}, "not a message queue name"),
    ("parent: opendir sub -> d", lambda op: {"path": "../.."}, "leads out"),
    ("parent: unshare uts", lambda op: {"kinds": frozenset({"time"})}, "not namespace kinds"),
    ("parent: chdir sub", lambda op: {"path": "../.."}, "'..'"),
    ('parent: setenv FL_X "1"', lambda op: {"variable": "FORKLAB_CHAN"}, "forklab's own"),
    ('parent: setenv FL_X "1"', lambda op: {"value": "x" * 5000}, "at most 4096 bytes"),
    ("parent: setrlimit nofile 2000", lambda op: {"soft": 10}, "below 1024 are refused"),
    ("parent: setrlimit nofile 2000", lambda op: {"resource": "cpu"}, "not a resource"),
    ("parent: setrlimit core 0", lambda op: {"soft": 1 << 20}, "core limit other than 0"),
    ("parent: umask 022", lambda op: {"mask": 0o7777}, "not 0 to 777"),
    ("parent: alarm 100", lambda op: {"timer_seconds": 5}, "never fires within a run"),
    ("parent: sigaltstack 64KiB", lambda op: {"stack_size": 100}, "alternate signal stack"),
])
def test_hand_made_ops_are_refused(script, edit, message):
    with pytest.raises(ScenarioError, match=message):
        _run_edited(script, edit)


@pytest.mark.parametrize("script", ["parent: fcntl_lock 0 read", "parent: flock 0 sh",
                                    "parent: clone pidfd -> c\nparent: flock 3 ex"])
def test_a_lock_on_what_the_machine_shares_is_refused(script):
    with pytest.raises(ScenarioError, match="every process of the machine shares"):
        observations(script)


def test_scenario_fds_cannot_close_forklab_channels():
    obs = observations("parent: close_range 0 max\nparent: fork -> child",
                       "child: spawn probe closefrom=0 -> grandchild",
                       "grandchild: open x create -> f")
    assert obs[0]["parent.fds"] == [] and obs[0]["child.fds"] == []
    assert obs[2]["grandchild.fds"] == [0]  # the lowest free number: forklab holds none below


def test_a_scenario_that_would_not_fit_in_memory_is_refused():
    with pytest.raises(ScenarioError, match="MiB of memory"):
        list(_steps("parent: mmap big 1TiB noreserve\nparent: write big"))


def test_mmap_stays_in_forklab_s_region_and_never_replaces_a_mapping():
    scenario = parse_text(scenario_text("parent: mmap a 4KiB"))
    with RealBackend().start(scenario) as run:
        assert all(0x1000_0000_0000 <= a < 0x6000_0000_0000 for a in run.addresses.values())
        for op in scenario.steps[0].ops:
            run.apply(op)
        again = scenario.steps[0].ops[0]
        run.apply(again)  # MAP_FIXED_NOREPLACE: the second mmap fails, nothing is replaced
        w = run.observe()
        assert w.processes["parent"].errno == "EEXIST"


def test_kill_reaches_only_the_scenario_s_own_processes():
    # the probe signals through a pidfd forklab opened on the target: a pid that
    # was reaped and reused elsewhere is never hit
    obs = observations("parent: fork -> c\nc: exit 0\nparent: wait c\nparent: kill c SIGKILL")
    assert obs[0]["parent.errno"] == "ESRCH" and obs[0]["parent.state"] == "running"


def test_scratch_files_live_only_inside_the_run():
    scenario = parse_text(scenario_text("parent: open sub.txt create -> f\n"
                                        "parent: mmap m 8KiB file=data.bin"))
    with RealBackend().start(scenario) as run:
        scratch = run.scratch
        for op in scenario.steps[0].ops:
            run.apply(op)
        assert sorted(os.listdir(scratch)) == ["data.bin", "sub.txt"]
    assert not os.path.exists(scratch)


def _steps(script: str):
    scenario = parse_text(scenario_text(script))
    with RealBackend().start(scenario) as run:
        for op in scenario.steps[0].ops:
            run.apply(op)
        yield run.observe()


def _forklab_real(path, tmp_path, nofile: int):
    """`forklab run --backend real PATH` under an fd limit of nofile, with the forklab
    these tests import (run from tmp_path: a source checkout's own directory would
    shadow an installed forklab with its unbuilt tree)."""
    import resource
    import subprocess
    import sys
    from pathlib import Path

    import forklab

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    home = str(Path(forklab.__file__).resolve().parents[1])
    return subprocess.run([sys.executable, "-m", "forklab", "run", "--backend", "real",
                           str(path)], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit, cwd=tmp_path,
                          env=dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=home))


def test_a_run_that_uses_up_forklab_s_fds_ends_with_a_clear_error(tmp_path):
    """Every task of a run costs forklab a channel: 12 processes of 90 threads
    under the common limit of 1024 fds run out. The run stops with a message
    that says so (exit status 2), and leaves nothing behind."""
    lines = [line for i in range(12) for line in (
        f"parent: fork -> c{i}", f"repeat 90: c{i}: thread -> t{i}")]
    path = tmp_path / "many.toml"
    path.write_text(scenario_text("\n".join(lines)))
    done = _forklab_real(path, tmp_path, 1024)
    assert done.returncode == 2, done.stderr
    assert "ran out of file descriptors" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.toml"]


def test_an_fd_limit_below_forklab_s_own_fds_is_a_clear_error(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text(scenario_text("parent: fork -> c"))
    done = _forklab_real(path, tmp_path, 256)
    assert done.returncode == 2, done.stderr
    assert "fd limit is 256" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.toml"]


def test_threads_past_forklab_s_fds_end_with_a_clear_error(tmp_path):
    """Each thread's channel takes an fd of forklab's range (900 up to the fd
    limit): 200 threads under a limit of 1024 do not fit. The probe says so
    instead of dying, and the run stops with that message."""
    path = tmp_path / "threads.toml"
    path.write_text(scenario_text("repeat 200: parent: thread -> t"))
    done = _forklab_real(path, tmp_path, 1024)
    assert done.returncode == 2, done.stderr
    assert "no fd was free for a new task's channel" in done.stdout + done.stderr
    assert "has ended" not in done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["threads.toml"]


def test_an_fd_limit_below_forklabs_own_fds_is_refused():
    """A scenario that may open 1000 fds has forklab's own from fd 1003 up: a limit of
    1100 would leave the probe no fd for a new task's channel."""
    scenario = parse_text(scenario_text("repeat 1000: parent: open /dev/null -> f\n"
                                        "parent: setrlimit nofile 1100"))
    with RealBackend(timeout=30).start(scenario) as run:
        with pytest.raises(ScenarioError, match="its fd limit must stay at 1127 or more"):
            for op in scenario.steps[0].ops:
                run.apply(op)
