"""Blocking on the real kernel: an op that waits leaves its thread blocked, found
from kernel state at once; a later op that unblocks it completes it."""
from __future__ import annotations

import time

import pytest
from realkit import observations, run_steps

from forklab.scenario.model import ScenarioError


def test_a_read_that_waits_forever_is_blocked_quickly():
    start = time.monotonic()
    (obs,) = observations("parent: pipe -> r, w\nparent: readfd r")
    assert time.monotonic() - start < 1.0  # from kernel state, not a long timeout
    assert obs["parent.state"] == "blocked"


def test_a_blocked_read_completes_when_a_thread_writes():
    ws = run_steps("parent: pipe -> r, w\nparent: thread -> t\nparent: readfd r",
                   "parent/t: writefd w \"ping\"")
    w = next(ws)
    assert w.processes["parent"].state == "blocked"
    w = next(ws)
    assert w.processes["parent"].state == "running"
    assert w.processes["parent"].last_read == "ping"
    ws.close()


def test_wait_blocks_until_the_child_exits():
    obs = observations("parent: fork -> child\nparent: wait child", "child: exit 9")
    assert obs[0]["parent.state"] == "blocked"
    assert obs[1]["parent.state"] == "running" and obs[1]["child.state"] == "reaped"


def test_wait_for_a_sleeping_program_is_not_blocked():
    (obs,) = observations("parent: spawn /bin/sleep 0.3 -> s\nparent: wait s")
    assert obs["parent.state"] == "running"
    assert obs["s.state"] == "reaped" and obs["s.exit_code"] == 0


@pytest.mark.parametrize("end", ["c1: exit 0", "c1: kill c1 SIGUSR1"])
def test_a_wait_completes_when_a_child_with_a_thread_ends(end):
    # The parent reaps inside wait4 well after the child's pidfd said it ended
    # (the kernel drops the child's /proc entries there); read as blocked in 9
    # runs in 10 before the driver knew. Twenty runs, to catch a race.
    for _ in range(20):
        obs = observations("parent: fork -> c1\nparent: wait c1",
                           f"c1: thread -> t1\n{end}\nparent: fork -> c2")
        assert obs[0]["parent.state"] == "blocked"
        assert obs[1]["parent.state"] == "running" and obs[1]["c1.state"] == "reaped"


def test_fork_while_a_thread_holds_a_lock_deadlocks_the_child():
    obs = observations("parent: thread -> t\nparent/t: lock m\nparent: fork -> child",
                       "child: lock m", "parent/t: unlock m\nparent: lock m")
    assert obs[1]["child.state"] == "blocked"  # the lock's owner does not exist in the child
    assert obs[2]["parent.state"] == "running" and obs[2]["child.state"] == "blocked"


def test_an_atfork_handler_that_waits_blocks_fork_and_binds_the_child_later():
    ws = run_steps("parent: thread -> t\nparent: atfork m\nparent/t: lock m\n"
                   "parent: fork -> child", "parent/t: unlock m")
    w = next(ws)
    assert w.processes["parent"].state == "blocked"
    assert "child" not in w.processes
    w = next(ws)
    assert w.processes["parent"].state == "running"
    assert w.processes["child"].state == "running"
    ws.close()


def test_a_signal_ends_a_blocked_process():
    obs = observations("parent: fork -> child\nchild: pipe -> r, w\nchild: readfd r",
                       "parent: kill child SIGTERM")
    assert obs[0]["child.state"] == "blocked"
    assert obs[1]["child.state"] == "zombie" and obs[1]["child.term_signal"] == "SIGTERM"


def test_a_caught_signal_does_not_end_a_blocked_read():
    obs = observations("parent: fork -> child\nchild: signal SIGUSR1 catch\n"
                       "child: pipe -> r, w\nchild: readfd r", "parent: kill child SIGUSR1")
    assert obs[1]["child.state"] == "blocked"  # SA_RESTART: the read goes on waiting


@pytest.mark.parametrize("script, message", [
    ("parent: pipe -> r, w\nparent: readfd r\nparent: close w", "blocked"),
    ("parent: vfork -> child\nparent: fork -> other", "suspended"),
    ("parent: thread -> t\nparent/t: vfork -> child\nparent/t: lock m", "'parent/t' is suspended"),
    ("parent: fork -> child\nchild: exit 0\nchild: fork -> x", "has ended"),
    ("parent: thread -> t\nparent/t: exit\nparent/t: lock m", "not a thread"),
    ("parent: spawn missing -> m\nm: exit 0", "never created"),
])
def test_the_language_refuses_acting_on_blocked_suspended_or_gone(script, message):
    steps = run_steps(script)
    with pytest.raises(ScenarioError, match=message) as err:
        next(steps)
    assert err.value.where is not None and err.value.where.line > 1
