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
from hypothesis import HealthCheck, Phase, given, settings

from cow_harness import (CLASSIC, WriteFault, first_difference, load_solution, recording,
                         run_model, why)
from forklab.testing import assert_agree, scenario_texts
from forklab.testing.agree import real_status

solution = load_solution()
handle = solution.handle_write_fault


def _written() -> bool:
    try:
        handle(WriteFault("parent", "heap", 0, 1, False, True, 2))
    except NotImplementedError:
        return False
    return True


WRITTEN = _written()


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_each_fault_is_decided_as_the_reference_model_does(name: str) -> None:
    log: list = []
    with recording(log):
        run_model(CLASSIC[name])
    assert log, f"{name}: the reference model took no write-protect fault"
    for fault, expected in log:
        got = handle(fault)
        assert got == expected, (
            f"in scenario {name!r}: {fault}.\n"
            f"  Your handler said {got!r}; the reference model does {expected!r}.\n"
            f"  Why: {why(fault, expected)}")


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_the_model_with_your_handler_shows_what_the_reference_shows(name: str) -> None:
    problem = first_difference(CLASSIC[name], handle)
    assert problem is None, f"in scenario {name!r}, {problem}"
    student = run_model(CLASSIC[name], handle)
    failed = [j for step in student.steps for j in step.expectations if j.ok is False]
    assert not failed, (f"in scenario {name!r}, with your handler: expected "
                        f"{failed[0].text}, but it is {failed[0].value!r}")


MEMORY = {"mmap", "write", "read", "munmap", "mprotect", "madvise", "fork", "vfork", "exit",
          "_exit", "wait"}


def _random_scenarios(text: str) -> None:
    problem = first_difference(text, handle)
    assert problem is None, f"in a random scenario, {problem}"


if WRITTEN:
    test_random_scenarios_match_the_reference_model = settings(
        max_examples=30, deadline=None, database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no slow "explain" phase
        suppress_health_check=list(HealthCheck))(given(scenario_texts(
            verbs=MEMORY, max_processes=3,
            observables={"byte", "shared_with", "exclusive", "present"}))(_random_scenarios))
else:
    def test_random_scenarios_match_the_reference_model() -> None:
        handle(WriteFault("parent", "heap", 0, 1, False, True, 2))  # not written yet


KERNEL, WHY_NOT = real_status()


@pytest.mark.skipif(not KERNEL, reason=f"the Linux kernel backend is unavailable: {WHY_NOT}")
@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_the_model_with_your_handler_agrees_with_the_kernel(name: str) -> None:
    from cow_harness import plugged
    from forklab.scenario.parse import parse_text

    with plugged(handle):
        assert_agree(parse_text(CLASSIC[name], f"{name}.toml"))
