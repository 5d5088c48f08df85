"""Run a scenario on the model and on the kernel, and say where they differ.

docs/commands.md ("What is compared") is the rule: after every step both backends' default
observations, and every observable the step's expressions read, must be equal
(``spawn_us`` within the tolerance measured on this machine), and every expectation must
hold on both. An observable the kernel cannot show is *unavailable*: reported,
and never counted as agreement. The result is a :class:`Verdict` per scenario,
rendered here as text, JSON or JUnit XML.

An unavailable value is not a failure either: a scenario that agrees wherever the
kernel lets this user look passes, and the report says once which values were
not checked and why (docs/commands.md, "What an unprivileged user can check").
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from forklab.backend import Backend
from forklab.observe import UNAVAILABLE
from forklab.report import (
    ERROR,
    FAILED,
    HELD,
    SKIPPED,
    UNKNOWN,
    Style,
    error_json,
    error_text,
    json_safe,
    judged_detail,
    step_line,
    value_text,
)
from forklab.runner import Judged, ScenarioResult, StepHook, StepResult, run_scenario
from forklab.scenario.model import Scenario, ScenarioError
from forklab.sim.calibration import SHIPPED
from forklab.sim.cost import Tolerance


class _Absent:
    """The value of a key that one backend did not report at all."""

    def __repr__(self) -> str:
        return "absent"


ABSENT: Any = _Absent()

Status = Literal["agree", "disagree", "unavailable"]
SIDE = {"sim": "model", "real": "kernel"}


def run_guarded(backend: Backend, scenario: Scenario, on_step: StepHook | None = None
                ) -> ScenarioResult:
    """run_scenario, with a language error from starting or observing recorded too."""
    done: list[StepResult] = []

    def hook(step: StepResult) -> None:
        done.append(step)
        if on_step is not None:
            on_step(step)

    try:
        return run_scenario(backend, scenario, hook)
    except ScenarioError as err:
        return ScenarioResult(scenario, backend.name, done, error=err)


_SCALARS = frozenset({int, str, float, type(None)})


def _same(model: Any, kernel: Any) -> bool:
    """Equality that keeps True apart from 1 and a set equal to its sorted list."""
    if type(model) is type(kernel) and type(model) in _SCALARS:  # most values: plain ==
        return bool(model == kernel)
    if isinstance(model, bool) or isinstance(kernel, bool):
        return type(model) is type(kernel) and model == kernel
    if isinstance(model, (set, frozenset)) or isinstance(kernel, (set, frozenset)):
        return json_safe(model) == json_safe(kernel)
    if isinstance(model, (list, tuple)) and isinstance(kernel, (list, tuple)):
        return len(model) == len(kernel) and all(map(_same, model, kernel))
    if isinstance(model, dict) and isinstance(kernel, dict):
        return model.keys() == kernel.keys() and all(_same(model[k], kernel[k]) for k in model)
    return model == kernel


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _timed(key: str) -> bool:
    return key.rpartition(".")[2] == "spawn_us"


def compare_value(key: str, model: Any, kernel: Any,
                  tolerance: Tolerance = SHIPPED.tolerance) -> Status:
    """How one observable compares; ABSENT marks a side that did not report it. A
    spawn_us agrees within the tolerance: the spread of one call on this machine."""
    if kernel is UNAVAILABLE:
        return "unavailable"
    if model is ABSENT or kernel is ABSENT or model is UNAVAILABLE:
        return "disagree"
    if _timed(key) and _is_number(model) and _is_number(kernel):
        return "agree" if tolerance.agrees(model, kernel) else "disagree"
    return "agree" if _same(model, kernel) else "disagree"


@dataclass(frozen=True)
class Compared:
    """One observable after one step, on both backends."""

    step: int
    line: int  # the script line of the step's last op (or the step's own line)
    key: str
    model: Any
    kernel: Any
    status: Status


@dataclass(frozen=True)
class Unheld:
    """An expectation that failed (ok False) or could not be judged (ok None) on one side."""

    backend: str
    step: int
    judged: Judged


def _seen(done: StepResult) -> dict[str, Any]:
    """Everything a step showed: the default set plus what its expressions read."""
    seen = dict(done.observations)
    for judged in [*done.expectations, *done.answers]:
        seen.update(judged.touched)
    return seen


def compare_step(model: StepResult, kernel: StepResult,
                 tolerance: Tolerance = SHIPPED.tolerance) -> list[Compared]:
    """Every key either side showed after this step, compared."""
    model_seen, kernel_seen = _seen(model), _seen(kernel)
    line = step_line(model.step)
    return [
        Compared(model.step.index, line, key, m, k, compare_value(key, m, k, tolerance))
        for key in dict.fromkeys([*model_seen, *kernel_seen])
        for m, k in [(model_seen.get(key, ABSENT), kernel_seen.get(key, ABSENT))]
    ]


def _unheld(result: ScenarioResult) -> list[Unheld]:
    return [Unheld(result.backend, done.step.index, judged)
            for done in result.steps if not done.skipped
            for judged in done.expectations if judged.ok is not True]


@dataclass
class Verdict:
    """What verify found for one scenario."""

    scenario: Scenario
    file: str
    sim: ScenarioResult
    real: ScenarioResult | None  # None: not run (simulator-only, or the model failed)
    compared: list[Compared]
    unheld: list[Unheld]
    sim_only_steps: tuple[int, ...]

    @property
    def error(self) -> tuple[str, ScenarioError] | None:
        for result in (self.sim, self.real):
            if result is not None and result.error is not None:
                return result.backend, result.error
        return None

    @property
    def disagreements(self) -> list[Compared]:
        return [c for c in self.compared if c.status == "disagree"]

    @property
    def unavailable(self) -> list[Compared]:
        return [c for c in self.compared if c.status == "unavailable"]

    @property
    def failed(self) -> list[Unheld]:
        return [u for u in self.unheld if u.judged.ok is False]

    @property
    def unknown(self) -> list[Unheld]:
        return [u for u in self.unheld if u.judged.ok is None]

    @property
    def status(self) -> str:
        """error, disagree, failed, unavailable, sim-only or agree (worst first)."""
        if self.error is not None:
            return "error"
        if self.disagreements:
            return "disagree"
        if self.failed:
            return "failed"
        if self.unavailable or self.unknown:
            return "unavailable"
        if not self.scenario.real:
            return "sim-only"
        return "agree"

    @property
    def ok(self) -> bool:
        """No disagreement, failure or error: values the kernel hides do not count."""
        return self.status in ("agree", "sim-only", "unavailable")


def compare(sim: ScenarioResult, real: ScenarioResult | None, file: str,
            tolerance: Tolerance = SHIPPED.tolerance) -> Verdict:
    """The verdict on two runs of one scenario (``real`` None when it was not run)."""
    scenario = sim.scenario
    sim_only = tuple(s.index for s in scenario.steps if not (scenario.real and s.real))
    compared: list[Compared] = []
    unheld = _unheld(sim)
    if real is not None:
        model_steps = {done.step.index: done for done in sim.steps}
        for done in real.steps:
            if not done.skipped and done.step.index in model_steps:
                compared.extend(compare_step(model_steps[done.step.index], done, tolerance))
        unheld.extend(_unheld(real))
    return Verdict(scenario, file, sim, real, compared, unheld, sim_only)


TIMING_RUNS = 5
"""How often the kernel run is tried when only measured times disagree."""


def timing_only(verdict: Verdict) -> bool:
    """Whether everything wrong is a measured time: a spawn_us apart from the model's,
    or an expectation on the kernel that reads one (`a.spawn_us > 3 * b.spawn_us`)."""
    return bool(verdict.disagreements or verdict.failed) and all(
        _timed(c.key) for c in verdict.disagreements) and all(
        u.backend == "real" and any(_timed(key) for key in u.judged.touched)
        for u in verdict.failed)


def _with_agreed(verdict: Verdict, agreed: dict[tuple[int, str], Compared]) -> Verdict:
    """The verdict with each spawn_us that disagrees now, but agreed in an earlier
    run, shown as that run measured it."""
    compared = [agreed.get((c.step, c.key), c) if c.status == "disagree" else c
                for c in verdict.compared]
    return Verdict(verdict.scenario, verdict.file, verdict.sim, verdict.real, compared,
                   verdict.unheld, verdict.sim_only_steps)


def verify_scenario(scenario: Scenario, file: str, sim: Backend, real: Backend,
                    tolerance: Tolerance = SHIPPED.tolerance) -> Verdict:
    """Run the model, then (unless it failed or the scenario is model-only) the kernel.

    One creation call's latency is a single noisy measurement, and on a loaded
    machine one call in a run can be slowed by others. When the only problems
    are measured times, the kernel run is repeated, up to TIMING_RUNS times in
    all: a spawn_us agrees once one of its measurements fell within the
    tolerance (the band is not widened), and an expectation that relates
    measured times must hold within one run. Callers that have no calibration
    (the fuzzer, whose scenarios time nothing) get the shipped tolerance.
    """
    model = run_guarded(sim, scenario)
    if model.error is not None or not scenario.real:
        return compare(model, None, file, tolerance)
    verdict = compare(model, run_guarded(real, scenario), file, tolerance)
    agreed: dict[tuple[int, str], Compared] = {}
    for _ in range(TIMING_RUNS - 1):
        agreed.update({(c.step, c.key): c for c in verdict.compared
                       if c.status == "agree" and _timed(c.key)})
        if not timing_only(verdict):
            break
        verdict = _with_agreed(compare(model, run_guarded(real, scenario), file, tolerance),
                               agreed)
    return verdict


# --- text ------------------------------------------------------------------


def _distinct(unheld: list[Unheld]) -> int:
    """How many expectations these are (one failing on both sides counts once)."""
    return len({(u.step, u.judged.line, u.judged.text) for u in unheld})


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def verdict_text(v: Verdict) -> str:
    """The words of a scenario's one-line verdict."""
    if v.error is not None:
        backend, err = v.error
        return f"error on the {SIDE.get(backend, backend)}: {error_text(err, v.file)}"
    if v.status == "sim-only":
        return "sim-only"
    parts = []
    if v.disagreements:
        parts.append(_plural(len(v.disagreements), "disagreement"))
    failed = _distinct(v.failed)
    if failed:
        parts.append("expectation failed" if failed == 1 else f"{failed} expectations failed")
    if v.unavailable:
        parts.append(f"{len(v.unavailable)} unavailable")
    if v.sim_only_steps:
        parts.append(_plural(len(v.sim_only_steps), "sim-only step"))
    if v.status == "unavailable":
        return "agree where observable; " + ", ".join(parts)
    if v.status == "agree":
        return "agree" + (f" ({', '.join(parts)})" if parts else "")
    return ", ".join(parts)


