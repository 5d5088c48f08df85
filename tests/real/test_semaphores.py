"""System V semaphore sets live in forklab's own IPC namespace: a task in one the run
made may neither make nor change them, on either backend, and the refusal names the
line (docs/scenario-language.md, `semget`)."""
from __future__ import annotations

import pytest
from scenario_text import StepText, scenario_text

from forklab.real import RealBackend
from forklab.runner import run_scenario
from forklab.scenario.model import ScenarioError
from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend
from forklab.sim.namespaces import user_namespaces_allowed


@pytest.mark.forklab_real
@pytest.mark.parametrize("line", ["n: semop s +1", "n: semget -> s2"])
def test_a_task_in_a_new_ipc_namespace_is_refused_on_both_backends(line: str) -> None:
    if not user_namespaces_allowed():
        pytest.skip("this machine lets nobody make a user namespace")
    script = f"parent: semget -> s\nparent: fork -> n\nn: unshare user,ipc\n{line}"
    scenario = parse_text(scenario_text(StepText(script, ("n.semval(s) == None",))))
    for backend in (SimBackend(), RealBackend()):
        result = run_scenario(backend, scenario)
        assert isinstance(result.error, ScenarioError), backend.name
        assert "in an IPC namespace the run made" in result.error.message
        assert result.error.where is not None and result.error.where.line == 9


def test_a_semaphore_name_is_read_only_through_semval() -> None:
    def error(expect: str) -> str:
        with pytest.raises(ScenarioError) as info:
            parse_text(scenario_text(StepText("parent: semget -> s", (expect,))))
        return info.value.message

    assert "s is a semaphore set: expected it in P.semval(s)" in error("s == 1")
    assert "must be the name of a semaphore set" in error("parent.semval(parent) == 1")
    assert "expected parent.semval(S)" in error("parent.semval() == 1")
