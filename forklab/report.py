"""How a scenario's run reads: as text for a person, as JSON for a program.

Rendering only: the results come from :mod:`forklab.runner` and nothing here
runs or judges anything. Every outcome carries a symbol (✓ ✗ ? – !) so colour
is never the only signal; colour is added only for a terminal.
"""
from __future__ import annotations

import json
import math
import os
import textwrap
from collections.abc import Collection
from typing import Any, TextIO

from forklab.observe import ENDED_STATES, UNAVAILABLE
from forklab.questions import answer_keys, held_back
from forklab.runner import Judged, ScenarioResult, StepResult
from forklab.scenario.model import ScenarioError, Step

HELD, FAILED, UNKNOWN, SKIPPED, ERROR = "✓", "✗", "?", "–", "!"


class Style:
    """ANSI colour for one output stream, or plain text when colour is off."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
        isatty = getattr(stream, "isatty", None)
        return cls(bool(isatty and isatty()) and not os.environ.get("NO_COLOR"))

    def _paint(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and text else text

    def bold(self, text: str) -> str:
        return self._paint("1", text)

    def dim(self, text: str) -> str:
        return self._paint("2", text)

    def good(self, text: str) -> str:
        return self._paint("32", text)

    def bad(self, text: str) -> str:
        return self._paint("31", text)

    def warn(self, text: str) -> str:
        return self._paint("33", text)


def _sort_key(value: Any) -> tuple[str, str]:
    return type(value).__name__, json.dumps(json_safe(value), sort_keys=True)


def json_safe(value: Any) -> Any:
    """A value as JSON can hold it: sets sorted into lists, UNAVAILABLE a string."""
    if value is UNAVAILABLE:
        return "unavailable"
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (set, frozenset)):
        return [json_safe(v) for v in sorted(value, key=_sort_key)]
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)


def value_text(value: Any, limit: int | None = None) -> str:
    """A value as the scenario language writes it (``"text"``, ``{…}``, ``None``)."""
    if value is UNAVAILABLE:
        text = "unavailable"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = format(value, ".6g")
    elif isinstance(value, (set, frozenset)):
        items = sorted(value, key=_sort_key)
        text = "{" + ", ".join(value_text(v) for v in items) + "}" if items else "set()"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(value_text(v) for v in value) + "]"
    else:
        text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def error_text(err: ScenarioError, file: str) -> str:
    """``file:line:col (step N): message``, or ``file: message`` with no position."""
    return str(err) if err.where is not None else f"{file}: {err.message}"


def error_json(err: ScenarioError, file: str) -> dict[str, Any]:
    where = err.where
    return {
        "file": where.file if where else file,
        "line": where.line if where else None,
        "col": where.col if where else None,
        "step": where.step if where else None,
        "message": err.message,
        "text": error_text(err, file),
    }


def judged_mark(judged: Judged, style: Style) -> str:
    if judged.ok is True:
        return style.good(HELD)
    if judged.ok is False:
        return style.bad(FAILED)
    return style.warn(UNKNOWN)


def judged_detail(judged: Judged) -> str:
    """Why an expectation did not hold: the values it read, or its error."""
    if judged.error:
        return f"error: {judged.error}"
    if judged.touched:
        return ", ".join(f"{k} = {value_text(v, 80)}" for k, v in judged.touched.items())
    return value_text(judged.value, 80)


def step_line(step: Step) -> int:
    """The script line a step's results belong to: its last op, else the step itself."""
    return step.ops[-1].where.line if step.ops else step.where.line


# --- JSON ------------------------------------------------------------------


def _judged_json(judged: Judged) -> dict[str, Any]:
    return {"text": judged.text, "line": judged.line, "value": json_safe(judged.value),
            "ok": judged.ok, "error": judged.error}


