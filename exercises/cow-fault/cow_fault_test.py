"""Grading tests for the copy-on-write exercise (student.py: handle_write_fault).

1. Your decisions, fault by fault, against the reference model's.
2. What the model then shows (bytes, sharing, exclusive pages, faults) on
   classic scenarios, with your handler plugged in, against the reference model.
3. The same on random scenarios (hypothesis).
4. Where the Linux kernel backend is available: the model with your handler
   against the kernel itself.
"""
from __future__ import annotations

import pytest
from cow_harness import CASES, EXERCISE, describe, recording, why

from forklab.testing import assert_agree
from forklab.testing.grading import kernel_only

solution = EXERCISE.load_solution()
handle = solution.handle_write_fault


@pytest.mark.parametrize("name", CASES)
def test_each_fault_is_decided_as_the_reference_model_does(name: str) -> None:
    log: list = []
    EXERCISE.run_model(CASES[name], recording(log))
    for fault, expected in log:
        got = handle(fault)
        assert got == expected, (
            f"in scenario {name!r}: {describe(fault)}.\n"
            f"  Your handler said {got!r}; the reference model does {expected!r}.\n"
            f"  Why: {why(fault, expected)}")


@pytest.mark.parametrize("name", CASES)
def test_the_model_with_your_handler_shows_what_the_reference_shows(name: str) -> None:
    problem = EXERCISE.first_difference(CASES[name], solution)
    assert problem is None, f"in scenario {name!r}, {problem}"
    student = EXERCISE.run_model(CASES[name], EXERCISE.rules(solution))
    failed = [j for step in student.steps for j in step.expectations if j.ok is False]
    assert not failed, (f"in scenario {name!r}, with your handler: expected "
                        f"{failed[0].text}, but it is {failed[0].value!r}")


MEMORY = {"mmap", "write", "read", "munmap", "mprotect", "madvise", "fork", "vfork", "exit",
          "_exit", "wait"}


test_random_scenarios_match_the_reference_model = EXERCISE.random_test(
    solution, verbs=MEMORY, observables={"byte", "shared_with", "exclusive", "present"})


@kernel_only()
@pytest.mark.parametrize("name", CASES)
def test_the_model_with_your_handler_agrees_with_the_kernel(name: str) -> None:
    from forklab.scenario.parse import parse_text

    assert_agree(parse_text(CASES[name], f"{name}.toml"), sim=EXERCISE.model(solution))
