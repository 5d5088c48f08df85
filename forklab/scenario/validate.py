"""The rules every op's values obey, checked before a backend acts on an op.

The parser refuses a script line that breaks them (with the column at fault);
:func:`check_op` refuses an op that breaks them however it was made (a scenario
is untrusted input, and ops may be built by hand, past the parser): fds stay
below forklab's own, paths stay inside the run's scratch directory, only the
allowed programs run, and time and texts are bounded.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from forklab.scenario import ops as ops_
from forklab.scenario.model import ALLOWED_PROGRAMS, Program, ScenarioError, SpawnAction
from forklab.scenario.ops import Op

MAX_FD = 511  # fd numbers a script may write; forklab keeps the ones above
MAX_SLEEP = 10.0  # seconds, for `sleep` and `/bin/sleep`
MIN_TIMER = 100  # seconds: an armed timer never fires within a run on the kernel
MAX_TIMER = 1_000_000
MIN_ALTSTACK = 64 * 1024  # bytes: above every kernel's MINSIGSTKSZ (AVX-512 included)
MAX_ALTSTACK = 8 * 1024 * 1024
MAX_POSIX_TIMERS = 64  # timer_create lines per scenario: each holds a queued signal of
# the user's RLIMIT_SIGPENDING, which every process of that user shares
MAX_ATEXIT = 256  # atexit lines per scenario (the probe's table, FL_MAX_ATEXIT)
MAX_PATH = 255
MAX_TEXT = 65536  # bytes (UTF-8) of a `writefd` or `printf` text: what one op carries

_PATH_PART = re.compile(r"[A-Za-z0-9._-]+")
SLEEP_ARGUMENT = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
"""What `/bin/sleep` takes: a plain number of seconds."""


def path_problem(text: str) -> tuple[int, str] | None:
    """Why ``text`` is not a scenario path, and at which offset; None if it is one.

    A path names a file inside the scratch directory, or is /dev/null: never
    anything that leads out.
    """
    if text == "/dev/null":
        return None
    if not text:
        return 0, "expected a path (like data.txt or sub/log)"
    if text.startswith("/"):
        return 0, (f"absolute path '{text}' is not allowed: a path names a file inside the "
                   "run's scratch directory (like data.txt or sub/log), or is /dev/null")
    if len(text) > MAX_PATH:
        return 0, f"path is longer than {MAX_PATH} characters"
    offset = 0
    for part in text.split("/"):
        if not part:
            return offset, f"empty component in path '{text}' (no '//' and no trailing '/')"
        if part in (".", ".."):
            return offset, (f"'{part}' is not allowed in a path: it leads out of the "
                            "scratch directory")
        if not _PATH_PART.fullmatch(part):
            bad = next(ch for ch in part if not _PATH_PART.fullmatch(ch))
            return offset + part.index(bad), (f"character {bad!r} is not allowed in a path; "
                                              "use letters, digits, '.', '_' and '-'")
        offset += len(part) + 1
    return None


MAX_CAT_INPUTS = 8


def cat_input_problem(text: str) -> tuple[int, str] | None:
    """Why ``text`` is not an input /bin/cat may be given, and at which offset: '-'
    (its stdin) or a scenario path; never an option."""
    if text == "-":
        return None
    if text.startswith("-"):
        return 0, f"/bin/cat takes files and '-' (its stdin), not options like '{text}'"
    return path_problem(text)


def program_problem(program: Program) -> str | None:
    """Why ``program`` may not run, or None: the probe, a missing path, or one of
    the allowed programs with the arguments it may take."""
    if program.kind in ("probe", "missing"):
        return f"{program.kind} takes no arguments" if program.args else None
    if program.kind != "program" or program.path not in ALLOWED_PROGRAMS:
        return f"program {program.path!r} is not allowed"
    if program.path == "/bin/sleep":
        seconds = program.args[0] if len(program.args) == 1 else ""
        if not SLEEP_ARGUMENT.fullmatch(seconds) or float(seconds) > MAX_SLEEP:
            return f"/bin/sleep takes one number of seconds, at most {MAX_SLEEP:g}"
        return None
    if program.path == "/bin/cat":
        if len(program.args) > MAX_CAT_INPUTS:
            return f"/bin/cat takes at most {MAX_CAT_INPUTS} inputs"
        problems = [cat_input_problem(arg) for arg in program.args]
        return next((p[1] for p in problems if p is not None), None)
    return f"{program.path} takes no arguments" if program.args else None


def check_op(op: Op) -> None:
    """Refuse an op whose values break the language's rules."""
    for field in fields(op):
        problem = _value_problem(field.name, getattr(op, field.name))
        if problem is not None:
            raise ScenarioError(f"refused: {problem}", op.where)
    problem = None
    if isinstance(op, ops_.Setrlimit):
        problem = rlimit_problem(op.resource, op.soft, op.hard)
    elif isinstance(op, ops_.Setenv) and len(op.value.encode()) > MAX_ENV_VALUE:
        problem = f"an environment value is at most {MAX_ENV_VALUE} bytes"
    if problem is not None:
        raise ScenarioError(f"refused: {problem}", op.where)