def step_json(done: StepResult) -> dict[str, Any]:
    questions = done.step.ask
    return {
        "index": done.step.index,
        "line": done.step.where.line,
        "skipped": done.skipped,
        "expectations": [_judged_json(j) for j in done.expectations],
        "answers": [
            {"q": q.q, "text": j.text, "value": json_safe(j.value), "error": j.error}
            for q, j in zip(questions, done.answers)
        ],
        "observations": json_safe(done.observations),
    }


def scenario_json(result: ScenarioResult, file: str) -> dict[str, Any]:
    """One scenario's run as plain JSON data (docs/commands.md, "JSON")."""
    scenario = result.scenario
    return {
        "id": scenario.id,
        "title": scenario.title,
        "file": file,
        "backend": result.backend,
        "ok": result.ok,
        "error": error_json(result.error, file) if result.error else None,
        "steps": [step_json(done) for done in result.steps],
    }


# --- text ------------------------------------------------------------------


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _ops_text(step: Step, before_line: int | None = None) -> list[str]:
    """Each op line; a ``repeat`` (many ops from one source line) is shown once, ×N."""
    runs: list[list[Any]] = []  # [where, first text, count]
    for op in step.ops:
        if before_line is not None and op.where.line >= before_line:
            break
        if runs and runs[-1][0] == op.where:
            runs[-1][2] += 1
        else:
            runs.append([op.where, op.text.strip(), 1])
    return [text if n == 1 else f"{text}  … ×{n}" for _, text, n in runs]


def _owner(key: str) -> tuple[str, str]:
    """``parent.heap.present`` -> (``parent.heap``, ``present``); ``stdout`` -> ("", ...)."""
    head, _, tail = key.rpartition(".")
    return head, tail


def _unremarkable(value: Any) -> bool:
    """A value not worth announcing when a key first appears (None, False, empty)."""
    return value is None or value is False or value in ("", [], ()) or value == set()


