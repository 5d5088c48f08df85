"""The scenario language as data: what the parser produces and the backends run.

The values ops carry (positions, actors, ranges, programs, spawn actions), the
expressions and the steps of a scenario. The ops themselves, one class per
verb, are in :mod:`forklab.scenario.ops`; the verbs in :mod:`forklab.scenario.verbs`.
"""
from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from forklab.scenario.ops import Op


@dataclass(frozen=True)
class Where:
    """A position in a scenario file, for error messages and reports."""

    file: str
    line: int
    col: int = 1
    step: int | None = None  # 1-based step number, None outside a step

    def __str__(self) -> str:
        step = f" (step {self.step})" if self.step is not None else ""
        return f"{self.file}:{self.line}:{self.col}{step}"


class ScenarioError(Exception):
    """A scenario the language refuses: names where and what was expected."""

    def __init__(self, message: str, where: Where | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ScenarioErrors(ScenarioError):
    """Every error found in one file, in order; it reads as the first where one is shown."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        super().__init__(errors[0].message, errors[0].where)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(map(str, self.errors))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to a mistyped word, or ""."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True)
class Actor:
    """Who runs an op: a process, or one of its threads (``parent/t1``)."""

    process: str
    thread: str | None = None

    def __str__(self) -> str:
        return f"{self.process}/{self.thread}" if self.thread else self.process


@dataclass(frozen=True)
class Range:
    """Pages of a named mapping; byte offsets, page-aligned. None = to the edge."""

    mapping: str
    start: int = 0
    end: int | None = None  # None: the end of the mapping

    def bounds(self, size: int) -> tuple[int, int]:
        """Byte bounds within a mapping of ``size`` bytes (clipped to it)."""
        end = size if self.end is None else min(self.end, size)
        return min(self.start, end), end


FdRef = int | str
"""An fd written in a script: a number, or a name bound by an earlier op."""


@dataclass(frozen=True)
class Program:
    """What ``exec``/``spawn`` runs: the probe, an allow-listed program, or a missing path."""

    kind: Literal["probe", "program", "missing"]
    path: str | None = None  # for "program": one of ALLOWED_PROGRAMS
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = self.path if self.kind == "program" else self.kind
        return " ".join([str(head), *self.args])


ALLOWED_PROGRAMS = ("/bin/true", "/bin/false", "/bin/sleep", "/bin/cat")
"""Real programs a scenario may run (the arguments each takes: validate.program_problem)."""


@dataclass(frozen=True)
class SpawnAction:
    """One posix_spawn attribute or file action (``close=3``, ``dup2=w:1`` ...).

    kind is one of: close, dup2, open, closefrom, chdir, setsid, setpgroup,
    sigmask, sigdefault. ``fd`` is the source fd (close, dup2), ``num`` the
    target number (dup2, open, closefrom), ``path`` for open/chdir, and
    ``signals`` for sigmask/sigdefault.
    """

    kind: str
    fd: FdRef | None = None
    num: int | None = None
    path: str | None = None
    signals: frozenset[str] = frozenset()


NameKind = Literal["process", "thread", "mapping", "fd", "lock", "allocation", "template", "blank",
                   "semaphore"]


@dataclass(frozen=True)
class Expr:
    """A checked expression (docs/scenario-language.md, "Expressions"), parsed once and
    evaluated per backend."""

    text: str
    tree: ast.Expression
    where: Where


@dataclass(frozen=True)
class Question:
    """An ``ask`` entry: the answer is an expression the backend computes."""

    q: str
    answer: Expr
    choices: tuple[str, ...] = ()
    hint: str | None = None


@dataclass(frozen=True)
class Step:
    index: int  # 1-based
    where: Where
    say: str | None = None
    ops: tuple[Op, ...] = ()
    expect: tuple[Expr, ...] = ()
    ask: tuple[Question, ...] = ()
    real: bool = True
    note: str | None = None


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    summary: str
    path: str
    steps: tuple[Step, ...]
    tags: tuple[str, ...] = ()
    real: bool = True
    first: str = "parent"
    names: Mapping[str, NameKind] = field(default_factory=dict)
    builds_on: tuple[str, ...] = ()  # ids of the lessons this one assumes

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(op for step in self.steps for op in step.ops)