def check_paths(ops: Iterable[Op]) -> None:
    """Refuse an `mmap file=PATH` that forklab could not set up: PATH below a path
    an earlier line makes a file, or PATH itself a directory that an earlier
    `mmap file=` made. Scratch paths are never removed, so what a line makes
    is known from the lines before it (an `open ... create` or a spawn's
    `open=N:PATH` with N > 0 may make a file)."""
    files: dict[str, int] = {}  # path -> the line that (may) make it a file
    dirs: dict[str, int] = {}  # path -> the line that makes it a directory
    for op in ops:
        if isinstance(op, ops_.Mmap) and op.backing == "file" and op.path is not None:
            parts = op.path.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent in files:
                    raise ScenarioError(
                        f"refused: file={op.path}: '{parent}' is a file (line "
                        f"{files[parent]}), so nothing can be made below it", op.where)
                dirs.setdefault(parent, op.where.line)
            if op.path in dirs:
                raise ScenarioError(f"refused: file={op.path} is a directory (line "
                                    f"{dirs[op.path]}), not a file forklab can map", op.where)
            files.setdefault(op.path, op.where.line)
        created = [op.path] if isinstance(op, ops_.Open) and op.create else []
        if isinstance(op, ops_.Spawn):
            created += [a.path for a in op.actions
                        if a.kind == "open" and a.num and a.path is not None]
        for path in created:
            if path not in dirs:
                files.setdefault(path, op.where.line)


