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
from fd_harness import CLASSIC, EXERCISE

from forklab.testing import assert_agree
from forklab.testing.grading import kernel_only

solution = EXERCISE.load_solution()


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_the_model_with_your_fd_table_shows_what_the_reference_shows(name: str) -> None:
    problem = EXERCISE.first_difference(CLASSIC[name], solution)
    assert problem is None, f"in scenario {name!r}, {problem}"
    student = EXERCISE.run_model(CLASSIC[name], EXERCISE.rules(solution))
    failed = [j for step in student.steps for j in step.expectations if j.ok is False]
    assert not failed, (f"in scenario {name!r}, with your fd table: expected "
                        f"{failed[0].text}, but it is not ({failed[0].value!r})")


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_reference_counts_stay_right(name: str) -> None:
    from forklab.scenario.parse import parse_text
    from forklab.sim.kernel import Kernel
    from forklab.testing.invariants import check_invariants

    scenario = parse_text(CLASSIC[name], f"{name}.toml")
    kernel = Kernel(scenario, rules=EXERCISE.rules(solution))
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


test_random_scenarios_match_the_reference_model = EXERCISE.random_test(
    solution, verbs=FILES, observables={"cloexec", "same_file", "last_read", "fds", "state"})


@kernel_only()
@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_the_model_with_your_fd_table_agrees_with_the_kernel(name: str) -> None:
    from forklab.scenario.parse import parse_text

    assert_agree(parse_text(CLASSIC[name], f"{name}.toml"), sim=EXERCISE.model(solution))