def _mark(v: Verdict, style: Style) -> str:
    return {
        "error": style.bad(ERROR), "disagree": style.bad(FAILED), "failed": style.bad(FAILED),
        "unavailable": style.warn(UNKNOWN), "sim-only": style.dim(SKIPPED),
        "agree": style.good(HELD),
    }[v.status]


def summary_line(v: Verdict, style: Style, width: int = 0) -> str:
    return f"{_mark(v, style)} {v.scenario.id.ljust(width)}  {verdict_text(v)}"


def detail_lines(v: Verdict, style: Style) -> list[str]:
    """Each disagreement, failed expectation and unavailable value, by step. An
    expectation is unknown only because a value it read is unavailable: that value's
    line says it, once."""
    sid = v.scenario.id
    entries: list[tuple[int, int, list[str]]] = []
    for c in v.disagreements:
        entries.append((c.step, 0, [
            f"{style.bad(FAILED)} {sid} step {c.step}, line {c.line}: {style.bold(c.key)}",
            f"      model   {value_text(c.model)}",
            f"      kernel  {value_text(c.kernel)}"]))
    for u in v.failed:
        entries.append((u.step, 1, [
            f"{style.bad(FAILED)} {sid} step {u.step}, line {u.judged.line}: expectation "
            f"failed on the {SIDE.get(u.backend, u.backend)}: {u.judged.text}  → "
            f"{judged_detail(u.judged)}"]))
    for c in v.unavailable:
        entries.append((c.step, 2, [
            f"{style.warn(UNKNOWN)} {sid} step {c.step}, line {c.line}: {c.key} "
            f"unavailable on the kernel (model {value_text(c.model, 80)})"]))
    entries.sort(key=lambda entry: entry[:2])
    return [line for _, _, lines in entries for line in lines]


