"""forklab practice on the kernel: every question it asks, the kernel answers as
the model does."""
from __future__ import annotations

from scenario_text import StepText, scenario_text

from forklab import practice
from forklab.real import RealBackend
from forklab.runner import run_scenario
from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend


def test_every_question_asked_is_confirmed_by_the_kernel() -> None:
    made = practice.questions(2, "files", 3, SimBackend(), RealBackend())
    assert made
    for q in made:
        assert q.kernel == "confirmed"
        text = scenario_text(StepText("\n".join(q.script), (f"{q.expression} == {q.answer}",)))
        assert run_scenario(RealBackend(), parse_text(text)).ok, q
