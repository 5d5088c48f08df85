"""The run report, as text and as JSON, on hand-made results."""
from __future__ import annotations

import ast
import io
import json

import pytest

from forklab.observe import UNAVAILABLE
from forklab.report import (Style, json_safe, observation_changes, render_scenario,
                            scenario_json, value_text)
from forklab.runner import Judged, ScenarioResult, StepResult
from forklab.scenario.model import Actor, Expr, Question, Scenario, ScenarioError, Step, Where
from forklab.scenario.ops import Fork, Op

FILE = "demo.toml"


def at(line: int, step: int | None = None, col: int = 1) -> Where:
    return Where(FILE, line, col, step)


def expr(text: str, line: int) -> Expr:
    return Expr(text, ast.parse(text, mode="eval"), at(line))


def op(text: str, line: int, step: int) -> Op:
    """An op as the report sees it: the report shows only its text and position."""
    actor, _, _ = text.partition(": ")
    return Fork(actor=Actor(actor), binds=(), where=at(line, step), text=text)


def scenario(*steps: Step, real: bool = True) -> Scenario:
    return Scenario("demo", "A demo scenario", "What it shows.", FILE, steps, ("fork",), real)


STEP1 = Step(1, at(5, 1), say="\nThe parent maps a heap.\nMore text.",
             ops=(op("parent: mmap heap 16p", 7, 1), op("parent: write heap", 8, 1)),
             expect=(expr("parent.heap.present == 16", 10),))
STEP2 = Step(2, at(12, 2), say="fork",
             ops=(op("parent: fork -> child", 14, 2),),
             expect=(expr("child.heap.exclusive == 16", 15),
                     expr("child.heap.shared_with(parent) == 16", 16)),
             ask=(Question("How many pages does the child own?", expr("child.heap.exclusive", 17)),))

OBS1 = {"stdout": "", "parent.state": "running", "parent.fds": [0, 1, 2],
        "parent.heap.present": 16, "parent.heap.exclusive": 16}
OBS2 = {**OBS1, "parent.heap.exclusive": 0, "child.state": "running",
        "child.heap.present": 16, "child.heap.exclusive": 0}


def results(error: ScenarioError | None = None) -> ScenarioResult:
    first = StepResult(STEP1, None, [Judged("parent.heap.present == 16", 10, True, True,
                                            touched={"parent.heap.present": 16})], [], OBS1)
    second = StepResult(
        STEP2, None,
        [Judged("child.heap.exclusive == 16", 15, False, False,
                touched={"child.heap.exclusive": 0}),
         Judged("child.heap.shared_with(parent) == 16", 16, UNAVAILABLE, None,
                touched={"child.heap.shared_with(parent)": UNAVAILABLE})],
        [Judged("child.heap.exclusive", 17, 0, None, touched={"child.heap.exclusive": 0})],
        OBS2)
    steps = [first] if error else [first, second]
    return ScenarioResult(scenario(STEP1, STEP2), "sim", steps, error)


# --- values -------------------------------------------------------------------


def test_json_safe_makes_sets_sorted_lists_and_unavailable_a_string() -> None:
    value = {"a": frozenset({"SIGUSR1", "SIGINT"}), "b": (1, 2), "c": UNAVAILABLE,
             "d": {3, 1, 2}, "e": None, "f": float("nan")}
    safe = json_safe(value)
    assert safe == {"a": ["SIGINT", "SIGUSR1"], "b": [1, 2], "c": "unavailable",
                    "d": [1, 2, 3], "e": None, "f": "nan"}
    json.dumps(safe, allow_nan=False)


def test_json_safe_sorts_mixed_sets_without_error() -> None:
    assert sorted(json_safe({1, "a", None}), key=str) == sorted([1, "a", None], key=str)


@pytest.mark.parametrize("value, text", [
    ("hi\n", '"hi\\n"'), (None, "None"), (True, "True"), (UNAVAILABLE, "unavailable"),
    (frozenset({"b", "a"}), '{"a", "b"}'), (set(), "set()"), ([0, 1], "[0, 1]"),
    (183.25, "183.25"),
])
def test_value_text_writes_values_as_the_language_does(value: object, text: str) -> None:
    assert value_text(value) == text


def test_value_text_truncates_only_when_asked() -> None:
    long = "x" * 500
    assert len(value_text(long, 40)) == 40 and value_text(long, 40).endswith("…")
    assert value_text(long) == json.dumps(long)


# --- colour ---------------------------------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert Style.for_stream(Tty()).colour
    assert not Style.for_stream(io.StringIO()).colour
    monkeypatch.setenv("NO_COLOR", "1")
    assert not Style.for_stream(Tty()).colour


def test_plain_style_adds_no_escapes_and_colour_does() -> None:
    assert Style(False).bad("✗") == "✗"
    assert Style(True).bad("✗") == "\x1b[31m✗\x1b[0m"


# --- text report ----------------------------------------------------------------


def test_text_report_shows_header_steps_ops_expectations_and_answers() -> None:
    text = render_scenario(results(), Style(False))
    lines = text.splitlines()
    assert lines[0].startswith("demo — A demo scenario") and "[sim]" in lines[0]
    assert "step 1  The parent maps a heap." in text and "More text." not in text
    assert "parent: mmap heap 16p" in text and "parent: fork -> child" in text
    assert "✓ parent.heap.present == 16" in text
    assert "✗ child.heap.exclusive == 16   → child.heap.exclusive = 0" in text
    assert "? child.heap.shared_with(parent) == 16" in text and "unavailable" in text
    assert "Q How many pages does the child own?" in text
    assert "→ 0   (child.heap.exclusive)" in text
    assert "✗ 1 of 3 expectations failed" in text and "1 unavailable" in text
    assert "\x1b[" not in text