class _Heap:
    """The allocations one address space may hold, as far as the script says.

    ``inherits`` are the address spaces whose later allocations this one may
    also receive: a fork whose atfork handlers can block completes only when
    another thread lets it go, so the child may copy what was allocated
    meanwhile. The record over-approximates: it never misses an allocation.
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = set(names)
        self.freed: dict[str, int] = {}  # name -> the line that freed it
        self.heirs: list[_Heap] = []
        self.atfork = False

    def copy(self) -> _Heap:
        child = _Heap(self.names)
        child.atfork = self.atfork
        return child

    def add(self, name: str) -> None:
        self.names.add(name)
        self.freed.pop(name, None)
        for heir in self.heirs:
            heir.add(name)


def check_frees(ops: Iterable[Op]) -> None:
    """Refuse a `free` of a name that cannot be an allocation of the freeing
    process: freed already, made in another address space, or made before an
    exec. glibc would abort the process (or corrupt its heap); the model has
    no meaning for it. Refused before anything runs, on every backend.

    Address spaces follow the script: fork and clone copy the parent's
    allocations, vfork and `clone vm` share them, an exec (of a program that
    exists) starts empty, a spawned process starts empty.
    """
    heaps: dict[str, _Heap] = {}

    def heap(process: str) -> _Heap:
        return heaps.setdefault(process, _Heap())

    for op in ops:
        own = heap(op.actor.process)
        if isinstance(op, ops_.Fork):
            child = heaps[op.binds[0]] = own.copy()
            if own.atfork:
                own.heirs.append(child)
        elif isinstance(op, ops_.Vfork) or (isinstance(op, ops_.Clone) and "vm" in op.flags):
            heaps[op.binds[0]] = own
        elif isinstance(op, ops_.Clone):
            heaps[op.binds[0]] = own.copy()
        elif isinstance(op, ops_.Exec) and op.program.kind != "missing":
            heaps[op.actor.process] = _Heap()
        elif isinstance(op, ops_.Atfork):
            own.atfork = True
        elif isinstance(op, ops_.Malloc):
            own.add(op.binds[0])
        elif isinstance(op, ops_.Free):
            if op.name not in own.names:
                why = (f"was freed already (line {own.freed[op.name]})" if op.name in own.freed
                       else "was never allocated there (made in another address space, "
                            "or before an exec)")
                raise ScenarioError(f"refused: in {op.actor.process}'s memory, '{op.name}' "
                                    f"{why}; freeing it would abort the process", op.where)
            own.names.remove(op.name)
            own.freed[op.name] = op.where.line


def check_counts(ops: Iterable[Op]) -> None:
    """Refuse a scenario with more timer_create lines than MAX_POSIX_TIMERS (a POSIX
    timer takes a signal of the limit all the user's processes share) or more atexit
    lines than MAX_ATEXIT (the probe's table), repeats counted."""
    limits = {ops_.TimerCreate: MAX_POSIX_TIMERS, ops_.Atexit: MAX_ATEXIT}
    seen = dict.fromkeys(limits, 0)
    for op in ops:
        kind = type(op)
        if kind in limits:
            seen[kind] += 1
            if seen[kind] > limits[kind]:
                raise ScenarioError(f"refused: a scenario has at most {limits[kind]} "
                                    f"{op.verb} lines (after expanding repeat)", op.where)


def _value_problem(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if name in ("fd", "num", "lo", "hi"):
        return _fd_problem(value)
    if name == "path":
        return _path_text_problem(value)
    if name == "program":
        return program_problem(value) if isinstance(value, Program) else "not a program"
    if name == "inherit":
        return next(filter(None, map(_fd_problem, value)), None)
    if name == "actions":
        return next(filter(None, map(_action_problem, value)), None)
    if isinstance(value, SpawnAction):  # configure's action (signal's is a word)
        return _action_problem(value)
    if name == "seconds" and not 0 <= value <= MAX_SLEEP:
        return f"sleep is limited to {MAX_SLEEP:g}s"
    if name == "data":
        return text_problem(value)
    if name == "variable":
        return variable_problem(value)
    if name == "resource" and value not in ops_.RLIMITS:
        return f"'{value}' is not a resource"
    if name == "mask" and not 0 <= value <= 0o777:
        return f"umask {value:o} is not 0 to 777 (octal)"
    if name == "timer_seconds":
        return timer_problem(value)
    if name == "stack_size":
        return altstack_problem(value)
    return None


def rlimit_problem(resource: str, soft: int | None, hard: int | None) -> str | None:
    """Why a `setrlimit` is refused before it runs: a limit that would break forklab's
    own probe, or bind by sizes the model cannot know (its runtime's), or None."""
    if resource not in ops_.RLIMITS:
        return f"'{resource}' is not a resource: expected {', '.join(ops_.RLIMITS)}"
    floor = RLIMIT_FLOORS.get(resource)
    for value in (soft, hard):
        if value is not None and not 0 <= value <= MAX_RLIMIT:
            return f"a limit is 0 to {MAX_RLIMIT} or unlimited"
        if floor is not None and value is not None and value < floor[0]:
            return f"{resource} limits below {floor[0]} are refused: {floor[1]}"
    if resource == "core" and (soft != 0 or hard not in (0, None)):
        return ("a core limit other than 0 is refused: a process that dies of a fault would "
                "leave a core file, which the system may keep outside the run (core_pattern)")
    return None


MAX_RLIMIT = (1 << 62) - 1
RLIMIT_FLOORS = {
    "nofile": (1024, "forklab's own fds on the real backend sit above every scenario fd, "
                     "from fd 900, and take 124 more"),
    "stack": (8 << 20, "forklab's probe, and every vfork child on its parent's stack, "
                       "needs room to run"),
    "as": (128 << 40, "a lower one would refuse mappings by sizes the model cannot know "
                      "(forklab's own runtime's)"),
}
"""The lowest limit of a resource a scenario may set, and why."""

MAX_ENV_VALUE = 4096
"""The longest value `setenv` takes (bytes of UTF-8)."""
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def variable_problem(name: str) -> str | None:
    """Why ``name`` cannot be an environment variable of a scenario, or None. FORKLAB_
    names are the real backend's own (the probe reads and removes them)."""
    if not _VARIABLE.fullmatch(name):
        return (f"'{name}' is not an environment variable name: 1 to 64 of A-Z a-z 0-9 _, "
                "not starting with a digit")
    if name.startswith("FORKLAB_"):
        return f"'{name}': names starting with FORKLAB_ are forklab's own"
    return None


MLOCKALL_COUNTED = ("refused: mlockall where RLIMIT_MEMLOCK counts (forklab running without "
                    "CAP_IPC_LOCK under a finite limit, or in a user namespace the run made): "
                    "the kernel counts forklab's own runtime against the limit, which the model "
                    "does not know")

SHARED_FILE_LOCK = ("refused: a lock on /dev/null or on a pidfd is on a file every process "
                    "of the machine shares; lock a file of the scratch directory, a pipe or "
                    "a memfd")
"""Why a file lock on such an fd is refused, by both backends: it is not the run's own."""


def timer_problem(seconds: int) -> str | None:
    """Why a timer cannot be armed for ``seconds``, or None: 0 disarms; an armed one
    lasts longer than a run may (the real backend's time limit), so it never fires."""
    if seconds == 0 or MIN_TIMER <= seconds <= MAX_TIMER:
        return None
    return (f"a timer is 0 (disarmed) or {MIN_TIMER}-{MAX_TIMER} seconds, so that it never "
            f"fires within a run; got {seconds}")


def altstack_problem(size: int) -> str | None:
    """Why an alternate signal stack cannot be ``size`` bytes, or None (0: none)."""
    if size == 0 or (MIN_ALTSTACK <= size <= MAX_ALTSTACK and size % 4096 == 0):
        return None
    return (f"an alternate signal stack is a page multiple of {MIN_ALTSTACK // 1024}KiB to "
            f"{MAX_ALTSTACK >> 20}MiB (or off); got {size} bytes")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be one `writefd` or `printf`, or None."""
    size = len(text.encode())
    if size > MAX_TEXT:
        return f"text of {size} bytes; a writefd or printf text is at most {MAX_TEXT} bytes"
    return None


def _fd_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return None  # a name: it stands for the number the kernel chose
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FD:
        return f"fd {value!r} is not a scenario fd (0-{MAX_FD})"
    return None


def _path_text_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"bad path {value!r}"
    found = path_problem(value)
    return None if found is None else found[1]


def _action_problem(action: Any) -> str | None:
    if not isinstance(action, SpawnAction):
        return "not a spawn action"
    return _value_problem("fd", action.fd) or _value_problem("num", action.num) \
        or _value_problem("path", action.path)
