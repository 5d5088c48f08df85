"""Run a scenario on one backend, step by step, and judge its expectations.

The result is plain data (:class:`ScenarioResult`) that the report, the JSON
output, verify and the TUI all read; nothing here prints.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forklab.backend import Backend
from forklab.observe import UNAVAILABLE, World, default_observations
from forklab.scenario.expr import evaluate
from forklab.scenario.model import Expr, Scenario, ScenarioError, Step


@dataclass
class Judged:
    """An expectation or an answer, with the value the backend computed."""

    text: str
    line: int
    value: Any
    ok: bool | None  # None for answers (nothing to hold) and unavailable values
    error: str | None = None
    touched: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepResult:
    step: Step
    world: World | None  # a real backend's World answers queries only until its next op
    expectations: list[Judged]
    answers: list[Judged]
    observations: dict[str, Any] = field(default_factory=dict)  # default set, taken at once
    skipped: bool = False  # a simulator-only step on the real backend

    @property
    def ok(self) -> bool:
        return all(j.ok is not False for j in self.expectations)


@dataclass
class ScenarioResult:
    scenario: Scenario
    backend: str
    steps: list[StepResult]
    error: ScenarioError | None = None  # the language refused an op midway

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.ok for s in self.steps)


def judge(expr: Expr, world: World, *, is_expectation: bool) -> Judged:
    """Evaluate one expression against a snapshot; never raises."""
    try:
        value, touched = evaluate(expr, world)
    except ScenarioError as err:
        return Judged(expr.text, expr.where.line, None, False if is_expectation else None,
                      error=err.message)
    if not is_expectation:
        return Judged(expr.text, expr.where.line, value, None, touched=touched)
    if value is UNAVAILABLE:
        return Judged(expr.text, expr.where.line, value, None, touched=touched)
    return Judged(expr.text, expr.where.line, value, value is True, touched=touched)


StepHook = Callable[[StepResult], None]


def run_scenario(
    backend: Backend, scenario: Scenario, on_step: StepHook | None = None
) -> ScenarioResult:
    """Run every step; a language error midway is recorded, never raised."""
    result = ScenarioResult(scenario, backend.name, [])
    with backend.start(scenario) as run:
        for step in scenario.steps:
            if not backend.capabilities.sim_only_verbs and not (step.real and scenario.real):
                result.steps.append(StepResult(step, None, [], [], skipped=True))
                continue
            try:
                for op in step.ops:
                    run.apply(op)
            except ScenarioError as err:
                result.error = err
                break
            world = run.observe()
            done = StepResult(
                step,
                world,
                [judge(e, world, is_expectation=True) for e in step.expect],
                [judge(q.answer, world, is_expectation=False) for q in step.ask],
                default_observations(world),
            )
            result.steps.append(done)
            if on_step is not None:
                on_step(done)
    return result
