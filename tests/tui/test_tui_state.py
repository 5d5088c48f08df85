"""The lesson session, answers, the sandbox, the kernel check and progress: no Textual."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from scenario_text import scenario_text
from tuikit import lesson_files, lying_kernel, model_kernel, no_kernel

from forklab import lessons
from forklab.observe import UNAVAILABLE
from forklab.scenario.parse import parse_text
from forklab.sim.calibration import SHIPPED
from forklab.tui.progress import Progress, default_path
from forklab.tui.state import (
    LessonSession,
    check_on_kernel,
    find_lesson,
    load_catalog,
    load_lesson,
    parse_answer,
    real_kernel,
    same_answer,
    show_value,
)


def session(name: str) -> LessonSession:
    return LessonSession(load_lesson(lesson_files(name)[0]))


# --- stepping and time travel ---------------------------------------------------------------


def test_a_session_starts_before_the_first_step():
    s = session("cow")
    assert (s.position, s.executed, s.total) == (0, 0, 4)
    assert s.step is None and s.frame.result is None
    assert list(s.world.processes) == ["parent"]


def test_forward_runs_each_step_once_and_back_shows_the_world_as_it_was():
    s = session("cow")
    for _ in range(4):
        assert s.forward() is None
    assert s.forward() == "this is the last step"
    assert s.executed == 4 and s.finished
    # time travel: step 2's World still answers queries as at step 2
    s.goto(2)
    world = s.world
    assert world.queries.shared_with("child", "heap", "parent") == 4096
    assert world.processes["child"].state == "running"
    assert s.frame.result.expectations and all(j.ok for j in s.frame.result.expectations)
    s.goto(4)
    assert s.world.processes["child"].state == "reaped"
    s.goto(2)
    assert s.world is world  # the same snapshot, not a re-run
    assert s.executed == 4


def test_back_at_the_start_is_refused():
    s = session("cow")
    assert s.back() == "this is the start of the lesson"
    s.forward()
    assert s.back() is None and s.position == 0


def test_goto_runs_what_is_missing():
    s = session("fd-leak")
    s.goto(3)
    assert (s.position, s.executed) == (3, 3)
    assert s.world.processes["parent"].state == "blocked"
    s.goto(99)
    assert s.position == s.total


def test_a_step_the_model_refuses_halts_the_lesson(tmp_path: Path):
    path = tmp_path / "halt.toml"
    path.write_text(scenario_text("parent: vfork -> child", "parent: write heap",
                                  "child: exit", sid="halt"), encoding="utf-8")
    path.write_text(path.read_text().replace("parent: write heap", "parent: exit"))
    s = LessonSession(load_lesson(path))
    assert s.forward() is None
    assert s.forward() is None  # the suspended parent cannot act: a language error
    assert s.frame.error is not None and "suspended" in s.frame.error.message
    assert s.halted is s.frame.error
    assert "stopped" in (s.forward() or "")


def test_names_at_a_step_are_those_bound_so_far():
    s = session("fd-leak")
    assert s.names_at(0) == {"parent": "process"}
    assert s.names_at(1) == {"parent": "process", "r": "fd", "w": "fd", "child": "process"}
    assert "worker" in s.names_at(5) and "worker" not in s.names_at(4)


# --- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("0x10", 16), ("'hello'", "hello"), ('"hello"', "hello"),
    ("{'SIGINT'}", {"SIGINT"}), ("{SIGINT, SIGUSR1}", {"SIGINT", "SIGUSR1"}),
    ("set()", set()), ("None", None), ("True", True), ("running", "running"),
    ("[0, 1, 2, r]", [0, 1, 2, 3]), ("r", 3), ("[0,1]", [0, 1]),
])
def test_answers_are_parsed_as_literals(text, value):
    assert parse_answer(text, {"r": 3}) == value


@pytest.mark.parametrize("text", ["", "   ", "{", "1 +", "__import__('os')", "x" * 2000],
                         ids=["empty", "blank", "brace", "operator", "call", "long"])
def test_what_is_no_value_is_refused(text):
    with pytest.raises(ValueError):
        parse_answer(text)


@pytest.mark.parametrize("given, right, same", [
    (0, 0, True), (1, 0, False), (True, 1, False), (1, True, False), (4096, 4096.0, True),
    (["SIGINT"], frozenset({"SIGINT"}), True), ({"SIGINT"}, frozenset({"SIGINT"}), True),
    (set(), frozenset(), True), ([0, 1, 2], [0, 1, 2], True), ([0, 2, 1], [0, 1, 2], False),
    ("0", 0, False), (None, None, True), ("running", "running", True),
])
def test_same_answer(given, right, same):
    assert same_answer(given, right) is same


def test_answering_checks_against_the_value_the_model_computed():
    s = session("quiz")
    s.forward()
    assert s.current_question() == 0
    wrong = s.answer(0, "{'SIGUSR1'}")
    assert not wrong.right and wrong.attempts == 1
    assert wrong.expected == frozenset({"SIGINT"})
    right = s.answer(0, "{SIGINT}")
    assert right.right and right.attempts == 2
    assert s.current_question() == 1
    assert s.answer(1, "[0, 1, 2, 3, 4]").right
    assert s.answer(1, "[0, 1, 2, r, w]").right  # fd names stand for their numbers
    assert s.current_question() == 0  # all solved: back to the first
    with pytest.raises(ValueError):
        s.answer(0, "{")
    assert s.answers[(1, 0)].text == "{SIGINT}"  # a refused answer records nothing


def test_hints():
    s = session("quiz")
    s.forward()
    assert s.hint(0) == "It is blocked."
    assert s.hint(1) is None
    assert s.hints == {(1, 0), (1, 1)}
    s.forward()
    assert s.current_question() is None and s.hint(0) is None


def test_show_value():
    assert show_value(frozenset({"B", "A"})) == "{'A', 'B'}"
    assert show_value(frozenset()) == "set()"
    assert show_value([1, "x"]) == "[1, 'x']"
    assert show_value(UNAVAILABLE) == "unavailable"
    assert show_value("x" * 500, 10).endswith("…")


# --- the sandbox ----------------------------------------------------------------------------


def test_the_sandbox_runs_lines_on_a_copy_and_never_touches_the_lesson():
    s = session("cow")
    s.goto(2)
    before = s.world.processes["child"].faults
    box = s.sandbox()
    line = box.enter("child: write heap[0:3p]")
    assert line.ok and line.ops == 1
    assert box.world.processes["child"].mappings["heap"].exclusive == 3
    assert box.world.processes["child"].faults == 3  # faults count from the sandbox's start
    assert s.world.processes["child"].mappings["heap"].exclusive == 0
    assert s.world.processes["child"].faults == before
    s.goto(3)  # the lesson goes on as written
    assert s.world.processes["child"].mappings["heap"].exclusive == 7


MUTEX_LESSON = """
id = "mutex-handover"
title = "A thread hands a mutex over"
summary = "t1 holds m, the main thread waits for it, gets it, lets it go, takes it again."