def tally(verdicts: list[Verdict]) -> str:
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    parts = [f"{n} {status}" for status, n in counts.items()]
    return f"{_plural(len(verdicts), 'scenario')}: {', '.join(parts)}"


def observable_name(key: str) -> str:
    """The observable a compared key reads: ``child.heap.shared_with(parent)`` →
    ``shared_with``."""
    return key.partition("(")[0].rpartition(".")[2]


def unavailable_names(verdicts: list[Verdict]) -> list[str]:
    """The observables that came back unavailable, in the order first met."""
    return list(dict.fromkeys(observable_name(c.key) for v in verdicts for c in v.unavailable))


def unavailable_note(verdicts: list[Verdict], hidden: Mapping[str, str]) -> list[str]:
    """Once for the whole report: how many values were not checked, which
    observables they are and why the kernel hides them from this user."""
    values = sum(len(v.unavailable) for v in verdicts)
    if not values:
        return []
    scenarios = sum(1 for v in verdicts if v.unavailable)
    by_reason: dict[str, list[str]] = {}
    for name in unavailable_names(verdicts):
        reason = hidden.get(name, "the kernel did not show them to this user")
        by_reason.setdefault(reason, []).append(name)
    lines = [f"Not checked: {_plural(values, 'value')} in {_plural(scenarios, 'scenario')} "
             "that the kernel does not show this user (everything else was compared):"]
    for reason, names in by_reason.items():
        lines.append(f"  {', '.join(names)}: {reason}")
    return lines


