"""What a run makes in the kernel outside its processes goes with them, even when
forklab is killed: no process of the machine is left in a namespace the run made
(forklab's guard kills every process of the run, and a namespace lives only as long
as something is in it), no message queue keeps a name, and no System V shared memory
segment outlives its last attachment, and no control group or System V semaphore set
outlives its run."""
from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from scenario_text import scenario_text

import forklab
from forklab import hostcgroup
from forklab.real import scratch
from forklab.real.backend import RealBackend
from forklab.real.driver import guard_path
from forklab.real.guard import guard
from forklab.scenario.parse import parse_text

FORKLAB_HOME = Path(forklab.__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent.parent
KINDS = ("pid", "mnt", "uts", "ipc", "net", "user")

SCRIPT = """
parent: unshare uts,ipc,net,mnt
parent: clone newpid,newuser -> init
init: fork -> member
member: unshare net
parent: sleep 10s
"""

RUN = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    from scenario_text import scenario_text
    from forklab.real import procfs
    from forklab.real.backend import RealBackend
    from forklab.scenario.parse import parse_text
    scenario = parse_text(scenario_text({script!r}))
    run = RealBackend(scratch_parent={scratch!r}).start(scenario)
    ops = scenario.steps[0].ops
    for op in ops[:-1]:
        run.apply(op)
    print(json.dumps({report}), flush=True)
    run.apply(ops[-1])
""")
"""Another forklab: it runs a script's lines but the last (a long sleep), prints what
``report`` reads of the run, then sleeps in the last line."""


@contextmanager
def forklab_killed_in_its_run(script: str, report: str, tmp_path: Path) -> Iterator[Any]:
    """Yield what another forklab printed of its run (RUN), then SIGKILL it while its
    run sleeps: what it made is then for its guard to end."""
    guard(guard_path())
    code = RUN.format(tests=str(TESTS), script=script, scratch=str(tmp_path), report=report)
    env = dict(os.environ, PYTHONPATH=str(FORKLAB_HOME))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, proc.stderr.read() if proc.stderr else ""
        yield json.loads(line)
        time.sleep(0.2)  # in `sleep 10s`
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=20)


def soon(done: Callable[[], bool]) -> bool:
    """Whether ``done`` holds within 5 s (the guard works as the kernel lets it)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not done():
        time.sleep(0.05)
    return done()


def _in_use() -> set[tuple[str, int]]:
    """Every namespace some process of the machine is in."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            for kind in KINDS:
                try:
                    out.add((kind, os.stat(f"/proc/{entry}/ns/{kind}").st_ino))
                except OSError:
                    pass
    return out


@pytest.mark.forklab_real
def test_a_forklab_killed_midway_leaves_no_namespace(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making namespaces other than a user one needs root")
    before = _in_use()
    report = ("sorted({(kind, procfs.namespace(proc.pid, kind)) "
              f"for proc in run.driver.procs.values() for kind in {KINDS!r}}})")
    with forklab_killed_in_its_run(SCRIPT, report, tmp_path) as seen:
        made = {(kind, inode) for kind, inode in seen} - before
        assert {kind for kind, _ in made} == set(KINDS)  # the run made one of each kind
        assert made <= _in_use()
    assert soon(lambda: not made & _in_use())


@pytest.mark.forklab_real
def test_a_message_queue_has_no_name_once_made(tmp_path: Path) -> None:
    """mq_open's name is removed in the same probe command: no name of the run is left
    to find while it runs, so none can outlive it (the queue goes with its last fd)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mq_open.restype = ctypes.c_int
    libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
    scenario = parse_text(scenario_text("parent: mq_open box -> q\nparent: fork -> child"))
    with RealBackend(scratch_parent=str(tmp_path)).start(scenario) as run:
        for op in scenario.steps[0].ops:
            run.apply(op)
        assert run.observe().processes["child"].fds == (0, 1, 2, run.observe().fd_names["q"])
        name = scratch.shm_name(run.scratch, "box").encode()
        assert libc.mq_open(name, os.O_RDONLY) == -1
        assert ctypes.get_errno() == errno.ENOENT


SHM_DEST = 0o1000  # shm_perm.mode: removed (IPC_RMID), destroyed with its last detach

SYSV_SCRIPT = """
parent: mmap seg 2p sysv
parent: fork -> child
child: mmap own 1p sysv
parent: sleep 10s
"""

def _segments() -> dict[int, dict[str, int]]:
    """Every System V shared memory segment of the machine, by id."""
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()
    head = lines[0].split()
    rows = (dict(zip(head, (int(v) for v in line.split()))) for line in lines[1:])
    return {row["shmid"]: row for row in rows}


def _made_by(pids: list[int]) -> dict[int, dict[str, int]]:
    return {i: row for i, row in _segments().items() if row["cpid"] in pids}


@pytest.mark.forklab_real
def test_a_sysv_segment_goes_with_its_run(tmp_path: Path) -> None:
    """Each segment is removed as soon as it is attached: private, marked for
    destruction, alive only while attached; the run's end detaches it."""
    scenario = parse_text(scenario_text(SYSV_SCRIPT))
    with RealBackend(scratch_parent=str(tmp_path)).start(scenario) as run:
        for op in scenario.steps[0].ops[:-1]:
            run.apply(op)
        made = _made_by([proc.pid for proc in run.driver.procs.values()])
        assert len(made) == 2
        assert all(row["key"] == 0 and row["perms"] & SHM_DEST for row in made.values())
        assert sorted(row["nattch"] for row in made.values()) == [1, 2]  # seg: both
    assert soon(lambda: not set(made) & set(_segments()))


@pytest.mark.forklab_real
def test_a_forklab_killed_midway_leaves_no_sysv_segment(tmp_path: Path) -> None:
    pids = "[proc.pid for proc in run.driver.procs.values()]"
    with forklab_killed_in_its_run(SYSV_SCRIPT, pids, tmp_path) as seen:
        made = set(_made_by(seen))
        assert len(made) == 2
    assert soon(lambda: not made & set(_segments()))


CGROUP_SCRIPT = """
parent: cgroup a
parent: fork -> child
child: cgroup b
parent: sleep 10s
"""

def _may_make_cgroups() -> None:
    if hostcgroup.own_group()[1] is not None:
        pytest.skip("this user may make no control group below its own (root only)")


@pytest.mark.forklab_real
def test_a_runs_control_groups_go_with_it(tmp_path: Path) -> None:
    _may_make_cgroups()
    scenario = parse_text(scenario_text(CGROUP_SCRIPT))
    with RealBackend(scratch_parent=str(tmp_path)).start(scenario) as run:
        for op in scenario.steps[0].ops[:-1]:
            run.apply(op)
        made = list(run.cgroups)
        assert len(made) == 3 and all(os.path.isdir(group) for group in made)
    assert not any(os.path.exists(group) for group in made)


@pytest.mark.forklab_real
def test_a_forklab_killed_midway_leaves_no_control_group(tmp_path: Path) -> None:
    _may_make_cgroups()
    with forklab_killed_in_its_run(CGROUP_SCRIPT, "run.cgroups", tmp_path) as made:
        assert len(made) == 3 and all(os.path.isdir(group) for group in made)
    assert soon(lambda: not any(os.path.exists(group) for group in made))


SEM_SCRIPT = """
parent: semget -> s
parent: fork -> child
child: semget -> s2
child: semop s2 +1 undo
parent: sleep 10s
"""

def _semaphore_sets() -> set[int]:
    """The ids of every System V semaphore set of the machine this user can see."""
    with open("/proc/sysvipc/sem", encoding="ascii") as table:
        return {int(line.split()[1]) for line in list(table)[1:] if line.strip()}


@pytest.mark.forklab_real
def test_a_runs_semaphore_sets_go_with_it(tmp_path: Path) -> None:
    scenario = parse_text(scenario_text(SEM_SCRIPT))
    with RealBackend(scratch_parent=str(tmp_path)).start(scenario) as run:
        for op in scenario.steps[0].ops[:-1]:
            run.apply(op)
        made = set(run.semaphores.values())
        assert len(made) == 2 and made <= _semaphore_sets()
    assert not made & _semaphore_sets()


@pytest.mark.forklab_real
def test_a_forklab_killed_midway_leaves_no_semaphore_set(tmp_path: Path) -> None:
    ids = "sorted(run.semaphores.values())"
    with forklab_killed_in_its_run(SEM_SCRIPT, ids, tmp_path) as seen:
        made = set(seen)
        assert len(made) == 2 and made <= _semaphore_sets()
    assert soon(lambda: not made & _semaphore_sets())
