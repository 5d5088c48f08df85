"""Grading a student's replacement of one part of forklab's model.

Every exercise has the same shape: the student rewrites one piece of the
model (the write-fault decision, the fd table at fork and exec, ...), the
exercise's harness passes it to the model as one of its rules
(:class:`forklab.sim.rules.Rules`), and the tests compare the model running it
with the reference model and, where the kernel backend runs, with the kernel.
:class:`Exercise` holds what differs from one exercise to the next; loading
the solution, the comparison and its messages, the random-scenario test and
the kernel tests' skip are written here once.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

from forklab.observe import default_observations
from forklab.runner import ScenarioResult, StepResult, run_scenario
from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend
from forklab.sim.backend import SimRun
from forklab.sim.rules import KERNEL, Rules
from forklab.testing.agree import real_status
from forklab.testing.strategies import scenario_texts

GRADING_SEED = 20261203
"""The random scenarios' seed: every run of a grade tries the same scenarios, so a
solution passes or fails the same way each time (and an instructor can replay it)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: what a solution defines, how the model runs with it, and how a
    difference from the reference model is explained to the student.

    name      "cow-fault": names the loaded solution module and the scenarios' source
    folder    the exercise's directory (student.py; a relative FORKLAB_SOLUTION starts here)
    summary   the summary of the exercise's scenarios
    required  what a solution must define, as a message shows it: "handle_write_fault(fault)"
    rules     rules(solution): the model's rules with the solution in place of the kernel's
    hint      hint(observable that differs, verbs of the ops just run): what to look at
    noun      the student's code in messages: "your handler"
    try_out   try_out(solution) calls it once; the skeleton raises NotImplementedError
    """

    name: str
    folder: Path
    summary: str
    required: tuple[str, ...]
    rules: Callable[[ModuleType], Rules]
    hint: Callable[[str, set[str]], str]
    noun: str
    try_out: Callable[[ModuleType], object]

    def load_solution(self) -> ModuleType:
        """The solution under test: the file FORKLAB_SOLUTION names, or student.py."""
        path = Path(os.environ.get("FORKLAB_SOLUTION") or "student.py")
        if not path.is_absolute():
            path = self.folder / path
        module_name = f"{self.name.replace('-', '_')}_solution_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load the solution {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for required in self.required:
            if not callable(getattr(module, required.split("(")[0], None)):
                raise AssertionError(f"{path.name} must define {required}")
        return module

    def _written(self, solution: ModuleType) -> bool:
        """Whether the student has written the solution (the skeleton raises
        NotImplementedError)."""
        try:
            self.try_out(solution)
        except NotImplementedError:
            return False
        return True

    def scenario_text(self, sid: str, *steps: tuple[str, list[str]]) -> str:
        """A scenario's TOML from (script, expectations) steps, for the classic scenarios."""
        out = [f'id = "{sid}"', f'title = "{sid}"', f'summary = "{self.summary}"']
        for script, expect in steps:
            out.append("[[step]]")
            out.append("do = '''\n" + script.strip() + "\n'''")
            if expect:
                out.append("expect = [" + ", ".join(f'"{e}"' for e in expect) + "]")
        return "\n".join(out) + "\n"

    def model(self, solution: ModuleType) -> SimBackend:
        """The simulator with the solution in place of the kernel's rule."""
        return SimBackend(rules=self.rules(solution))

    def run_model(self, text: str, rules: Rules = KERNEL) -> ScenarioResult:
        """Run a scenario on the simulator with these rules (the kernel's: the reference)."""
        return run_scenario(SimBackend(rules=rules), parse_text(text, f"<{self.name}>"))

    def first_difference(self, text: str, solution: ModuleType) -> str | None:
        """Where the model with the student's code first shows something else than the
        reference model: op by op on the default observations, then step by step on
        everything the expectations read. None if nothing differs."""
        scenario = parse_text(text, f"<{self.name}>")
        rules = self.rules(solution)
        reference, student = SimRun(scenario), SimRun(scenario, rules=rules)
        done: list[str] = []
        for op in scenario.ops:
            done.append(f"    {op.text.strip()}")
            reference.apply(op)
            student.apply(op)
            stu = default_observations(student.observe())
            ref = default_observations(reference.observe())
            for key in dict.fromkeys([*ref, *stu]):
                if ref.get(key) != stu.get(key):
                    script = "\n".join(done)
                    return (f"after\n{script}\n  {key} is {stu.get(key)!r} with {self.noun}; "
                            f"the reference model says {ref.get(key)!r}.\n"
                            f"  Hint: {self.hint(_kind(key), {op.verb})}.")
        return self._step_difference(self.run_model(text), self.run_model(text, rules))

    def _step_difference(self, reference: ScenarioResult, student: ScenarioResult) -> str | None:
        """The first step after which the two runs show something else, or None."""
        for ref_step, stu_step in zip(reference.steps, student.steps):
            ref, stu = _seen(ref_step), _seen(stu_step)
            for key in dict.fromkeys([*ref, *stu]):
                if ref.get(key) != stu.get(key):
                    ops = ref_step.step.ops
                    lines = "\n".join(f"    {op.text.strip()}" for op in ops)
                    hint = self.hint(_kind(key), {op.verb for op in ops})
                    return (f"after step {ref_step.step.index}:\n{lines}\n"
                            f"  {key} is {stu.get(key)!r} with {self.noun}; the reference "
                            f"model says {ref.get(key)!r}.\n  Hint: {hint}.")
        if len(reference.steps) != len(student.steps):
            return f"the scenario stopped early with {self.noun}"
        return None

    def random_test(self, solution: ModuleType, verbs: Iterable[str],
                    observables: Iterable[str]) -> Callable[[], None]:
        """A test comparing the model with the solution and the reference model on random
        scenarios (hypothesis, seeded) of ``verbs``, whose expectations read ``observables``;
        a difference is reported as the shrunk scenario's ops, one per line, and both values.

        Until the solution is written it is a plain test that calls it: the skeleton fails
        at once with its own "not written yet", not through hypothesis's search and shrinking.
        """
        if not self._written(solution):
            def not_written() -> None:
                self.try_out(solution)
            return not_written

        def random_scenario(text: str) -> None:
            problem = self.first_difference(text, solution)
            assert problem is None, (f"in a random scenario (seed {GRADING_SEED}, the same "
                                     f"on every run), {problem}")

        return seed(GRADING_SEED)(settings(
            max_examples=30, deadline=None, database=None, verbosity=Verbosity.quiet,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no slow "explain" phase
            suppress_health_check=list(HealthCheck))(given(scenario_texts(
                verbs=verbs, max_processes=3, observables=observables))(random_scenario)))


def kernel_only() -> pytest.MarkDecorator:
    """Skips a test, saying why, where forklab's real-kernel backend cannot run."""
    ready, why_not = real_status()
    return pytest.mark.skipif(not ready,
                              reason=f"the Linux kernel backend is unavailable: {why_not}")


def _kind(key: str) -> str:
    """The observable an observation key reads: "child.heap.byte(0)" -> "byte"."""
    return key.split("(")[0].rsplit(".", 1)[-1]


def _seen(step: StepResult) -> dict[str, Any]:
    """Everything a step shows: its observations and every value its expectations read."""
    out = dict(step.observations)
    for judged in step.expectations:
        out.update(judged.touched)
    return out
