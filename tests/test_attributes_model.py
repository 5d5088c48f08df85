"""The model's timers, file locks and exit handlers: the rules a scenario cannot see
break (rounding, refusals, limits), each with the kernel's own word beside it."""
from __future__ import annotations

import pytest
from scenario_text import StepText, scenario_text

from forklab.observe import alarm_seconds
from forklab.runner import run_scenario
from forklab.scenario.model import ScenarioError
from forklab.scenario.parse import parse_text
from forklab.scenario.validate import SHARED_FILE_LOCK
from forklab.sim import SimBackend


@pytest.mark.parametrize("left, seconds", [(99.6, 100), (99.4, 99), (99.5, 100), (0.3, 1),
                                           (0.0, 0), (1.0, 1)])
def test_a_timer_reads_as_alarm_returns_it(left: float, seconds: int) -> None:
    """kernel/time/itimer.c alarm_setitimer: "We can't return 0 if we have an alarm
    pending ... And we'd better return too much than too little anyway": the seconds
    are rounded up from half a second, and at least 1 while any time is left."""
    assert alarm_seconds(left) == seconds


def test_timer_create_lines_are_bounded() -> None:
    text = scenario_text("repeat 65: parent: timer_create 100")
    with pytest.raises(ScenarioError, match="at most 64 timer_create lines"):
        parse_text(text)


@pytest.mark.parametrize("script", ["parent: fcntl_lock 0 read", "parent: flock 0 sh",
                                    "parent: clone pidfd -> c\nparent: flock 3 ex"])
def test_a_lock_on_what_the_machine_shares_is_refused(script: str) -> None:
    result = run_scenario(SimBackend(), parse_text(scenario_text(script)))
    assert result.error is not None and SHARED_FILE_LOCK in str(result.error)


def test_a_record_lock_follows_its_owner_the_fd_table() -> None:
    """clone(CLONE_FILES) shares the fd table, so the child's close of the file drops
    the parent's record lock (fcntl(2): the locks are the process's, and "the process"
    is its table of fds)."""
    text = scenario_text(
        "parent: open data.txt rw create -> f\nparent: fcntl_lock f write\n"
        "parent: clone files -> c\nc: open data.txt ro -> other\nc: close other")
    result = run_scenario(SimBackend(),
                          parse_text(text + 'expect = ["parent.locks(f) == set()"]\n'))
    assert result.ok and result.steps[0].expectations


def test_the_model_fires_a_timer_its_time_passes() -> None:
    """alarm(2): "alarm() arranges for a SIGALRM signal to be delivered to the calling
    process in seconds seconds"; signal(7): SIGALRM's default action is Term. A kernel
    run ends at its time limit first, so only the model can show it."""
    text = scenario_text(StepText(
        "parent: fork -> c\nc: alarm 100\nparent: fork -> d\nd: signal SIGALRM catch\n"
        "d: timer_create 100\nparent: fork -> e\ne: alarm 100\ne: alarm 0\n"
        "repeat 11: parent: sleep 10s",
        ("c.term_signal == 'SIGALRM'", "d.sig_received('SIGALRM') == 1", "d.timers == 1",
         "e.state == 'running'")))
    result = run_scenario(SimBackend(), parse_text(text))
    assert result.ok and len(result.steps[0].expectations) == 4
