"""Process verbs on the real kernel: fork, vfork, clone, spawn, exec, exit, wait,
kill, threads — and the states, statuses and parents the kernel shows."""
from __future__ import annotations

import os

import pytest
from realkit import observations, run_steps, run_with

from forklab.scenario.model import ScenarioError


def test_exit_wait_zombie_and_reaped():
    obs = observations("parent: fork -> child", "child: exit 3", "parent: wait child")
    assert obs[0]["child.state"] == "running" and obs[0]["parent.state"] == "running"
    assert obs[1]["child.state"] == "zombie" and obs[1]["child.exit_code"] == 3
    assert obs[2]["child.state"] == "reaped" and obs[2]["child.exit_code"] == 3
    assert obs[2]["child.threads"] == 0 and obs[2]["child.fds"] == []


def test_parent_and_children_names():
    for w in run_steps("parent: fork -> a\nparent: fork -> b\na: fork -> grandchild"):
        assert w.processes["parent"].parent is None
        assert sorted(w.processes["parent"].children) == ["a", "b"]
        assert w.processes["grandchild"].parent == "a"
        assert w.processes["a"].children == ("grandchild",)


def test_orphans_are_reaped_by_forklab_the_subreaper():
    obs = observations("parent: fork -> child\nchild: fork -> grandchild",
                       "child: _exit 0", "grandchild: exit 5")
    assert obs[1]["child.state"] == "zombie"
    assert obs[2]["grandchild.state"] == "reaped"
    assert obs[2]["grandchild.exit_code"] == 5
    for w in run_steps("parent: fork -> child\nchild: fork -> grandchild\nchild: _exit 0"):
        assert w.processes["grandchild"].parent is None  # reparented to forklab


def test_the_first_process_is_reaped_when_it_exits():
    (obs,) = observations("parent: _exit 7")
    assert obs["parent.state"] == "reaped" and obs["parent.exit_code"] == 7


def test_vfork_suspends_the_parent_and_shares_errno():
    obs = observations("parent: vfork -> child", "child: exec missing", "child: exec probe",
                       "child: _exit 1")
    assert obs[0]["parent.state"] == "suspended" and obs[0]["child.state"] == "running"
    # the child runs on the parent's memory: its failed exec's errno is the parent's
    assert obs[1]["parent.errno"] == obs[1]["child.errno"] == "ENOENT"
    assert obs[1]["parent.state"] == "suspended"
    assert obs[2]["parent.state"] == "running" and obs[2]["child.errno"] is None
    assert obs[3]["child.state"] == "zombie"


def test_vfork_child_writes_the_parents_memory():
    obs = observations("parent: mmap heap 1MiB\nparent: write heap",
                       "parent: vfork -> child\nchild: write heap[0:4p] = 9\nchild: _exit 0")
    assert obs[1]["parent.heap.present"] == 256
    assert obs[1]["child.faults"] == 0  # the same page tables: nothing to fault


def test_spawn_us_is_measured_for_every_creating_call():
    for w in run_steps("parent: fork -> f\nparent: vfork -> v\nv: _exit 0\n"
                       "parent: spawn /bin/true -> s\nparent: clone vm,vfork -> c\nc: _exit 0"):
        assert w.processes["parent"].spawn_us is None
        for name in ("f", "v", "s", "c"):
            assert 0 < w.processes[name].spawn_us < 1e6, name


def test_clone_flags():
    obs = observations(
        "parent: open log create -> fd\nparent: clone files -> f",
        "f: close fd",
        "parent: clone sighand -> bad",
        "parent: clone vm,sighand -> vs\nvs: signal SIGUSR1 ignore",
        "parent: clone pidfd -> p",
        "parent: signal SIGUSR2 catch\nparent: clone clear_sighand -> cs")
    assert obs[1]["parent.fds"] == [0, 1, 2]  # one fd table: f's close is the parent's
    assert obs[2]["parent.errno"] == "EINVAL"  # CLONE_SIGHAND needs CLONE_VM
    assert "bad" not in {k.split(".")[0] for k in obs[2]}
    assert "SIGUSR1" in obs[3]["parent.sig_ignored"]  # shared handlers
    assert obs[4]["parent.fds"] == [0, 1, 2, 3]  # the pidfd
    assert obs[4]["parent.cloexec(3)"] is True
    assert obs[5]["cs.sig_caught"] == [] and obs[5]["parent.sig_caught"] == ["SIGUSR2"]


def test_clone_vm_child_shares_memory_and_errno():
    obs = observations("parent: mmap heap 1MiB\nparent: clone vm -> c",
                       "c: write heap = 4", "c: open nothing-here -> fd")
    assert obs[1]["parent.heap.present"] == 256 and obs[1]["c.faults"] == 256
    assert obs[1]["parent.vm_pte"] == obs[1]["c.vm_pte"] == 12
    # no CLONE_SETTLS: the child's errno is the parent's thread's
    assert obs[2]["parent.errno"] == "ENOENT"


