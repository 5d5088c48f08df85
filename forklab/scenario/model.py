"""The scenario language as data: what the parser produces and the backends run.

Every op is an :class:`Op` whose ``verb`` names a row of SCENARIOS.md §3 and
whose ``args`` hold that verb's parsed arguments under the names listed in
:data:`VERB_ARGS`. Backends dispatch on ``verb`` and read ``args``; they never
look at source text.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

PAGE = 4096
"""One page, the unit of every range (4 KiB on every platform forklab models)."""


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
"""Real programs a scenario may run (``/bin/cat`` with no file arguments)."""


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


@dataclass(frozen=True)
class Op:
    """One script line (a ``repeat`` is expanded into one Op per repetition)."""

    actor: Actor
    verb: str
    args: Mapping[str, Any]
    binds: tuple[str, ...]
    where: Where
    text: str  # the source line, as written

    def __str__(self) -> str:
        return self.text


# The argument names each verb's Op.args carries (the parser's and backends'
# contract). Values: str names, int sizes/bytes/numbers, Range, FdRef,
# Program, SpawnAction, bool flags, and signal names normalised to "SIGxxx".
VERB_ARGS: dict[str, tuple[str, ...]] = {
    # memory
    "mmap": ("name", "size", "backing", "path", "share", "prot", "thp", "noreserve"),
    "munmap": ("name",),
    "write": ("range", "value"),
    "read": ("range",),
    "madvise": ("name", "advice"),
    "mprotect": ("name", "prot"),
    # processes
    "fork": (),
    "vfork": (),
    "clone": ("flags",),  # frozenset of vm, vfork, files, sighand, pidfd, clear_sighand
    "spawn": ("program", "actions"),
    "exec": ("program",),
    "exit": ("code",),
    "_exit": ("code",),
    "wait": ("child",),
    "kill": ("target", "signal"),
    "thread": (),
    "thread_exit": (),  # written `P/T: exit`
    # files
    "open": ("path", "mode", "cloexec", "append", "create"),
    "pipe": ("cloexec",),
    "dup": ("fd", "cloexec"),
    "dup2": ("fd", "num"),
    "close": ("fd",),
    "cloexec": ("fd", "on"),
    "close_range": ("lo", "hi", "cloexec"),  # hi None = max
    "writefd": ("fd", "text"),
    "readfd": ("fd",),
    "printf": ("text",),
    "fflush": (),
    "setvbuf": ("mode",),
    # threads and locks
    "lock": ("name",),
    "unlock": ("name",),
    "atfork": ("name",),
    "malloc": ("size",),
    "free": ("name",),
    # signals
    "signal": ("signal", "action"),
    "block": ("signal",),
    "unblock": ("signal",),
    "raise": ("signal",),
    # time
    "sleep": ("seconds",),
    # what-if APIs (simulator only)
    "spawn_template": ("program", "actions"),
    "spawn_from": ("template",),
    "pidfd_empty": (),
    "configure": ("blank", "action"),
    "pidfd_exec": ("blank", "program"),
    "create_process": ("program", "inherit"),
}

SIM_ONLY_VERBS = frozenset(
    {"spawn_template", "spawn_from", "pidfd_empty", "configure", "pidfd_exec", "create_process"}
)

NameKind = Literal["process", "thread", "mapping", "fd", "lock", "allocation", "template", "blank"]


@dataclass(frozen=True)
class Expr:
    """A checked expression of SCENARIOS.md §4 (parsed once, evaluated per backend)."""

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

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(op for step in self.steps for op in step.ops)
