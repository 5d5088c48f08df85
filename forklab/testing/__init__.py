"""The course kit: hypothesis strategies for scenarios, a differential
assertion, and a state machine that drives the model and the kernel side by side
(docs/course-kit.md).

Importing this module registers :func:`scenarios` with hypothesis, so
``st.from_type(Scenario)`` draws generated scenarios.
"""
from __future__ import annotations

from hypothesis import strategies as st

from forklab.scenario.model import Scenario
from forklab.testing.agree import assert_agree
from forklab.testing.machine import ModelVsKernel
from forklab.testing.strategies import (ALL_OBSERVABLES, ALL_VERBS, as_scenario, next_lines,
                                        ops, scenario_texts, scenarios)


def _scenario_strategy(cls: type) -> st.SearchStrategy[Scenario]:
    return scenarios()


st.register_type_strategy(Scenario, _scenario_strategy)

__all__ = ["assert_agree", "ModelVsKernel", "scenarios", "scenario_texts", "ops",
           "as_scenario", "next_lines", "ALL_VERBS", "ALL_OBSERVABLES"]
