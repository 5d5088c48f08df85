"""Run a scenario on one backend, step by step, and judge its expectations.

The result is plain data (:class:`ScenarioResult`) that the report, the JSON
output, verify and the TUI all read; nothing here prints.
"""
from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from forklab.backend import Backend
from forklab.observe import UNAVAILABLE, World, default_observations
from forklab.scenario.expr import Budget, evaluate
from forklab.scenario.model import Expr, Scenario, ScenarioError, Step

KEPT_LENGTH = 1000
"""A computed value longer than this (items, or characters) is kept as a Summary."""


@dataclass(frozen=True)
class Summary:
    """A long value an expression computed, kept small: its kind, its length, a
    digest of all of it (two summaries are equal when the values were) and how
    it starts. A run keeps every value it judges, and 200 expectations of a
    million items each would otherwise hold gigabytes."""

    kind: str
    length: int
    digest: str
    head: str

    def __str__(self) -> str:
        return f"<{self.kind} of {self.length} items: {self.head}…>"


def summarised(value: Any) -> Any:
    """value itself, or a Summary of it when it is longer than KEPT_LENGTH."""
    if not isinstance(value, (str, list, tuple, set, frozenset, dict)) \
            or len(value) <= KEPT_LENGTH:
        return value
    items: Collection[Any] = value
    if isinstance(value, (set, frozenset)):
        try:
            items = sorted(value)
        except TypeError:
            items = sorted(value, key=repr)
    head = repr(items[:20] if isinstance(items, (str, list, tuple)) else list(items)[:20])
    try:  # this process's hash: values are compared only within one run of forklab
        digest = format(hash(tuple(items.items()) if isinstance(items, dict) else
                             items if isinstance(items, str) else tuple(items)), "x")
    except TypeError:  # unhashable items (lists of lists)
        digest = hashlib.sha256(pickle.dumps(items, protocol=5)).hexdigest()
    return Summary(type(value).__name__, len(value), digest, head[:60])


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
    world: World | None  # the last step's only; a real backend's answers until its next op
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


def judge(expr: Expr, world: World, *, is_expectation: bool,
          budget: Budget | None = None) -> Judged:
    """Evaluate one expression against a snapshot; never raises. budget: what the
    run's expressions may still build (by default, this one's own bound only)."""
    try:
        value, touched = evaluate(expr, world, budget)
    except ScenarioError as err:
        return Judged(expr.text, expr.where.line, None, False if is_expectation else None,
                      error=err.message)
    touched = {key: summarised(seen) for key, seen in touched.items()}
    if not is_expectation or value is UNAVAILABLE:
        return Judged(expr.text, expr.where.line, summarised(value), None, touched=touched)
    return Judged(expr.text, expr.where.line, summarised(value), value is True, touched=touched)


StepHook = Callable[[StepResult], None]


def run_scenario(
    backend: Backend, scenario: Scenario, on_step: StepHook | None = None
) -> ScenarioResult:
    """Run every step; a language error midway is recorded, never raised."""
    result = ScenarioResult(scenario, backend.name, [])
    budget = Budget()
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
                [judge(e, world, is_expectation=True, budget=budget) for e in step.expect],
                [judge(q.answer, world, is_expectation=False, budget=budget)
                 for q in step.ask],
                default_observations(world),
            )
            if result.steps:  # a model's World holds a copy of its kernel: keep the last only
                result.steps[-1].world = None
            result.steps.append(done)
            if on_step is not None:
                on_step(done)
    return result
