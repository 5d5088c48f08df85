"""verify's comparison and its text, JSON and JUnit output, on hand-made results."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from forklab.backend import Capabilities
from forklab.observe import UNAVAILABLE, ProcessObs, World
from forklab.report import Style
from forklab.runner import Judged, ScenarioResult, StepResult
from forklab.scenario.expr import check
from forklab.scenario.model import Actor, Expr, Scenario, ScenarioError, Step, Where
from forklab.scenario.ops import Fork, Op
from forklab.sim.cost import Tolerance
from forklab.verify import (ABSENT, TIMING_RUNS, compare, compare_value, junit_tree, render_text,
                            verdict_text, verify_json, verify_scenario, write_junit)

FILE = "demo.toml"


def at(line: int, step: int | None = None) -> Where:
    return Where(FILE, line, 1, step)


def op(text: str, line: int, step: int) -> Op:
    """An op as verify sees it (only the fake runs below act on it, by its text)."""
    return Fork(actor=Actor("parent"), binds=(), where=at(line, step), text=text)


STEPS = (
    Step(1, at(5, 1), ops=(op("parent: mmap heap 4p", 7, 1), op("parent: write heap", 8, 1))),
    Step(2, at(10, 2), ops=(op("parent: fork -> child", 12, 2),)),
)
OBS = {"stdout": "", "parent.state": "running", "parent.fds": [0, 1, 2],
       "parent.heap.present": 4}


def scenario(steps: tuple[Step, ...] = STEPS, real: bool = True, sid: str = "demo") -> Scenario:
    return Scenario(sid, "A demo", "summary", FILE, steps, real=real)


def judged(text: str, value: Any, ok: bool | None, **touched: Any) -> Judged:
    return Judged(text, 13, value, ok, touched=touched)


def result(backend: str, *observations: dict[str, Any], scn: Scenario | None = None,
           expectations: list[list[Judged]] | None = None, skipped: tuple[int, ...] = (),
           error: ScenarioError | None = None) -> ScenarioResult:
    scn = scn or scenario()
    steps = []
    for i, step in enumerate(scn.steps[:len(observations)]):
        if step.index in skipped:
            steps.append(StepResult(step, None, [], [], skipped=True))
            continue
        exps = expectations[i] if expectations else []
        steps.append(StepResult(step, None, exps, [], dict(observations[i])))
    return ScenarioResult(scn, backend, steps, error)


# --- the spawn_us tolerance ---------------------------------------------------------


SPREAD = Tolerance(low=0.8, high=1.6)  # one call: 0.8 to 1.6 times its median


@pytest.mark.parametrize("model, kernel, agrees", [
    (100.0, 100.0, True),
    (100.0, 199.0, True),     # up to 1.6 x 1.25 (the model's error) = 2.0
    (100.0, 201.0, False),
    (100.0, 65.0, True),      # down to 0.8 / 1.25 = 0.64
    (100.0, 63.0, False),
    (0.0, 5.0, False),
])
def test_spawn_us_agrees_within_the_measured_spread_widened_by_the_models_error(
        model: float, kernel: float, agrees: bool) -> None:
    assert compare_value("child.spawn_us", model, kernel, SPREAD) == (
        "agree" if agrees else "disagree")


# --- one value ----------------------------------------------------------------------


@pytest.mark.parametrize("model, kernel, status", [
    (4, 4, "agree"),
    (4, 5, "disagree"),
    (True, 1, "disagree"),
    (frozenset({"SIGINT"}), ["SIGINT"], "agree"),
    ([0, 1], [1, 0], "disagree"),
    (None, None, "agree"),
    (4, UNAVAILABLE, "unavailable"),
    (UNAVAILABLE, 4, "disagree"),
    (ABSENT, 4, "disagree"),
    (4, ABSENT, "disagree"),
])
def test_compare_value(model: Any, kernel: Any, status: str) -> None:
    assert compare_value("parent.heap.present", model, kernel) == status


def test_spawn_us_keys_compare_within_tolerance() -> None:
    assert compare_value("child.spawn_us", 150.0, 100.0, SPREAD) == "agree"
    assert compare_value("child.spawn_us", 1900.0, 100.0, SPREAD) == "disagree"
    assert compare_value("child.spawn_us", None, None) == "agree"
    assert compare_value("child.spawn_us", None, 100.0) == "disagree"
    assert compare_value("child.spawn_us", 100.0, UNAVAILABLE) == "unavailable"


# --- a scenario ---------------------------------------------------------------------


def test_equal_observations_agree() -> None:
    v = compare(result("sim", OBS, OBS), result("real", OBS, OBS), FILE)
    assert v.status == "agree" and v.ok
    assert v.compared and all(c.status == "agree" for c in v.compared)
    assert verdict_text(v) == "agree"


def test_a_different_value_is_a_disagreement_with_step_line_key_and_values() -> None:
    kernel = {**OBS, "parent.heap.present": 3}
    v = compare(result("sim", OBS, OBS), result("real", OBS, kernel), FILE)
    assert v.status == "disagree" and not v.ok
    [d] = v.disagreements
    assert (d.step, d.line, d.key, d.model, d.kernel) == (2, 12, "parent.heap.present", 4, 3)
    text = render_text([v], Style(False))
    assert text.splitlines()[0] == "✗ demo  1 disagreement"
    assert "✗ demo step 2, line 12: parent.heap.present" in text
    assert "model   4" in text and "kernel  3" in text


def test_a_step_without_ops_reports_its_own_line() -> None:
    steps = (Step(1, at(5, 1)),)
    scn = scenario(steps)
    v = compare(result("sim", OBS, scn=scn), result("real", {**OBS, "stdout": "x"}, scn=scn),
                FILE)
    assert v.disagreements[0].line == 5


def test_a_key_on_one_side_only_is_a_disagreement() -> None:
    kernel = {**OBS, "child.state": "running"}
    v = compare(result("sim", OBS), result("real", kernel), FILE)
    [d] = v.disagreements
    assert d.key == "child.state" and d.model is ABSENT and d.kernel == "running"
    doc = verify_json([v])
    [entry] = [c for c in doc["scenarios"][0]["steps"][0]["compared"] if c["key"] == "child.state"]
    assert entry == {"key": "child.state", "model": None, "kernel": "running",
                     "status": "disagree", "missing": "model"}


def test_unavailable_is_reported_never_agreement_and_not_a_failure() -> None:
    kernel = {**OBS, "parent.heap.present": UNAVAILABLE}
    v = compare(result("sim", OBS), result("real", kernel), FILE)
    assert v.status == "unavailable" and v.ok
    assert [c.key for c in v.unavailable] == ["parent.heap.present"]
    assert not v.disagreements
    assert verdict_text(v) == "agree where observable; 1 unavailable"
    text = render_text([v], Style(False))
    assert text.startswith("? demo")
    assert "parent.heap.present unavailable on the kernel (model 4)" in text


def test_an_unavailable_value_beside_a_disagreement_still_fails() -> None:
    kernel = {**OBS, "parent.heap.present": UNAVAILABLE, "stdout": "x"}
    v = compare(result("sim", OBS), result("real", kernel), FILE)
    assert v.status == "disagree" and not v.ok
    assert verdict_text(v) == "1 disagreement, 1 unavailable"


def test_why_values_are_unavailable_is_said_once_for_the_whole_report() -> None:
    key = "child.heap.shared_with(parent)"
    unknown = [[judged(f"{key} == 4", UNAVAILABLE, None, **{key: UNAVAILABLE})]]
    held = [[judged(f"{key} == 4", True, True, **{key: 4})]]
    hidden = {"shared_with": "frames are root's", "byte": "not read here"}
    verdicts = [compare(result("sim", OBS, scn=scenario(sid=sid), expectations=held),
                        result("real", OBS, scn=scenario(sid=sid), expectations=unknown), FILE)
                for sid in ("one", "two")]
    text = render_text(verdicts, Style(False), hidden)
    assert text.count(key) == 2  # one line per scenario's value, no "expectation unknown" too
    assert "expectation unknown" not in text
    assert text.count("frames are root's") == 1 and "not read here" not in text
    assert ("Not checked: 2 values in 2 scenarios that the kernel does not show this user"
            in text)
    assert "  shared_with: frames are root's" in text
    doc = verify_json(verdicts, hidden)
    assert doc["ok"] is True and doc["unavailable_because"] == {"shared_with": "frames are root's"}


def test_a_report_without_unavailable_values_has_no_note() -> None:
    v = compare(result("sim", OBS), result("real", OBS), FILE)
    assert "Not checked" not in render_text([v], Style(False), {"shared_with": "root's"})
    assert verify_json([v], {"shared_with": "root's"})["unavailable_because"] == {}


def test_observables_an_expression_touched_are_compared_too() -> None:
    key = "child.heap.shared_with(parent)"
    model = [[], [judged(f"{key} == 4", True, True, **{key: 4})]]
    kernel = [[], [judged(f"{key} == 4", True, True, **{key: 2})]]
    v = compare(result("sim", OBS, OBS, expectations=model),
                result("real", OBS, OBS, expectations=kernel), FILE)
    assert [(d.key, d.model, d.kernel) for d in v.disagreements] == [(key, 4, 2)]


def test_touched_spawn_us_within_tolerance_agrees() -> None:
    near = [[judged("child.spawn_us > 0", True, True, **{"child.spawn_us": 150.0})]]
    far = [[judged("child.spawn_us > 0", True, True, **{"child.spawn_us": 1900.0})]]
    kernel = [[judged("child.spawn_us > 0", True, True, **{"child.spawn_us": 100.0})]]
    assert compare(result("sim", OBS, expectations=near),
                   result("real", OBS, expectations=kernel), FILE).status == "agree"
    assert compare(result("sim", OBS, expectations=far),
                   result("real", OBS, expectations=kernel), FILE).status == "disagree"


def test_an_expectation_must_hold_on_both_sides() -> None:
    held = [[judged("parent.heap.present == 4", True, True, **{"parent.heap.present": 4})]]
    v = compare(result("sim", OBS, expectations=held),
                result("real", OBS, expectations=[[replace(held[0][0], value=False, ok=False)]]),
                FILE)
    assert v.status == "failed" and not v.ok
    assert verdict_text(v) == "expectation failed"
    assert "expectation failed on the kernel: parent.heap.present == 4" in render_text(
        [v], Style(False))


def test_an_expectation_failing_on_both_sides_counts_once() -> None:
    failed = [[judged("parent.heap.present == 5", False, False, **{"parent.heap.present": 4})]]
    v = compare(result("sim", OBS, expectations=failed),
                result("real", OBS, expectations=failed), FILE)
    assert verdict_text(v) == "expectation failed" and len(v.failed) == 2


def test_an_unavailable_expectation_is_unknown_not_held() -> None:
    unknown = [[judged("x == 1", UNAVAILABLE, None, x=UNAVAILABLE)]]
    held = [[judged("x == 1", True, True, x=1)]]
    v = compare(result("sim", OBS, expectations=held),
                result("real", OBS, expectations=unknown), FILE)
    assert v.status == "unavailable" and v.ok
    assert [u.judged.text for u in v.unknown] == ["x == 1"]
    assert verify_json([v])["scenarios"][0]["unknown"] == 1


def test_simulator_only_steps_are_not_compared() -> None:
    steps = (STEPS[0], replace(STEPS[1], real=False))
    scn = scenario(steps)
    v = compare(result("sim", OBS, {**OBS, "stdout": "model only"}, scn=scn),
                result("real", OBS, OBS, scn=scn, skipped=(2,)), FILE)
    assert v.status == "agree" and v.ok
    assert v.sim_only_steps == (2,)
    assert {c.step for c in v.compared} == {1}
    assert verdict_text(v) == "agree (1 sim-only step)"
    assert verify_json([v])["scenarios"][0]["steps"][1]["sim_only"] is True


def test_a_simulator_only_scenario_is_reported_as_such() -> None:
    scn = scenario(real=False)
    v = compare(result("sim", OBS, OBS, scn=scn), None, FILE)
    assert v.status == "sim-only" and v.ok
    assert render_text([v], Style(False)).startswith("– demo  sim-only")


def test_a_language_error_is_an_error() -> None:
    err = ScenarioError("no such process", at(12, 2))
    v = compare(result("sim", OBS, error=err), None, FILE)
    assert v.status == "error" and not v.ok
    assert verdict_text(v) == "error on the model: demo.toml:12:1 (step 2): no such process"
    assert render_text([v], Style(False)).startswith("! demo")


def test_text_lists_one_line_per_scenario_then_details_then_a_tally() -> None:
    good = compare(result("sim", OBS), result("real", OBS), FILE)
    bad = compare(result("sim", OBS, scn=scenario(sid="other")),
                  result("real", {**OBS, "stdout": "x"}, scn=scenario(sid="other")), FILE)
    lines = render_text([good, bad], Style(False)).splitlines()
    assert lines[0] == "✓ demo   agree"
    assert lines[1] == "✗ other  1 disagreement"
    assert lines[-1] == "2 scenarios: 1 agree, 1 disagree"


def test_verify_json_carries_both_values_of_every_compared_observable() -> None:
    model = [[judged("parent.heap.present == 4", True, True, **{"parent.heap.present": 4})]]
    v = compare(result("sim", OBS, expectations=model),
                result("real", {**OBS, "parent.fds": UNAVAILABLE}, expectations=model), FILE)
    doc = json.loads(json.dumps(verify_json([v]), allow_nan=False))
    assert doc["ok"] is True
    scn = doc["scenarios"][0]
    assert scn["id"] == "demo" and scn["status"] == "unavailable" and scn["unavailable"] == 1
    step = scn["steps"][0]
    assert step["expectations"] == [{
        "text": "parent.heap.present == 4", "line": 13,
        "model": {"value": True, "ok": True, "error": None},
        "kernel": {"value": True, "ok": True, "error": None}}]
    fds = next(c for c in step["compared"] if c["key"] == "parent.fds")
    assert fds == {"key": "parent.fds", "model": [0, 1, 2], "kernel": "unavailable",
                   "status": "unavailable", "missing": None}


# --- JUnit XML ----------------------------------------------------------------------


def test_junit_has_one_suite_and_one_case_per_scenario(tmp_path: Path) -> None:
    good = compare(result("sim", OBS), result("real", OBS), FILE)
    bad = compare(result("sim", OBS, scn=scenario(sid="bad")),
                  result("real", {**OBS, "stdout": "\x1b[1m\x00"}, scn=scenario(sid="bad")),
                  FILE)
    only = compare(result("sim", OBS, scn=scenario(real=False, sid="whatif")), None, FILE)
    broken = compare(result("sim", scn=scenario(sid="broken"),
                            error=ScenarioError("oops\x07", at(7, 1))), None, FILE)
    hidden = compare(result("sim", OBS, scn=scenario(sid="hidden")),
                     result("real", {**OBS, "parent.fds": UNAVAILABLE},
                            scn=scenario(sid="hidden")), FILE)
    path = tmp_path / "junit.xml"
    write_junit([good, bad, only, broken, hidden], path)
    root = ET.parse(path).getroot()
    [suite] = root.iter("testsuite")
    assert suite.get("tests") == "5" and suite.get("failures") == "1"
    assert suite.get("errors") == "1" and suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["demo", "bad", "whatif", "broken", "hidden"]
    assert cases["hidden"].find("failure") is None
    out = cases["hidden"].find("system-out")
    assert out is not None and "parent.fds unavailable on the kernel" in (out.text or "")
    assert len(cases["demo"]) == 0
    failure = cases["bad"].find("failure")
    assert failure is not None and failure.get("message") == "1 disagreement"
    assert "stdout" in (failure.text or "") and "\\u0000" in (failure.text or "")
    assert cases["whatif"].find("skipped") is not None
    error = cases["broken"].find("error")
    assert error is not None and "demo.toml:7:1 (step 1): oops\\x07" in (error.get("message") or "")


def test_junit_tree_is_an_element_tree() -> None:
    tree = junit_tree([])
    assert tree.getroot().tag == "testsuites"


# --- running both backends ----------------------------------------------------------

WORLD = World({"parent": ProcessObs("parent", "running", fds=(0, 1, 2))}, "", {},
              frozenset(), queries=None)  # type: ignore[arg-type]


class FakeRun:
    def __init__(self, stdout: str) -> None:
        self.stdout = stdout

    def apply(self, op: Op) -> None:
        if op.text == "parent: boom":
            raise ScenarioError("the language refuses this", op.where)

    def observe(self) -> World:
        return replace(WORLD, stdout=self.stdout)

    def close(self) -> None:
        pass

    def __enter__(self) -> "FakeRun":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class FakeBackend:
    def __init__(self, name: str, stdout: str = "") -> None:
        self.name = name
        self.capabilities = Capabilities(sim_only_verbs=name == "sim")
        self.stdout = stdout
        self.started = 0

    def start(self, scenario: Scenario) -> FakeRun:
        self.started += 1
        return FakeRun(self.stdout)


def test_verify_scenario_runs_both_and_compares() -> None:
    sim, real = FakeBackend("sim"), FakeBackend("real", stdout="kernel")
    v = verify_scenario(scenario(), FILE, sim, real)
    assert (sim.started, real.started) == (1, 1)
    assert [(d.step, d.key) for d in v.disagreements] == [(1, "stdout"), (2, "stdout")]


def test_a_model_error_means_the_kernel_never_runs() -> None:
    steps = (STEPS[0], Step(2, at(10, 2), ops=(op("parent: boom", 11, 2),)))
    sim, real = FakeBackend("sim"), FakeBackend("real")
    v = verify_scenario(scenario(steps), FILE, sim, real)
    assert v.status == "error" and real.started == 0 and v.real is None


def test_a_simulator_only_scenario_never_runs_on_the_kernel() -> None:
    sim, real = FakeBackend("sim"), FakeBackend("real")
    v = verify_scenario(scenario(real=False), FILE, sim, real)
    assert v.status == "sim-only" and real.started == 0


def test_an_error_starting_a_backend_is_reported_not_raised() -> None:
    class Refusing(FakeBackend):
        def start(self, scenario: Scenario) -> FakeRun:
            raise ScenarioError("the scenario needs more memory than is free")

    v = verify_scenario(scenario(), FILE, FakeBackend("sim"), Refusing("real"))
    assert v.status == "error"
    assert verdict_text(v) == ("error on the kernel: demo.toml: the scenario needs more "
                               "memory than is free")


class TimedRun(FakeRun):
    def __init__(self, spawn_us: float) -> None:
        super().__init__("")
        self.spawn_us = spawn_us

    def observe(self) -> World:
        child = ProcessObs("child", "running", spawn_us=self.spawn_us)
        return replace(WORLD, processes={**WORLD.processes, "child": child})


class TimedBackend(FakeBackend):
    """Reports the next creation time from a list each time a run starts."""

    def __init__(self, name: str, times: list[float]) -> None:
        super().__init__(name)
        self.times = times

    def start(self, scenario: Scenario) -> FakeRun:
        self.started += 1
        return TimedRun(self.times[min(self.started, len(self.times)) - 1])


def timed_scenario() -> Scenario:
    check = check_expr("child.spawn_us > 0")
    return scenario((Step(1, at(5, 1), ops=(op("parent: fork -> child", 6, 1),),
                          expect=(check,)),))


def check_expr(text: str) -> Expr:
    return check(text, at(7, 1), {"parent": "process", "child": "process"})


def test_a_timing_outlier_is_measured_again_and_the_agreeing_run_stands() -> None:
    sim, real = TimedBackend("sim", [100.0]), TimedBackend("real", [5000.0, 110.0])
    v = verify_scenario(timed_scenario(), FILE, sim, real)
    assert real.started == 2 and v.status == "agree"


def test_timing_that_never_agrees_is_a_disagreement_after_every_run() -> None:
    sim, real = TimedBackend("sim", [100.0]), TimedBackend("real", [5000.0])
    v = verify_scenario(timed_scenario(), FILE, sim, real)
    assert real.started == TIMING_RUNS == 5 and v.status == "disagree"
    assert [d.key for d in v.disagreements] == ["child.spawn_us"]


def test_other_disagreements_are_not_measured_again() -> None:
    sim, real = FakeBackend("sim"), FakeBackend("real", stdout="kernel")
    verify_scenario(scenario(), FILE, sim, real)
    assert real.started == 1


def test_the_tolerance_verify_is_given_decides_a_measured_time() -> None:
    sim, real = TimedBackend("sim", [100.0]), TimedBackend("real", [180.0])
    wide = verify_scenario(timed_scenario(), FILE, sim, real, Tolerance(0.9, 1.5))  # to 1.875
    assert wide.status == "agree" and real.started == 1
    narrow = verify_scenario(timed_scenario(), FILE, sim, TimedBackend("real", [180.0]),
                             Tolerance(0.9, 1.3))  # to 1.625
    assert narrow.status == "disagree"


class TwoTimedRun(FakeRun):
    def __init__(self, times: tuple[float, float]) -> None:
        super().__init__("")
        self.times = times

    def observe(self) -> World:
        a = ProcessObs("a", "running", spawn_us=self.times[0])
        b = ProcessObs("b", "running", spawn_us=self.times[1])
        return replace(WORLD, processes={**WORLD.processes, "a": a, "b": b})


class TwoTimedBackend(FakeBackend):
    def __init__(self, name: str, runs: list[tuple[float, float]]) -> None:
        super().__init__(name)
        self.runs = runs

    def start(self, scenario: Scenario) -> FakeRun:
        self.started += 1
        return TwoTimedRun(self.runs[min(self.started, len(self.runs)) - 1])


def two_timed_scenario(expect: str = "a.spawn_us > 0 and b.spawn_us > 0") -> Scenario:
    names = {"parent": "process", "a": "process", "b": "process"}
    return scenario((Step(1, at(5, 1), ops=(op("parent: fork -> a", 6, 1),),
                          expect=(check(expect, at(7, 1), names),)),))


def test_each_time_agrees_once_one_of_its_measurements_did() -> None:
    """a agrees in the first run, b only in the second: both have agreed; the
    verdict shows the measurement that agreed."""
    sim = TwoTimedBackend("sim", [(100.0, 100.0)])
    real = TwoTimedBackend("real", [(110.0, 900.0), (900.0, 120.0)])
    v = verify_scenario(two_timed_scenario(), FILE, sim, real, SPREAD)
    assert real.started == 2 and v.status == "agree"
    kernel = {c.key: c.kernel for c in v.compared if c.key.endswith("spawn_us")}
    assert kernel == {"a.spawn_us": 110.0, "b.spawn_us": 120.0}


def test_an_expectation_on_measured_times_that_fails_on_the_kernel_is_measured_again() -> None:
    sim = TwoTimedBackend("sim", [(100.0, 300.0)])
    real = TwoTimedBackend("real", [(100.0, 90.0), (100.0, 290.0)])
    v = verify_scenario(two_timed_scenario("b.spawn_us > 2 * a.spawn_us"), FILE, sim, real,
                        Tolerance(0.3, 3.0))
    assert real.started == 2 and v.status == "agree"


def test_an_expectation_that_reads_no_time_is_not_measured_again() -> None:
    sim = TwoTimedBackend("sim", [(100.0, 100.0)])
    real = TwoTimedBackend("real", [(100.0, 100.0)])
    v = verify_scenario(two_timed_scenario("a.state == 'zombie'"), FILE, sim, real, SPREAD)
    assert real.started == 1 and v.status == "failed"