[[step]]
do = '''
parent: thread -> t1
parent/t1: lock m
parent: lock m
'''
expect = ["parent.state == 'blocked'"]

[[step]]
do = "parent/t1: unlock m"
expect = ["parent.state == 'running'"]

[[step]]
do = "parent: unlock m"

[[step]]
do = "parent: lock m"
expect = ["parent.state == 'running'"]
"""


def test_a_sandbox_at_an_earlier_step_does_not_wake_the_lesson_s_waiters():
    """The sandbox's copy of step 1 has parent waiting for m; a line there settles the
    copy, and the copy's waiter must take the copy's mutex, not the live one (which
    step 3 left free, and which step 4 then could not take)."""
    s = LessonSession(parse_text(MUTEX_LESSON, "mutex-handover.toml"))
    for _ in range(3):
        assert s.forward() is None
    s.back()
    s.back()
    assert s.position == 1 and s.world.processes["parent"].state == "blocked"
    box = s.sandbox()
    assert box.enter('parent/t1: printf "x"').ok
    assert box.world.processes["parent"].state == "blocked"  # t1 still holds m in the copy
    s.goto(3)
    assert s.forward() is None  # step 4 runs now, on the lesson's own model
    assert [(j.text, j.ok) for j in s.frame.result.expectations] == [
        ("parent.state == 'running'", True)]


def test_sandbox_errors_name_the_column_and_change_nothing():
    s = session("cow")
    s.goto(2)
    box = s.sandbox()
    bad = box.enter("parent: frok -> c2")
    assert not bad.ok and bad.col == 9 and "unknown verb 'frok'" in bad.message
    unknown = box.enter("ghost: exit")
    assert not unknown.ok and unknown.col == 1
    assert box.enter("child: exit").ok
    dead = box.enter("child: write heap")  # the language refuses: child has ended
    assert not dead.ok and "ended" in dead.message
    assert box.enter("parent: fork -> c2").ok
    again = box.enter("parent: fork -> c2")
    assert not again.ok and "already bound" in again.message
    assert [line.ok for line in box.history] == [False, False, True, False, True, False]


def test_sandbox_binds_names_and_maps_new_mappings():
    s = session("cow")
    s.goto(1)
    box = s.sandbox()
    assert box.enter("parent: mmap extra 1MiB").ok
    assert box.enter("parent: write extra").ok
    assert box.world.processes["parent"].mappings["extra"].present == 256
    assert box.world.processes["parent"].vm_pte > s.world.processes["parent"].vm_pte
    assert box.enter("repeat 2: parent: fork -> kid").ok
    assert {"kid_1", "kid_2"} <= set(box.world.processes)


def test_sandbox_evaluates_expressions():
    s = session("cow")
    s.goto(2)
    box = s.sandbox()
    assert box.enter("= child.heap.shared_with(parent)").message == "= 4096"
    assert box.enter("=len(processes)").message == "= 2"
    bad = box.enter("= child.heap.nope")
    assert not bad.ok and bad.col == "= child.heap.nope".index("nope") + 1
    blank = box.enter("   # nothing")
    assert blank.ok and blank.ops == 0


# --- the kernel -----------------------------------------------------------------------------


def test_a_kernel_that_agrees():
    s = session("cow")
    s.goto(3)
    check = check_on_kernel(s.scenario, s.frame.result, model_kernel, threading.Event())
    assert check.ran and check.position == 3
    assert check.count("disagree") == 0 and check.count("unavailable") == 0
    assert check.count("agree") > 20
    assert check.status("child.heap.shared_with(parent)") == "agree"
    assert [j.ok for j in check.expectations] == [True] * 6


def test_a_kernel_that_disagrees_and_hides_frames():
    s = session("cow")
    s.goto(2)
    check = check_on_kernel(s.scenario, s.frame.result, lying_kernel, threading.Event())
    assert check.ran
    assert check.status("parent.faults") == "disagree"
    assert check.status("child.heap.shared_with(parent)") == "unavailable"
    assert check.status("stdout") == "agree"


def test_the_kernel_check_compares_spawn_us_with_the_tolerance_it_is_given():
    """A 'kernel' whose fork costs 3 times the model's: outside the shipped band's
    reach only when the tolerance measured here says so."""
    from forklab.sim import SimBackend
    from forklab.sim.cost import DEFAULTS, Tolerance

    slow = {**DEFAULTS, "fork": replace(DEFAULTS["fork"], base=3 * DEFAULTS["fork"].base,
                                        regime=0.0, cold=0.0)}
    model = {**DEFAULTS, "fork": replace(DEFAULTS["fork"], regime=0.0, cold=0.0)}
    scenario = parse_text('id = "f"\ntitle = "t"\nsummary = "s"\n[[step]]\n'
                          'do = "parent: fork -> child"\nexpect = ["child.spawn_us > 0"]\n', "f")
    s = LessonSession(scenario, replace(SHIPPED, coefficients=model))
    s.forward()
    kernel = lambda _cancel: (SimBackend(slow), "")  # noqa: E731
    tight = Tolerance(low=0.9, high=1.1, error=0.25, resolution_us=0.0)
    wide = Tolerance(low=0.9, high=3.0, error=0.25, resolution_us=0.0)
    assert check_on_kernel(scenario, s.frame.result, kernel, threading.Event(),
                           tight).status("child.spawn_us") == "disagree"
    assert check_on_kernel(scenario, s.frame.result, kernel, threading.Event(),
                           wide).status("child.spawn_us") == "agree"


def test_no_kernel_says_why():
    s = session("cow")
    s.forward()
    check = check_on_kernel(s.scenario, s.frame.result, no_kernel, threading.Event())
    assert not check.ran
    assert check.reason == "the kernel backend is unavailable: not built on this test machine"


def test_a_simulator_only_step_is_not_run_on_the_kernel():
    s = session("big")
    s.forward()
    check = check_on_kernel(s.scenario, s.frame.result, model_kernel, threading.Event())
    assert not check.ran and "simulator-only" in check.reason


def test_a_kernel_that_fails_is_reported_not_raised():
    class Broken:
        name = "real"

        def start(self, scenario):
            raise OSError("no probe")

    s = session("cow")
    s.forward()
    check = check_on_kernel(s.scenario, s.frame.result, lambda _cancel: (Broken(), ""),
                            threading.Event())
    assert not check.ran and "OSError: no probe" in check.reason


def test_the_real_kernel_factory_never_raises():
    backend, why = real_kernel(threading.Event())
    assert (backend is None) == bool(why)


# --- the catalog and progress --------------------------------------------------------------


def test_a_broken_lesson_is_listed_with_its_error():
    entries = load_catalog(lesson_files())
    broken = find_lesson(entries, "broken")
    assert broken is not None and broken.scenario is None
    assert "unknown verb 'frok'" in broken.summary
    assert find_lesson(entries, "cow").title.startswith("Copy-on-write")
    assert find_lesson(entries, "nosuch") is None


def test_every_lesson_of_the_catalog_plays_to_its_end_and_every_panel_draws():
    from forklab.tui import views

    for entry in load_catalog(lessons.catalog()):
        assert entry.scenario is not None, entry.error
        s = LessonSession(entry.scenario)
        s.goto(s.total)
        assert s.finished, (entry.id, s.halted)
        for position in range(s.total + 1):
            s.goto(position)
            views.panels(s.world, s.scenario.first)
            assert views.lesson_markdown(s)
            box = s.sandbox()
            assert box.enter("= processes").ok


def test_progress_round_trips(tmp_path: Path):
    path = tmp_path / "p" / "progress.json"
    p = Progress(path)
    p.reached("cow", 2, 4)
    p.answered("cow", 2, 0, "1", False)
    p.answered("cow", 2, 0, "0", True)
    p.answered("cow", 2, 0, "2", False)  # a later wrong try keeps the right answer
    p.answered("cow", 3, 0, "5", False)
    p.answered("cow", 3, 0, "6", False, revealed=True)
    p.hinted("cow", 2, 0)
    p.hinted("cow", 2, 0)
    p.reached("cow", 3, 4)
    p.reached("cow", 1, 4)  # went back
    assert not p.completed("cow")
    again = Progress(path)
    mine = again.of("cow")
    assert (mine.furthest, mine.at) == (3, 1)
    assert mine.answers == {"2.1": True, "3.1": False}
    assert mine.solved() == {(2, 0): "0"} and mine.shown() == {(3, 0)}
    assert mine.hints == ["2.1"]
    again.reached("cow", 4, 4)
    assert Progress(path).completed("cow")
    assert json.loads(path.read_text())["version"] == 1


def test_progress_survives_a_bad_file(tmp_path: Path):
    path = tmp_path / "progress.json"
    path.write_text("{not json")
    p = Progress(path)
    assert p.lessons == {} and "not valid JSON" in (p.error or "")
    path.write_text("[" * 100_000)  # deeper than the JSON parser recurses
    p = Progress(path)
    assert p.lessons == {} and "not valid JSON" in (p.error or "")
    path.write_text(json.dumps({"lessons": {"cow": {
        "furthest": "x", "at": -1, "completed": 1, "answers": {"2.1": True, "x.1": True},
        "given": ["0"], "revealed": ["3.0", "3.1", 7], "hints": {}}}}))
    p = Progress(path)
    mine = p.of("cow")
    assert (mine.furthest, mine.at) == (0, 0) and not p.completed("cow")
    assert mine.solved() == {(2, 0): ""} and mine.shown() == {(3, 0)}


def test_progress_that_cannot_be_saved_costs_nothing_else(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    p = Progress(blocker / "progress.json")  # its directory is a file
    p.reached("cow", 1, 4)
    assert p.error and "cannot save" in p.error
    assert p.of("cow").furthest == 1


def test_progress_lives_in_the_xdg_state_directory(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_path() == tmp_path / "forklab" / "progress.json"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/dir")  # not absolute: ignored, as XDG says
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_path() == tmp_path / ".local" / "state" / "forklab" / "progress.json"


def test_sixty_four_gibibytes_stay_fast():
    start = time.perf_counter()
    s = session("big")
    s.goto(s.total)
    assert s.finished
    assert time.perf_counter() - start < 5
