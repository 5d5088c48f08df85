"""No question of the catalog is answered on screen before the learner answers it.

The oracle here is the model's own evaluation: the observables the answer
read when it was computed (``Judged.touched``), not the static rule of
forklab.questions that decides what to hold back.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from forklab import lessons
from forklab.questions import gives_away, held_back, observables
from forklab.report import Style, render_scenario
from forklab.runner import Judged, ScenarioResult, run_scenario
from forklab.scenario.parse import parse_file, parse_text
from forklab.sim import SimBackend

CATALOG = lessons.catalog()


def answer_keys(judged: Judged) -> set[str]:
    """What the answer read, less what it read on the way: the ``mapped`` flag of a
    mapping, and the fd lists an fd's observable (``cloexec``, ``same_file``) checks
    first."""
    return {key for key in judged.touched if not key.endswith(".mapped")
            and not (key.endswith(".fds") and ".fds" not in judged.text)}


def mentions(line: str, key: str) -> bool:
    """Whether a report line shows the observable ``key``: in an expectation as written
    (``child.heap.exclusive == 0``), or in a change line (``· child.heap: exclusive 0``)."""
    if re.search(rf"(?<![\w.]){re.escape(key)}(?![\w(])", line):
        return True
    owner, _, attr = key.rpartition(".")
    if not owner or "(" in attr:
        return False
    change = re.match(rf"\s*· {re.escape(owner)}: (.*)", line)
    return change is not None and any(
        part.strip().startswith(f"{attr} ") for part in change.group(1).split(", "))


def run(path: Path) -> ScenarioResult:
    return run_scenario(SimBackend(), parse_file(path))


def blocks(lines: list[str]) -> dict[int, list[str]]:
    """Each step's lines of the report, by step number."""
    out: dict[int, list[str]] = {}
    step = 0
    for line in lines:
        header = re.match(r"  step (\d+)", line)
        if header:
            step = int(header.group(1))
        out.setdefault(step, []).append(line)
    return out


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_forklab_run_shows_no_answer_before_its_question(path: Path) -> None:
    """In the question's step, nothing before its answer line mentions what the answer
    reads. (Earlier steps show what they showed: what the learner saw then is what a
    question may ask them to reason from.)"""
    result = run(path)
    by_step = blocks(render_scenario(result, Style(False), show_answers=False).splitlines())
    asked = 0
    for done in result.steps:
        own = by_step[done.step.index]
        for question, answer in zip(done.step.ask, done.answers):
            asked += 1
            at = own.index(f"    Q {question.q}")
            shown = own[:at + 3]  # up to the question, its choices and its hidden answer
            assert not any(question.answer.text in line for line in shown), question.q
            for key in answer_keys(answer):
                assert not any(mentions(line, key) for line in shown), (question.q, key)
    assert asked == sum(len(s.ask) for s in result.scenario.steps)


@pytest.mark.parametrize("path", CATALOG[:3], ids=[p.stem for p in CATALOG[:3]])
def test_with_c_everything_is_shown(path: Path) -> None:
    result = run(path)
    text = render_scenario(result, Style(False), show_answers=True)
    assert "held back" not in text and "-c shows" not in text
    for done in result.steps:
        for judged in [*done.expectations, *done.answers]:
            assert judged.text in text


def test_the_oracle_sees_a_change_line() -> None:
    assert mentions("      · child.heap: mapped True, exclusive 0, zero 0", "child.heap.exclusive")
    assert not mentions("      · child.heap: mapped True, zero 0", "child.heap.exclusive")
    assert mentions("    ✓ child.fds == [0, 1, 2]", "child.fds")
    assert not mentions("    ✓ grandchild.fds == [0, 1, 2]", "child.fds")


LESSON = """\
id = "q"
title = "t"
summary = "s"

[[step]]
do = "parent: mmap heap 4p\\nparent: write heap\\nparent: fork -> child"
expect = ["child.heap.shared_with(parent) == 4", "parent.heap.shared_with(child) == 4",
          "child.heap.exclusive == 0", "parent.heap.exclusive == 0", "len(child.fds) == 3",
          "2 + 2 == 4"]
ask = [
  { q = "Shared?", a = "child.heap.shared_with(parent)" },
  { q = "fds?", a = "child.fds" },
  { q = "constant", a = "2 + 2 == 4" },
]
"""


def test_the_rule_holds_back_what_reads_the_answer_s_observables() -> None:
    step = parse_text(LESSON).steps[0]
    shared, fds, constant = step.ask
    assert observables(shared.answer) == {"child.heap.shared_with(parent)",
                                          "parent.heap.shared_with(child)"}
    assert observables(fds.answer) == {"child.fds"}
    assert [e.text for e in step.expect if gives_away(e, shared)] == [
        "child.heap.shared_with(parent) == 4", "parent.heap.shared_with(child) == 4"]
    assert [e.text for e in step.expect if gives_away(e, fds)] == ["len(child.fds) == 3"]
    assert [e.text for e in step.expect if gives_away(e, constant)] == ["2 + 2 == 4"]
    assert held_back(step, [1]) == {4}
    assert held_back(step, []) == set()
