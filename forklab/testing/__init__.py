"""The course kit: hypothesis strategies for scenarios, a differential
assertion, and a state machine that drives the model and the kernel side by side
(docs/course-kit.md).

Names are imported when first used, so importing this package (the pytest
plugin does, in every session) imports neither hypothesis nor the simulator.
Importing the strategies registers :func:`scenarios` with hypothesis, so
``st.from_type(Scenario)`` draws generated scenarios.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "assert_agree": "agree", "KitOptions": "options", "ModelVsKernel": "machine",
    "generated_verbs": "generator", "Generator": "generator",
    "scenarios": "strategies", "scenario_texts": "strategies", "generated": "strategies",
    "ops": "strategies", "as_scenario": "strategies", "next_lines": "strategies",
    "ALL_VERBS": "strategies", "ALL_OBSERVABLES": "strategies",
}

__all__ = ["ALL_OBSERVABLES", "ALL_VERBS", "Generator", "KitOptions", "ModelVsKernel",
           "as_scenario", "assert_agree", "generated", "generated_verbs", "next_lines",
           "ops", "scenario_texts", "scenarios"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'forklab.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"forklab.testing.{_WHERE[name]}"), name)
