"""Grading tests for the fd-table exercise (student.py: copy_at_fork, close_on_exec).

1. Classic scenarios (pipes and EOF, close-on-exec, shared offsets, vfork,
   clone files): what the model shows with your fd table, against the
   reference model, after every step.
2. The model's bookkeeping stays right with your code: every open file
   description's reference count equals the fds that hold it, after every op.
3. Random scenarios (hypothesis) against the reference model.
4. Where the Linux kernel backend is available: the model with your fd table
   against the kernel itself.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from fd_harness import CLASSIC, first_difference, load_solution, plugged, run_model
from forklab.testing import assert_agree, scenario_texts
from forklab.testing.agree import real_status

solution = load_solution()


def _written() -> bool:
    from forklab.sim.files import FdTable
    try:
        solution.close_on_exec(solution.copy_at_fork(FdTable()))
    except NotImplementedError:
        return False
    return True


WRITTEN = _written()


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_the_model_with_your_fd_table_shows_what_the_reference_shows(name: str) -> None:
    problem = first_difference(CLASSIC[name], solution)
    assert problem is None, f"in scenario {name!r}, {problem}"
    student = run_model(CLASSIC[name], solution)
    failed = [j for step in student.steps for j in step.expectations if j.ok is False]
    assert not failed, (f"in scenario {name!r}, with your fd table: expected "
                        f"{failed[0].text}, but it is not ({failed[0].value!r})")


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_reference_counts_stay_right(name: str) -> None:
    from forklab.scenario.parse import parse_text
    from forklab.sim.kernel import Kernel
    from forklab.testing.invariants import check_invariants

    scenario = parse_text(CLASSIC[name], f"{name}.toml")
    with plugged(solution):
        kernel = Kernel(scenario)
        for op in scenario.ops:
            kernel.apply(op)
            try:
                check_invariants(kernel)
            except AssertionError as err:
                raise AssertionError(
                    f"in scenario {name!r}, after `{op.text.strip()}`: {err}. Build the "
                    "child's table with FdTable.install (it takes a reference on the open "
                    "file description) and close with table.close (it drops one); do not "
                    "put Fd objects into table.fds yourself") from None


FILES = {"pipe", "dup", "dup2", "close", "cloexec", "close_range", "writefd", "readfd",
         "fork", "vfork", "exec", "exit", "_exit", "wait", "thread"}


def _random_scenarios(text: str) -> None:
    problem = first_difference(text, solution)
    assert problem is None, f"in a random scenario, {problem}"


if WRITTEN:
    test_random_scenarios_match_the_reference_model = settings(
        max_examples=30, deadline=None, database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no slow "explain" phase
        suppress_health_check=list(HealthCheck))(given(scenario_texts(
            verbs=FILES, max_processes=3,
            observables={"cloexec", "same_file", "last_read", "fds", "state"}))(
        _random_scenarios))
else:
    def test_random_scenarios_match_the_reference_model() -> None:
        from forklab.sim.files import FdTable
        solution.close_on_exec(solution.copy_at_fork(FdTable()))  # not written yet


KERNEL, WHY_NOT = real_status()


@pytest.mark.skipif(not KERNEL, reason=f"the Linux kernel backend is unavailable: {WHY_NOT}")
@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_the_model_with_your_fd_table_agrees_with_the_kernel(name: str) -> None:
    from forklab.scenario.parse import parse_text

    with plugged(solution):
        assert_agree(parse_text(CLASSIC[name], f"{name}.toml"))
