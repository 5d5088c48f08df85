"""The lesson session, as plain data: no Textual here.

A :class:`LessonSession` runs a scenario on the model one step at a time and
keeps the :class:`~forklab.observe.World` taken after every step. The model
only ever runs forward; going back ("time travel") shows an earlier World,
which stays valid because a simulator World owns a frozen copy of the model
(``forklab.sim.snapshot``). Going forward again over steps already run shows
their Worlds too, so every step runs on the model exactly once.

Beside the model, the session keeps the learner's answers and hints, and for
any step the result of running the scenario so far on the real kernel
(:func:`check_on_kernel`, which the UI runs in a worker thread). A
:class:`Sandbox` runs lines the learner types against a copy of the model at
the current step, without touching the lesson.
"""
from __future__ import annotations

import ast
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forklab.backend import Backend
from forklab.observe import UNAVAILABLE, World, default_observations
from forklab.runner import Judged, StepResult, judge
from forklab.scenario import expr as expressions
from forklab.scenario.model import (
    NameKind,
    Question,
    Scenario,
    ScenarioError,
    Step,
    Where,
)
from forklab.scenario.ops import Mmap, Op
from forklab.scenario.placement import Placement
from forklab.sim import SimBackend
from forklab.sim.backend import SimRun
from forklab.sim.calibration import SHIPPED, Calibration
from forklab.sim.cost import Tolerance
from forklab.sim.kernel import Kernel
from forklab.verify import Compared, compare_step

# --- the catalog --------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    """One lesson file: its scenario, or why it cannot be opened."""

    path: Path
    scenario: Scenario | None
    error: str | None = None

    @property
    def id(self) -> str:
        return self.scenario.id if self.scenario else self.path.stem

    @property
    def title(self) -> str:
        return self.scenario.title if self.scenario else "(this lesson cannot be opened)"

    @property
    def summary(self) -> str:
        return self.scenario.summary if self.scenario else (self.error or "")

    @property
    def tags(self) -> tuple[str, ...]:
        return self.scenario.tags if self.scenario else ()


def load_lesson(path: Path) -> Scenario:
    """Parse one lesson file; every failure is a ScenarioError with a readable message."""
    import tomllib

    from forklab.scenario.parse import parse_file
    try:
        return parse_file(path)
    except ScenarioError:
        raise
    except UnicodeDecodeError as err:
        raise ScenarioError(f"{path}: not UTF-8 text ({err.reason})") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{path}: {err}") from None
    except OSError as err:
        raise ScenarioError(f"{path}: {err.strerror or err}") from None


def load_catalog(paths: list[Path]) -> list[CatalogEntry]:
    """Every lesson file, parsed; a broken one is listed with its error, not dropped."""
    entries = []
    for path in paths:
        try:
            entries.append(CatalogEntry(path, load_lesson(path)))
        except ScenarioError as err:
            entries.append(CatalogEntry(path, None, error_text(err, path)))
    return entries


def error_text(err: ScenarioError, path: Path) -> str:
    """``name.toml:6:15 (step 1): message``: the file by its name, the place, the fault."""
    if err.where is None:
        return err.message.replace(str(path), path.name)
    where = f"{path.name}:{err.where.line}:{err.where.col}"
    if err.where.step is not None:
        where += f" (step {err.where.step})"
    return f"{where}: {err.message}"


def find_lesson(entries: list[CatalogEntry], wanted: str) -> CatalogEntry | None:
    """The lesson with this id (or this file name)."""
    for entry in entries:
        if entry.id == wanted or entry.path.stem == wanted:
            return entry
    return None


# --- answers --------------------------------------------------------------------------------

_WORD = re.compile(r"(?<![\w'\"])([A-Za-z_][A-Za-z0-9_]*)(?![\w'\"(])")
_LITERAL_WORDS = {"True", "False", "None"}
MAX_ANSWER = 1000