def test_spawn_file_actions_and_attributes():
    obs = observations(
        "parent: pipe -> r, w\nparent: open data create cloexec -> f",
        "parent: spawn probe close=3 dup2=f:7 -> c",
        "parent: spawn probe closefrom=3 open=5:out.txt setsid sigmask=SIGUSR1+SIGUSR2 -> d",
        "parent: signal SIGUSR1 ignore\nparent: spawn probe sigdefault=SIGUSR1 -> e")
    assert obs[1]["c.fds"] == [0, 1, 2, 4, 7] and obs[1]["c.cloexec(7)"] is False
    assert obs[2]["d.fds"] == [0, 1, 2, 5]
    assert obs[2]["d.sig_blocked"] == ["SIGUSR1", "SIGUSR2"]
    # glibc's spawn helper closes 5 before opening it, in the parent's memory
    assert obs[2]["parent.errno"] == "EBADF"
    assert obs[3]["e.sig_ignored"] == []


def test_spawn_missing_fails_without_a_child_and_leaks_errno():
    obs = observations("parent: spawn missing -> m")
    assert "m.state" not in obs[0]
    assert obs[0]["parent.errno"] == "ENOENT"


def test_exec_programs_and_their_exit():
    obs = observations("parent: fork -> t\nt: exec /bin/true\nparent: fork -> f\n"
                       "f: exec /bin/false",
                       "parent: spawn /bin/sleep 5 -> s",
                       "parent: kill s SIGTERM")
    assert obs[0]["t.state"] == "zombie" and obs[0]["t.exit_code"] == 0
    assert obs[0]["f.exit_code"] == 1
    assert obs[1]["s.state"] == "running" and obs[1]["s.errno"] is None
    assert obs[2]["s.term_signal"] == "SIGTERM"


def test_exec_probe_keeps_fds_but_drops_memory_and_cloexec():
    obs = observations("parent: mmap heap 1MiB\nparent: write heap\n"
                       "parent: open a create -> x\nparent: open b create cloexec -> y\n"
                       "parent: thread -> t", "parent: exec probe")
    assert obs[0]["parent.threads"] == 2
    assert obs[1]["parent.fds"] == [0, 1, 2, 3]
    assert obs[1]["parent.heap.mapped"] is False and obs[1]["parent.vm_pte"] == 0
    assert obs[1]["parent.threads"] == 1


def test_an_exec_d_program_can_only_be_observed():
    steps = run_steps("parent: fork -> c\nc: exec /bin/sleep 5", "c: fork -> d")
    next(steps)
    with pytest.raises(ScenarioError, match="now runs /bin/sleep"):
        next(steps)


def test_signals_kill_raise_ignore_catch_block():
    obs = observations(
        "parent: fork -> a\nparent: fork -> b\nparent: fork -> c",
        "a: raise SIGUSR1\nb: signal SIGUSR1 ignore\nparent: kill b SIGUSR1\n"
        "c: signal SIGUSR1 catch\nparent: kill c SIGUSR1",
        "parent: block SIGUSR2\nparent: raise SIGUSR2")
    assert obs[1]["a.term_signal"] == "SIGUSR1"
    assert obs[1]["b.state"] == "running" and obs[1]["b.sig_ignored"] == ["SIGUSR1"]
    assert obs[1]["c.state"] == "running" and obs[1]["c.sig_caught"] == ["SIGUSR1"]
    assert obs[1]["c.sig_pending"] == []  # handled by the time the step is observed
    assert obs[2]["parent.sig_blocked"] == ["SIGUSR2"]
    assert obs[2]["parent.sig_pending"] == ["SIGUSR2"]


def test_kill_a_reaped_process_is_esrch():
    obs = observations("parent: fork -> c\nc: exit 0\nparent: wait c\nparent: kill c SIGTERM")
    assert obs[0]["parent.errno"] == "ESRCH"


def test_threads_and_thread_exit():
    obs = observations("parent: thread -> t1\nparent: thread -> t2", "parent/t1: exit",
                       "parent/t2: _exit 4")
    assert obs[0]["parent.threads"] == 3
    assert obs[1]["parent.threads"] == 2
    assert obs[2]["parent.state"] == "reaped" and obs[2]["parent.exit_code"] == 4


def test_fork_from_a_thread_has_one_thread():
    obs = observations("parent: thread -> t1\nparent/t1: fork -> child")
    assert obs[0]["child.threads"] == 1 and obs[0]["parent.threads"] == 2


def test_forklab_fds_never_reach_an_exec_d_program():
    for run, w in run_with("parent: thread -> t\nparent: fork -> c\nc: exec /bin/sleep 5"):
        pid = run.driver.procs["c"].pid
        raw = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
        assert raw == [0, 1, 2]
        probe_pid = run.driver.procs["parent"].pid
        raw = sorted(int(fd) for fd in os.listdir(f"/proc/{probe_pid}/fd"))
        assert raw[:3] == [0, 1, 2] and all(fd >= 900 for fd in raw[3:])
        assert w.processes["parent"].fds == (0, 1, 2)