def render_text(verdicts: list[Verdict], style: Style,
                hidden: Mapping[str, str] | None = None) -> str:
    """One line per scenario, then every problem in detail, then a tally, and why
    values were unavailable (``hidden``: the kernel backend's reasons, by observable)."""
    width = max((len(v.scenario.id) for v in verdicts), default=0)
    out = [summary_line(v, style, width) for v in verdicts]
    details = [line for v in verdicts for line in detail_lines(v, style)]
    if details:
        out += ["", *details]
    out += ["", tally(verdicts)]
    note = unavailable_note(verdicts, hidden or {})
    if note:
        out += ["", *note]
    return "\n".join(out) + "\n"


# --- JSON ------------------------------------------------------------------


def _side_json(judged: Judged | None) -> dict[str, Any] | None:
    if judged is None:
        return None
    return {"value": json_safe(judged.value), "ok": judged.ok, "error": judged.error}


def _compared_json(c: Compared) -> dict[str, Any]:
    missing = "model" if c.model is ABSENT else "kernel" if c.kernel is ABSENT else None
    return {
        "key": c.key,
        "model": None if c.model is ABSENT else json_safe(c.model),
        "kernel": None if c.kernel is ABSENT else json_safe(c.kernel),
        "status": c.status,
        "missing": missing,
    }


def _steps_json(v: Verdict) -> list[dict[str, Any]]:
    kernel_steps = {d.step.index: d for d in v.real.steps} if v.real else {}
    steps = []
    for done in v.sim.steps:
        index = done.step.index
        other = kernel_steps.get(index)
        other_exp = other.expectations if other and not other.skipped else []
        steps.append({
            "index": index,
            "line": step_line(done.step),
            "sim_only": index in v.sim_only_steps,
            "expectations": [
                {"text": j.text, "line": j.line, "model": _side_json(j),
                 "kernel": _side_json(other_exp[i] if i < len(other_exp) else None)}
                for i, j in enumerate(done.expectations)
            ],
            "compared": [_compared_json(c) for c in v.compared if c.step == index],
        })
    return steps


def verdict_json(v: Verdict) -> dict[str, Any]:
    err = v.error
    return {
        "id": v.scenario.id,
        "title": v.scenario.title,
        "file": v.file,
        "status": v.status,
        "ok": v.ok,
        "error": {"backend": err[0], **error_json(err[1], v.file)} if err else None,
        "disagreements": len(v.disagreements),
        "failed": _distinct(v.failed),
        "unavailable": len(v.unavailable),
        "unknown": _distinct(v.unknown),
        "sim_only_steps": list(v.sim_only_steps),
        "steps": _steps_json(v),
    }


def verify_json(verdicts: list[Verdict], hidden: Mapping[str, str] | None = None
                ) -> dict[str, Any]:
    """The whole verification as one JSON document; ``unavailable_because`` says, for
    each observable that came back unavailable, why (as the text report's note)."""
    reasons = hidden or {}
    return {"ok": all(v.ok for v in verdicts),
            "unavailable_because": {
                name: reasons.get(name, "the kernel did not show it to this user")
                for name in unavailable_names(verdicts)},
            "scenarios": [verdict_json(v) for v in verdicts]}


# --- JUnit XML ---------------------------------------------------------------

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """XML 1.0 cannot hold most control characters: write them as escapes."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def junit_tree(verdicts: list[Verdict]) -> ET.ElementTree:
    """One testsuite, one testcase per scenario; disagreements are failures, and a
    scenario with unavailable values passes with them listed in its output."""
    statuses = [v.status for v in verdicts]
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", {
        "name": "forklab verify",
        "tests": str(len(verdicts)),
        "failures": str(sum(s in ("disagree", "failed") for s in statuses)),
        "errors": str(statuses.count("error")),
        "skipped": str(statuses.count("sim-only")),
    })
    plain = Style(False)
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", {
            "classname": "forklab.verify", "name": v.scenario.id, "file": v.file})
        message = _xml_text(verdict_text(v))
        if v.status == "error":
            ET.SubElement(case, "error", {"message": message})
        elif v.status == "sim-only":
            ET.SubElement(case, "skipped", {"message": "simulator-only"})
        elif not v.ok:
            failure = ET.SubElement(case, "failure", {"message": message, "type": v.status})
            failure.text = _xml_text("\n".join(detail_lines(v, plain)))
        elif v.unavailable:
            out = ET.SubElement(case, "system-out")
            out.text = _xml_text("\n".join([message, *detail_lines(v, plain)]))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(verdicts: list[Verdict], path: Path) -> None:
    junit_tree(verdicts).write(path, encoding="utf-8", xml_declaration=True)