def parse_answer(text: str, fd_names: dict[str, int] | None = None) -> Any:
    """A typed answer as a value: a Python literal (``0``, ``'hello'``, ``{'SIGINT'}``).

    Learners do not always quote: a bare word is a string (``running``), bare
    words inside a list or set are strings (``{SIGINT, SIGUSR1}``), and an fd
    name bound by the scenario stands for its number (``[0, 1, 2, r]``).
    Raises ValueError for an empty answer or one that is no value at all.
    """
    text = text.strip()
    if not text:
        raise ValueError("type an answer first")
    if len(text) > MAX_ANSWER:
        raise ValueError(f"an answer is at most {MAX_ANSWER} characters")
    fd_names = fd_names or {}
    try:
        return _literal(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        return fd_names.get(text, text)

    def quote(match: re.Match[str]) -> str:
        word = match.group(1)
        if word in _LITERAL_WORDS or word == "set":
            return word
        return str(fd_names[word]) if word in fd_names else repr(word)

    try:
        return _literal(_WORD.sub(quote, text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    raise ValueError(f"{text!r} is not a value: write a number, 'text', [a list] or {{a set}}")


def _literal(text: str) -> Any:
    return ast.literal_eval(text)


def same_answer(given: Any, right: Any) -> bool:
    """Whether a learner's value is the right one (a list may stand for a set)."""
    if isinstance(right, bool) or isinstance(given, bool):
        return type(given) is type(right) and given == right
    if isinstance(right, (set, frozenset)):
        if not isinstance(given, (set, frozenset, list, tuple)):
            return False
        try:
            return set(given) == set(right)
        except TypeError:
            return False
    if isinstance(right, (list, tuple)):
        return (isinstance(given, (list, tuple)) and len(given) == len(right)
                and all(map(same_answer, given, right)))
    if isinstance(right, (int, float)) and isinstance(given, (int, float)):
        return given == right
    return type(given) is type(right) and given == right


@dataclass(frozen=True)
class Answer:
    """What the learner answered to one question, and whether it was right."""

    step: int
    question: int  # 0-based index into the step's ask list
    text: str
    value: Any
    right: bool
    expected: Any  # the value the model computed
    attempts: int  # how many tries so far, this one included


# --- the kernel, beside the model ----------------------------------------------------------

KernelFactory = Callable[[threading.Event], tuple["Backend | None", str]]
"""Gives the kernel backend, or None and why it cannot run here. Its runs stop as
soon as the event given is set (the lesson player quits)."""


def real_kernel(cancel: threading.Event) -> tuple[Backend | None, str]:
    """forklab's real-kernel backend, imported lazily: it may not be built here."""
    try:
        from forklab.real import RealBackend, real_backend_status  # type: ignore[attr-defined]
    except Exception as err:  # ImportError, or an extension that fails to load
        return None, (f"forklab.real cannot be imported ({err}); the model works alone, "
                      "see the README to build the kernel backend")
    try:
        ok, why = real_backend_status()
    except Exception as err:
        return None, f"the kernel backend cannot tell whether it runs here ({err})"
    if not ok:
        return None, why
    return RealBackend(cancel=cancel), ""


@dataclass
class KernelCheck:
    """The scenario run on the kernel up to one step, compared with the model there."""

    position: int
    ran: bool  # False: nothing ran (backend unavailable, simulator-only step, ...)
    reason: str = ""  # why it did not run, or what went wrong
    compared: list[Compared] = field(default_factory=list)
    expectations: list[Judged] = field(default_factory=list)  # judged on the kernel
    answers: list[Judged] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.compared)

    def status(self, key: str) -> str | None:
        for c in self.compared:
            if c.key == key:
                return c.status
        return None


def check_on_kernel(scenario: Scenario, model: StepResult, factory: KernelFactory,
                    cancel: threading.Event, tolerance: Tolerance = SHIPPED.tolerance
                    ) -> KernelCheck:
    """Run the scenario on a fresh kernel run up to ``model``'s step, and compare.

    As ``forklab verify`` does (docs/commands.md, "What is compared"): the default observations
    and every observable the step's expressions read; a simulator-only step
    is skipped on the kernel. Safe to call from a worker thread: it reads only
    the scenario and the model's result, which never change.
    """
    position = model.step.index
    if not (scenario.real and model.step.real):
        return KernelCheck(position, False, "this step is simulator-only (a what-if API "
                                            "Linux does not have); the kernel cannot run it")
    backend, why = factory(cancel)
    if backend is None:
        return KernelCheck(position, False, f"the kernel backend is unavailable: {why}")
    try:
        with backend.start(scenario) as run:
            for step in scenario.steps[:position]:
                if not (scenario.real and step.real):
                    continue
                for op in step.ops:
                    run.apply(op)
                world = run.observe()
                if step.index != position:
                    continue
                kernel = StepResult(
                    step, world,
                    [judge(e, world, is_expectation=True) for e in step.expect],
                    [judge(q.answer, world, is_expectation=False) for q in step.ask],
                    default_observations(world))
                return KernelCheck(position, True, "", compare_step(model, kernel, tolerance),
                                   kernel.expectations, kernel.answers)
    except ScenarioError as err:
        return KernelCheck(position, False, f"the kernel refused the scenario: {err}")
    except Exception as err:  # the kernel run must never take the UI down
        return KernelCheck(position, False,
                           f"the kernel run failed: {type(err).__name__}: {err}")
    return KernelCheck(position, False, "the kernel run ended before this step")


# --- the session ------------------------------------------------------------------------


@dataclass
class Frame:
    """The model after one step (position 0: before the first)."""

    position: int
    world: World
    result: StepResult | None = None  # None at position 0
    error: ScenarioError | None = None  # the model refused an op of this step


def model_kernel(world: World) -> Kernel | None:
    """The frozen model behind a simulator World (None for another backend's)."""
    kernel = getattr(world.queries, "kernel", None)
    return kernel if isinstance(kernel, Kernel) else None


class LessonSession:
    """One learner working through one lesson on the model."""

    def __init__(self, scenario: Scenario,
                 calibrated: Calibration = SHIPPED) -> None:
        self.scenario = scenario
        self.calibrated = calibrated  # the model's coefficients, and spawn_us's tolerance
        self._run: SimRun = SimBackend(calibrated.coefficients).start(scenario)
        self.frames: list[Frame] = [Frame(0, self._run.observe())]
        self.position = 0
        self.halted: ScenarioError | None = None
        self.answers: dict[tuple[int, int], Answer] = {}  # the latest try at each question
        self.solved: set[tuple[int, int]] = set()  # questions answered right at some try
        self.revealed: set[tuple[int, int]] = set()  # answer shown after two wrong tries
        self.earlier: dict[tuple[int, int], str] = {}  # answers given in an earlier session
        self.hints: set[tuple[int, int]] = set()
        self.kernel: dict[int, KernelCheck] = {}  # position -> the kernel's run up to it
        self.kernel_pending: set[int] = set()  # positions whose kernel run is under way

    # -- where we are --

    @property
    def total(self) -> int:
        return len(self.scenario.steps)

    @property
    def frame(self) -> Frame:
        return self.frames[self.position]

    @property
    def world(self) -> World:
        return self.frame.world

    @property
    def step(self) -> Step | None:
        return self.scenario.steps[self.position - 1] if self.position else None

    @property
    def executed(self) -> int:
        """How many steps the model has run."""
        return len(self.frames) - 1

    @property
    def finished(self) -> bool:
        return self.position == self.total and self.frame.error is None

    # -- moving --

    def forward(self) -> str | None:
        """Show the next step, running it on the model if it has not run; or say why not."""
        if self.position >= self.total:
            return "this is the last step"
        if self.position < self.executed:
            self.position += 1
            return None
        if self.halted is not None:
            return f"the model stopped at step {self.executed}: {self.halted.message}"
        self.frames.append(self._run_step(self.scenario.steps[self.position]))
        self.position += 1
        return None

    def back(self) -> str | None:
        if self.position == 0:
            return "this is the start of the lesson"
        self.position -= 1
        return None

    def goto(self, position: int) -> None:
        """Show the step at ``position`` (0..total), running steps up to it as needed."""
        position = max(0, min(position, self.total))
        while self.executed < position and self.halted is None:
            self.position = self.executed
            self.forward()
        self.position = min(position, self.executed)

    def _run_step(self, step: Step) -> Frame:
        error = None
        try:
            for op in step.ops:
                self._run.apply(op)
        except ScenarioError as err:
            error = err
        except Exception as err:  # a model bug must not take the lesson down
            error = ScenarioError(f"the model failed: {type(err).__name__}: {err}", step.where)
        world = self._run.observe()
        if error is not None:
            self.halted = error
            return Frame(step.index, world, StepResult(step, world, [], [],
                                                       default_observations(world)), error)
        result = StepResult(
            step, world,
            [judge(e, world, is_expectation=True) for e in step.expect],
            [judge(q.answer, world, is_expectation=False) for q in step.ask],
            default_observations(world))
        return Frame(step.index, world, result)

    # -- questions --

    @property
    def questions(self) -> tuple[Question, ...]:
        return self.step.ask if self.step else ()

    def settled(self, question: int) -> bool:
        """Whether this step's question was answered right or had its answer shown:
        only then may the screen show what gives the answer away."""
        key = (self.step.index if self.step else 0, question)
        return key in self.solved or key in self.revealed

    def unanswered(self) -> list[int]:
        """This step's questions whose answers must stay off the screen."""
        return [i for i in range(len(self.questions)) if not self.settled(i)]

    def remember(self, solved: dict[tuple[int, int], str], revealed: set[tuple[int, int]]
                 ) -> None:
        """Carry over an earlier session's answers: right ones (with the text given)
        and ones whose answer was shown."""
        self.earlier.update(solved)
        self.solved |= set(solved)
        self.revealed |= revealed

    def current_question(self) -> int | None:
        """The first question of this step not yet answered right (else the first)."""
        if not self.questions or self.step is None:
            return None
        for i in range(len(self.questions)):
            if (self.step.index, i) not in self.solved:
                return i
        return 0

    def expected(self, question: int) -> Any:
        """The right answer: the value the model computed (UNAVAILABLE if it could not)."""
        result = self.frame.result
        if result is None or question >= len(result.answers):
            return UNAVAILABLE
        judged = result.answers[question]
        return UNAVAILABLE if judged.error is not None else judged.value

    def answer(self, question: int, text: str) -> Answer:
        """Judge a typed answer; raises ValueError if it is no value (nothing recorded)."""
        assert self.step is not None
        value = parse_answer(text, dict(self.world.fd_names))
        expected = self.expected(question)
        right = expected is not UNAVAILABLE and same_answer(value, expected)
        key = (self.step.index, question)
        before = self.answers.get(key)
        answer = Answer(key[0], question, text, value, right, expected,
                        1 if before is None else before.attempts + 1)
        self.answers[key] = answer
        if right:
            self.solved.add(key)
        elif answer.attempts >= 2:
            self.revealed.add(key)
        return answer

    def hint(self, question: int) -> str | None:
        if self.step is None or question >= len(self.questions):
            return None
        self.hints.add((self.step.index, question))
        return self.questions[question].hint

    # -- names and the sandbox --

    def names_at(self, position: int | None = None) -> dict[str, NameKind]:
        """Every name bound by the steps up to ``position`` (default: here)."""
        position = self.position if position is None else position
        names: dict[str, NameKind] = {self.scenario.first: "process"}
        for step in self.scenario.steps[:position]:
            for op in step.ops:
                for name in op.binds:
                    names[name] = self.scenario.names.get(name, "process")
        return names

    def sandbox(self) -> Sandbox:
        kernel = model_kernel(self.world)
        assert kernel is not None, "the lesson runs on the model"
        return Sandbox(kernel, self.names_at(), Placement.of(self.scenario.ops).sizes,
                       self.position)

    # -- the kernel --

    def record_kernel(self, check: KernelCheck) -> None:
        self.kernel_pending.discard(check.position)
        self.kernel[check.position] = check


# --- the sandbox --------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxLine:
    """One line typed in the sandbox and what came of it."""

    text: str
    ok: bool
    message: str = ""  # the error, or an expression's value
    col: int | None = None  # where the error is, 1-based, in ``text``
    ops: int = 0


class _RunFrom(SimRun):
    """A model run that starts from a given model state instead of the scenario's start."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel


class Sandbox:
    """Script lines typed against a private copy of the model at one step.

    A line that parses and runs changes the copy; a line that fails changes
    nothing. ``= EXPR`` evaluates an expression (docs/scenario-language.md) instead.
    """

    def __init__(self, kernel: Kernel, names: dict[str, NameKind],
                 mapping_sizes: dict[str, int], position: int) -> None:
        self.position = position
        self.names = dict(names)
        self._sizes = dict(mapping_sizes)
        self._run = _RunFrom(kernel.copy())
        for proc in self._run.kernel.processes.values():
            proc.faults = 0  # faults count from the last observation, as in a SimRun
        self.world: World = self._run.observe()
        self.history: list[SandboxLine] = []
        self._lines = 0

    @property
    def kernel(self) -> Kernel:
        return self._run.kernel

    def enter(self, text: str) -> SandboxLine:
        self._lines += 1
        stripped = text.strip()
        if stripped.startswith("="):
            line = self._evaluate(text)
        else:
            line = self._apply(text)
        if stripped:
            self.history.append(line)
        return line

    def _where(self, col: int = 1) -> Where:
        return Where("sandbox", self._lines, col)

    def _apply(self, text: str) -> SandboxLine:
        names = dict(self.names)
        try:
            ops = _parse_line(text, names, self._where())
        except ScenarioError as err:
            return SandboxLine(text, False, err.message, err.where.col if err.where else None)
        if not ops:
            return SandboxLine(text, True, "", ops=0)
        saved = self._run.kernel.copy()
        try:
            for op in ops:
                self._place(op)
                self._run.apply(op)
        except ScenarioError as err:
            self._run.kernel = saved
            return SandboxLine(text, False, err.message, None)
        except Exception as err:  # a model bug: report it, keep the sandbox usable
            self._run.kernel = saved
            return SandboxLine(text, False,
                               f"the model failed on this line: {type(err).__name__}: {err}")
        self.names = names
        self.world = self._run.observe()
        return SandboxLine(text, True, f"{len(ops)} ops" if len(ops) > 1 else "", ops=len(ops))

    def _place(self, op: Op) -> None:
        """Give a mapping the lesson never made an address after every other one."""
        if isinstance(op, Mmap):
            Placement(self._run.kernel.addresses, self._sizes).add(op.name, op.size)

    def _evaluate(self, text: str) -> SandboxLine:
        offset = text.index("=") + 1
        source = text[offset:]
        try:
            checked = expressions.check(source, self._where(offset + 1), self.names)
            value, _ = expressions.evaluate(checked, self.world)
        except ScenarioError as err:
            return SandboxLine(text, False, err.message, err.where.col if err.where else None)
        return SandboxLine(text, True, f"= {show_value(value)}")


def _parse_line(text: str, names: dict[str, NameKind], where: Where) -> list[Op]:
    """``parse_line``, imported on first use (the parser is the heaviest import)."""
    from forklab.scenario.parse import parse_line
    return parse_line(text, names, where)


def show_value(value: Any, limit: int = 200) -> str:
    """A value as a learner would write it: sets sorted, strings quoted."""
    if value is UNAVAILABLE:
        return "unavailable"
    if isinstance(value, (set, frozenset)):
        text = "{" + ", ".join(show_value(v) for v in sorted(value, key=repr)) + "}" \
            if value else "set()"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(show_value(v) for v in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