def observation_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What a step changed, grouped by process or mapping: ``parent.heap: present 0 → 4096``.

    A key that appears (a new process, a new mapping) is shown with its value
    unless that value is None, False or empty, so a fork lists what the child got.
    """
    groups: dict[str, list[str]] = {}
    for key, value in after.items():
        owner, attr = _owner(key)
        if key in before:
            if before[key] == value:
                continue
            shown = f"{value_text(before[key], 60)} → {value_text(value, 60)}"
        elif _unremarkable(value) or after.get(f"{owner}.mapped") is False:
            continue  # nothing to say, or a mapping this process does not have
        else:
            shown = value_text(value, 60)
        groups.setdefault(owner, []).append(f"{attr} {shown}")
    for key in before:
        if key not in after:
            owner, attr = _owner(key)
            ended = after.get(f"{owner.partition('.')[0]}.state") in ENDED_STATES
            if after.get(f"{owner}.mapped") is False or ended:
                continue  # unmapped, or the process ended: its memory went with it
            groups.setdefault(owner, []).append(f"{attr} gone")
    return [f"{owner}: " + ", ".join(parts) if owner else ", ".join(parts)
            for owner, parts in groups.items()]


def _wrapped(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent=indent,
                         subsequent_indent=indent + "    ", break_on_hyphens=False)


def _step_header(step: Step, style: Style) -> str:
    """``step N`` and the first line of what the step says."""
    say = _first_line(step.say)
    return style.bold(f"  step {step.index}") + (f"  {style.dim(say)}" if say else "")


def _without(observations: dict[str, Any], keys: Collection[str]) -> dict[str, Any]:
    return {key: value for key, value in observations.items() if key not in keys}


def _concealed_changes(before: dict[str, Any], after: dict[str, Any], concealed: set[str],
                       hidden: frozenset[str]) -> list[str]:
    """What a step changed, keeping answers hidden: a key this step's questions read
    is not shown, and a key an earlier question read is shown only with its new
    value, when it changes (its old value was that question's answer)."""
    unchanged = {key for key in concealed if key in before and before[key] == after.get(key)}
    return observation_changes(_without(before, concealed | hidden),
                               _without(after, unchanged | hidden))


def _step_text(done: StepResult, before: dict[str, Any], style: Style,
               concealed: set[str] | None) -> list[str]:
    """One step's lines. concealed: None to show answers; else the keys earlier
    questions read, to which this step's questions' keys are added."""
    step = done.step
    out = [_step_header(step, style)]
    if done.skipped:
        out.append(f"    {SKIPPED} simulator-only: not run on the kernel")
        return out
    out.extend(f"      {line}" for line in _ops_text(step))
    unanswered = range(len(step.ask)) if concealed is not None else ()
    hidden = answer_keys(step, unanswered, done.answers)
    held = held_back(step, unanswered)
    changes = (observation_changes(before, done.observations) if concealed is None else
               _concealed_changes(before, done.observations, concealed, hidden))
    if concealed is not None:
        concealed |= hidden
    for change in changes:
        out.extend(style.dim(line) for line in _wrapped(change, "      · "))
    for i, judged in enumerate(done.expectations):
        if i in held:
            out.append(f"    {judged_mark(judged, style)} "
                       + style.dim("… held back: it gives a question's answer away (-c shows it)"))
            continue
        line = f"    {judged_mark(judged, style)} {judged.text}"
        if judged.ok is not True:
            line += f"   {style.dim('→')} {judged_detail(judged)}"
        out.append(line)
    for question, answer in zip(step.ask, done.answers):
        out.append(f"    Q {question.q}")
        if question.choices:
            out.append(f"      choices: {' · '.join(question.choices)}")
        if concealed is not None:
            out.append(f"      → {style.dim('? (-c shows the answer)')}")
            continue
        shown = f"error: {answer.error}" if answer.error else value_text(answer.value)
        out.append(f"      → {shown}   {style.dim('(' + answer.text + ')')}")
    return out


def _failed_step_text(result: ScenarioResult, err: ScenarioError, style: Style) -> list[str]:
    """The step a language error stopped: the ops that ran before it, then the error."""
    out = []
    where = err.where
    reported = {done.step.index for done in result.steps}
    if where is not None and where.step is not None and where.step not in reported:
        for step in result.scenario.steps:
            if step.index == where.step:
                out.append(_step_header(step, style))
                out.extend(f"      {line}" for line in _ops_text(step, before_line=where.line))
    out.append(f"    {style.bad(ERROR)} {error_text(err, result.scenario.path)}")
    return out


def summary_text(result: ScenarioResult, style: Style) -> str:
    """The closing line: how many expectations held, or the error that stopped the run."""
    if result.error is not None:
        return f"{style.bad(ERROR)} stopped by an error"
    judged = [j for done in result.steps for j in done.expectations]
    failed = sum(j.ok is False for j in judged)
    unknown = sum(j.ok is None for j in judged)
    if failed:
        text = style.bad(f"{FAILED} {failed} of {len(judged)} expectations failed")
    else:
        text = style.good(f"{HELD} {len(judged) - unknown} of {len(judged)} expectations held")
    if unknown:
        text += ", " + style.warn(f"{UNKNOWN} {unknown} unavailable on this backend")
    return text


def render_scenario(result: ScenarioResult, style: Style, *, show_answers: bool = True) -> str:
    """The text report of one run: header, each step, the verdict. Without
    show_answers, each question's answer is hidden, and with it every
    expectation and observation that would give it away (forklab.questions)."""
    scenario = result.scenario
    out = [style.bold(f"{scenario.id} — {scenario.title}") + style.dim(f"  [{result.backend}]")]
    before: dict[str, Any] = {}
    concealed: set[str] | None = None if show_answers else set()
    for done in result.steps:
        out.extend(_step_text(done, before, style, concealed))
        if not done.skipped:
            before = done.observations
    if result.error is not None:
        out.extend(_failed_step_text(result, result.error, style))
    out.append("  " + summary_text(result, style))
    return "\n".join(out) + "\n"
