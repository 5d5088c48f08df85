"""Control groups for a user who may not make them: both backends fail the calls the
same way, and the run goes on (docs/scenario-language.md, `cgroup`)."""
from __future__ import annotations

import pytest
from scenario_text import StepText, scenario_text

from forklab import hostcgroup
from forklab.real import RealBackend
from forklab.runner import run_scenario
from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend

SCRIPT = """
parent: cgroup a
parent: clone none into=b -> k1
parent: fork -> c1
"""
EXPECT = ["parent.cgroup == ''", "c1.cgroup == ''", "parent.errno == REFUSED",
          "'k1' not in processes"]


@pytest.mark.forklab_real
def test_a_user_who_may_not_make_groups_gets_the_errno_on_both_backends() -> None:
    _, refused = hostcgroup.own_group()
    if refused is None:
        pytest.skip("this user may make control groups (root): tests/scenarios/cgroups.toml")
    expect = [e.replace("REFUSED", repr(refused)) for e in EXPECT]
    scenario = parse_text(scenario_text(StepText(SCRIPT, tuple(expect))))
    for backend in (SimBackend(), RealBackend()):
        result = run_scenario(backend, scenario)
        assert result.error is None, result.error
        failed = [j.text for step in result.steps for j in step.expectations if not j.ok]
        assert not failed, (backend.name, failed)
