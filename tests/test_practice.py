"""forklab practice: the same seed gives the same questions, and every answer is
the model's (checked here by an independent run of each question)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scenario_text import StepText, scenario_text

import forklab
from forklab import practice
from forklab.runner import run_scenario
from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend

FORKLAB_HOME = Path(forklab.__file__).resolve().parents[1]


def _questions(seed: int, topic: str, count: int = 3) -> list[practice.Question]:
    return practice.questions(seed, topic, count, SimBackend(), None)


@pytest.mark.parametrize("topic", sorted(practice.TOPICS))
def test_each_topic_gives_questions_the_model_answers(topic: str) -> None:
    made = _questions(11, topic)
    assert made, f"no question on {topic}"
    for q in made:
        script = "\n".join(q.script)
        done = run_scenario(SimBackend(),
                            parse_text(scenario_text(StepText(script, (q.expression,)))))
        assert done.error is None
        value = done.steps[0].expectations[0].value
        held = parse_text(scenario_text(StepText(script, (f"{q.expression} == {q.answer}",))))
        assert run_scenario(SimBackend(), held).ok, (q, value)
        assert len(q.script) >= practice.MIN_LINES and q.kernel == "not run"


def test_the_same_seed_gives_the_same_questions_and_another_seed_others() -> None:
    first = practice.render(_questions(5, "files"), seed=5, topic="files", answers=True)
    again = practice.render(_questions(5, "files"), seed=5, topic="files", answers=True)
    other = practice.render(_questions(6, "files"), seed=6, topic="files", answers=True)
    assert first == again
    assert first.split("\n", 1)[1] != other.split("\n", 1)[1]


def test_no_question_asks_twice_or_about_nothing() -> None:
    made = _questions(7, "memory", count=5)
    assert len({(q.script, q.expression) for q in made}) == len(made)
    for q in made:
        assert q.expression not in practice.VACUOUS or q.answer not in ("None", '"running"')


def _practice(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(FORKLAB_HOME))
    return subprocess.run([sys.executable, "-m", "forklab", "practice", "--backend", "sim",
                           *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)


def test_the_command_hides_answers_unless_asked_and_leaves_nothing_behind(tmp_path: Path):
    hidden = _practice(tmp_path, "--seed", "3", "--topic", "fork", "--count", "2")
    shown = _practice(tmp_path, "--seed", "3", "--topic", "fork", "--count", "2", "--answers")
    as_json = _practice(tmp_path, "--seed", "3", "--topic", "fork", "--count", "2", "--json")
    assert hidden.returncode == shown.returncode == as_json.returncode == 0, hidden.stderr
    assert "Question 2." in hidden.stdout and "Answer:" not in hidden.stdout
    assert "--seed 3 --answers" in hidden.stdout
    doc = json.loads(as_json.stdout)
    assert doc["seed"] == 3 and len(doc["questions"]) == 2
    for q in doc["questions"]:
        assert f"  Answer: {q['answer']}" in shown.stdout
    assert list(tmp_path.iterdir()) == []  # no .hypothesis/ in the current directory