def test_without_answers_the_question_and_what_gives_it_away_are_held_back() -> None:
    text = render_scenario(results(), Style(False), show_answers=False)
    assert "child.heap.exclusive" not in text
    assert "    ✗ … held back: it gives a question's answer away (-c shows it)" in text
    assert "? child.heap.shared_with(parent) == 16" in text  # another observable
    assert "· child.heap: present 16" in text  # the step's changes, less the answer's
    assert "Q How many pages does the child own?\n      → ? (-c shows the answer)" in text
    assert "✗ 1 of 3 expectations failed" in text


def test_a_later_change_of_an_answer_shows_only_its_new_value() -> None:
    step3 = Step(3, at(20, 3), ops=(op("child: write heap", 21, 3),))
    third = StepResult(step3, None, [], [],
                       {**OBS2, "child.heap.exclusive": 16, "parent.state": "blocked"})
    result = results()
    result = ScenarioResult(scenario(STEP1, STEP2, step3), "sim", [*result.steps, third])
    hidden = render_scenario(result, Style(False), show_answers=False)
    assert "· child.heap: exclusive 16" in hidden and "0 → 16" not in hidden
    assert "· parent: state \"running\" → \"blocked\"" in hidden
    shown = render_scenario(result, Style(False), show_answers=True)
    assert "· child.heap: exclusive 0 → 16" in shown


def test_text_report_colours_when_asked_but_keeps_symbols() -> None:
    text = render_scenario(results(), Style(True))
    assert "\x1b[31m✗\x1b[0m" in text and "✓" in text


def test_text_report_shows_what_each_step_changed() -> None:
    text = render_scenario(results(), Style(False))
    assert "· parent.heap: exclusive 16 → 0" in text
    assert "· child: state \"running\"" in text


def test_text_report_of_a_language_error_shows_ops_before_it_and_its_position() -> None:
    err = ScenarioError("'child' has ended; it can run no more ops", at(14, 2, col=3))
    text = render_scenario(results(err), Style(False))
    assert "step 2  fork" in text
    assert "parent: fork -> child" not in text  # the failing op did not run
    assert "! demo.toml:14:3 (step 2): 'child' has ended" in text
    assert "stopped by an error" in text


def test_text_report_marks_simulator_only_steps() -> None:
    skipped = StepResult(STEP2, None, [], [], skipped=True)
    first = StepResult(STEP1, None, [], [], OBS1)
    text = render_scenario(ScenarioResult(scenario(STEP1, STEP2), "real", [first, skipped]),
                           Style(False))
    assert "– simulator-only: not run on the kernel" in text


def test_repeated_ops_from_one_line_are_shown_once_with_a_count() -> None:
    line = "repeat 3: parent: fork -> c"
    ops = tuple(Fork(actor=Actor("parent"), binds=(f"c_{i}",), where=at(7, 1, 11), text=line)
                for i in (1, 2, 3))
    step = Step(1, at(5, 1), ops=ops)
    text = render_scenario(ScenarioResult(scenario(step), "sim", [StepResult(step, None, [], [])]),
                           Style(False))
    assert text.count(line) == 1 and f"{line}  … ×3" in text


def test_observation_changes_list_new_changed_and_gone_keys() -> None:
    """An ended process's memory goes with it, unannounced; a live process's fd
    that goes is listed."""
    before = {"p.state": "running", "p.fds": [0, 1, 2], "p.heap.present": 0,
              "q.state": "running", "q.cloexec(3)": False}
    after = {"p.state": "zombie", "p.fds": [0, 1, 2], "c.state": "running",
             "c.errno": None, "c.sig_blocked": [], "q.state": "running"}
    assert observation_changes(before, after) == [
        'p: state "running" → "zombie"',
        'c: state "running"',
        "q: cloexec(3) gone",
    ]


def test_a_mapping_a_new_process_lacks_is_not_announced() -> None:
    after = {"c.state": "running", "c.heap.mapped": False, "c.heap.present": 0}
    assert observation_changes({}, after) == ['c: state "running"']


# --- JSON ---------------------------------------------------------------------------


def test_scenario_json_has_the_documented_shape_and_is_json() -> None:
    doc = scenario_json(results(), FILE)
    json.dumps(doc, allow_nan=False)
    assert {"id", "file", "ok", "error", "steps"} <= set(doc)
    assert doc["id"] == "demo" and doc["file"] == FILE and doc["ok"] is False
    assert doc["error"] is None
    step = doc["steps"][1]
    assert {"index", "line", "expectations", "answers", "observations"} <= set(step)
    assert step["index"] == 2 and step["line"] == 12
    exps = step["expectations"]
    assert exps[0] == {"text": "child.heap.exclusive == 16", "line": 15, "value": False,
                       "ok": False, "error": None}
    assert exps[1]["value"] == "unavailable" and exps[1]["ok"] is None
    assert step["answers"] == [{"q": "How many pages does the child own?",
                                "text": "child.heap.exclusive", "value": 0, "error": None}]
    assert step["observations"]["child.heap.exclusive"] == 0


def test_scenario_json_reports_a_language_error_with_its_position() -> None:
    err = ScenarioError("no such process", at(14, 2, col=3))
    doc = scenario_json(results(err), FILE)
    assert doc["ok"] is False
    assert doc["error"] == {"file": FILE, "line": 14, "col": 3, "step": 2,
                            "message": "no such process",
                            "text": "demo.toml:14:3 (step 2): no such process"}
