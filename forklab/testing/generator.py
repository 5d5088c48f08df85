"""The script generator: a simulator kernel driven in step, and a determinism policy.

:class:`Generator` writes a scenario one move at a time. Each line it writes is
parsed as a user's line is (``parse_line``) and applied at once to a simulator
run; what exists — processes, threads, fds and the pipes behind them, mutex
owners, who waits on what — is read back from that run
(:mod:`forklab.testing.sim_view`). The generator keeps no model of its own:
what it keeps is a *policy*, the predicates below that say which next moves
have an outcome the kernel reproduces exactly on every run (the real backend
runs one op at a time and waits until every task has settled). Where the
kernel's outcome depends on timing, the move is made deterministic instead of
left out:

- a real program that ends on its own (``/bin/true``, ``/bin/false``, a short
  ``/bin/sleep``) is waited for by the next line, at once; a long
  ``/bin/sleep 10`` is killed by the next line, at once, so no scenario ever
  depends on how long its lines took;
- a pipe has at most one thread waiting to read it (or one ``/bin/cat``
  copying it) and at most one waiting to write it, so whoever a write or a
  read wakes is never a race; data written through a ``/bin/cat`` stays well
  below the pipe's capacity, so how cat's reads happened to chunk it never
  matters;
- a mutex has at most one waiter, a child at most one thread waiting for it
  (a wait for any child counts as a wait for each);
- signal masks change only in single-threaded processes, so every thread of a
  process shares one mask and which thread takes a process-wide signal never
  matters; a vfork child's next line, at once, ends it or execs.

Every choice goes through ``draw``, a :class:`~forklab.testing.choices.Choices`
(hypothesis's draws in a course's tests, a recorded random stream in ``forklab
fuzz``), so a script shrinks by shrinking its choices.
"""
from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from forklab.scenario import ops
from forklab.scenario.model import NameKind, Program, Scenario, ScenarioError, Where
from forklab.scenario.parse import parse_line, parse_text
from forklab.scenario.verbs import VERBS
from forklab.sim.backend import SimRun
from forklab.sim.namespaces import INITIAL
from forklab.sim.tasks import MAIN
from forklab.testing import sim_view
from forklab.testing.choices import Choices, MoveRefused
from forklab.testing.sim_view import GONE, SLOTS, ProcView

GENERATED = "<generated>"
PAGE = 4096

SIGNALS = ("SIGUSR1", "SIGUSR2", "SIGTERM", "SIGRTMIN+1")
"""Signals scripts set dispositions for, block, raise and send (a real-time one queues)."""
SPAWN_SIGNALS = tuple(s for s in SIGNALS if "+" not in s)  # `+` separates a spawn list's
FAULT_SIGNALS = ("SIGSEGV", "SIGBUS")  # sigaction ... exit CODE turns a fault into a status
SIGACTION_FLAGS = ("norestart", "resethand", "nodefer")
MORE_SIGNALS = ("SIGCHLD", "SIGPIPE", "SIGINT")  # dispositions and sends, now and then
KILL_SIGNALS = SIGNALS + ("SIGKILL",)
JOB_SIGNALS = ("SIGSTOP", "SIGTSTP", "SIGCONT")  # sent to forklab's probes only
MAPPING_PAGES = (1, 3, 16, 64, 520)  # 520 pages cross a 2 MiB page-table boundary
TEXTS = ("hi", "a\\n", "ok\\n", "xyz", "line one\\nline two\\n")
PAGE_TEXT = "x" * PAGE  # one whole pipe page per write: 16 fill a pipe
LOCKS = ("l1", "l2")
PATHS = ("a.txt", "b.txt", "/dev/null", "sub/c.txt", "a.txt/x")  # the last two: ENOENT, ENOTDIR
CAT_INPUTS = ("a.txt", "b.txt", "/dev/null", "sub", "nope.txt")  # files, a directory, none
MALLOC_SIZES = ("16", "4KiB", "200KiB", "1MiB")  # 200 KiB and up: glibc maps them
SHORT_SLEEPS = ("0.01", "0.02")  # seconds: waited for at once
LONG_SLEEP = "10"  # killed at once
DURATIONS = ("500us", "1ms", "2ms")
NICE_VALUES = ("-2", "0", "3", "5")  # small: a probe at nice 19 crawls on a busy machine
COMMS = ("worker", "a.b-c_d", "longer-than-fifteen")  # the last is cut to 15 bytes
TIMER_SLACKS = ("0", "1000", "123000")
ID_TRIPLES = ("0 0 0", "0 0 65534")  # only the saved id may be nobody's
GROUP_LISTS = ("65534", "none", "0,65534")
DROPPED_CAPS = ("CAP_CHOWN", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SYS_NICE", "CAP_SETPCAP")
MAX_FDS = 16
TIMER_SECONDS = ("0", "100", "1000")
ALTSTACKS = ("64KiB", "128KiB", "off")
LOCKABLE = ("file", "dir", "pipe_r", "pipe_w", "collector")  # not /dev/null, not a pidfd
MAX_THREADS = 3
MAX_MAPPINGS = 4
MAX_ALLOCS = 4
CAT_BYTES = 8 * 1024  # bytes a pipe that a cat reads or writes may ever carry

WEIGHTS = {"write": 8, "read": 4, "mmap": 3, "fork": 5, "pipe": 4, "writefd": 4, "readfd": 4,
           "lock": 3, "unlock": 3, "wait": 3, "madvise": 3, "mprotect": 3, "spawn": 3,
           "exit": 1, "_exit": 1, "raise": 1, "exec": 2, "setvbuf": 1, "close_range": 1,
           "malloc": 2, "free": 4, "thread": 3, "thread_exit": 4, "atfork": 1, "repeat": 1,
           "sleep": 1, "memfd": 1, "shm_open": 1, "shm_unlink": 1, "lseek": 1, "pread": 1,
           "pwrite": 1, "ftruncate": 1, "unshare": 1, "mq_open": 1, "opendir": 2, "readdir": 8,
           "alarm": 1, "setitimer": 1, "timer_create": 1, "sigaltstack": 1, "fcntl_lock": 2,
           "flock": 1, "atexit": 1, "semget": 1, "semop": 8}
"""How often each verb is chosen among those possible (default 2)."""

REAL_VERBS = frozenset(v for v, verb in VERBS.items() if not verb.sim_only) | {"repeat"}
"""Every verb the kernel runs, and ``repeat`` (a script form): each has a rule below."""
SIM_ONLY_LINES = frozenset({"spawn_template", "spawn_from", "pidfd_empty", "configure",
                            "pidfd_exec", "create_process"})
"""The simulator-only verbs, which :meth:`Generator.sim_only_lines` writes."""


def generated_verbs() -> frozenset[str]:
    """The verbs the generator writes (the verb registry gives the reason for any other)."""
    return frozenset(REAL_VERBS - {"repeat"} | SIM_ONLY_LINES)


def pick(draw: Choices, items: Iterable[Any]) -> Any:
    """One of ``items``, drawn as an index."""
    seq = items if isinstance(items, (list, tuple)) else list(items)
    return seq[draw.integer(0, len(seq) - 1)] if len(seq) > 1 else seq[0]


def chance(draw: Choices, one_in: int) -> bool:
    return draw.integer(0, one_in - 1) == 0


@dataclass(frozen=True)
class Actor:
    proc: ProcView
    thread: str  # "" for the main thread

    @property
    def text(self) -> str:
        return f"{self.proc.name}/{self.thread}" if self.thread else self.proc.name

    @property
    def main(self) -> bool:
        return self.thread == ""


_COMMON = frozenset(f.name for f in fields(ops.Op))


def op_options(op: ops.Op) -> list[str]:
    """The options an op used, as ``verb:option`` (for coverage)."""
    out = []
    for key, value in ((f.name, getattr(op, f.name)) for f in fields(op)
                       if f.name not in _COMMON):
        if isinstance(value, bool):
            if value:
                out.append(f"{op.verb}:{key}")
        elif isinstance(value, str) and key in ("backing", "share", "prot", "advice", "mode",
                                                 "action", "signal", "kind"):
            out.append(f"{op.verb}:{value}")
        elif isinstance(value, Program):
            out.append(f"{op.verb}:{value.path or value.kind}")
        elif key == "flags":
            out.extend(f"{op.verb}:{flag}" for flag in sorted(value) or ["none"])
        elif key == "actions":
            out.extend(f"{op.verb}:{action.kind}=" for action in value)
        elif key == "cgroup" and value is not None:
            out.append(f"{op.verb}:into=")
    return out


@functools.cache
def _empty_scenario(first: str) -> Scenario:
    """What a generator's run starts from: parsed once, as parsing costs more than a
    move (a run only reads its scenario)."""
    return parse_text(f'id = "generated"\ntitle = "t"\nsummary = "s"\nfirst = "{first}"\n'
                      "[[step]]\n", GENERATED)


class Generator:
    """A script in the making, and the simulator run it drives."""

    def __init__(self, *, first: str = "parent", verbs: frozenset[str] | None = None,
                 max_processes: int = 4, blocking: bool = False,
                 mapping_pool: list[tuple[str, int, str, str]] | None = None,
                 declaration: Scenario | None = None) -> None:
        self.verbs = REAL_VERBS if verbs is None else frozenset(verbs) & REAL_VERBS
        self.max_processes = max_processes
        self.blocking = blocking
        self.first = first
        self.mapping_pool = list(mapping_pool or [])
        self.run = SimRun(declaration or _empty_scenario(first))
        self.kernel = self.run.kernel
        self.names: dict[str, NameKind] = {first: "process"}
        self.lines: list[str] = []
        self.coverage: Counter[str] = Counter()  # "verb" and "verb:option"
        self.placement = sim_view.placement(self.kernel)
        self.mappings: dict[str, tuple[int, str | None]] = {}  # name -> (pages, its file)
        self.cat_bytes: Counter[int] = Counter()  # pipe id -> bytes written while a cat holds it
        self.allocs = 0
        self.locks = list(LOCKS)  # and the mutexes a `mutex` line set up
        self._counters: Counter[str] = Counter()
        self._views: dict[str, ProcView] | None = None  # what exists, until the next line
        self._forever: set[str] | None = None

    # -- applying lines ----------------------------------------------------------------
    def apply(self, line: str) -> None:
        """Parse a line as a user's, apply it to the simulator, and keep it."""
        self.lines.append(line)
        self._views = self._forever = None
        for op in parse_line(line, self.names, Where(GENERATED, len(self.lines))):
            if isinstance(op, ops.Mmap) and not self.mapping_pool:
                self.placement.add(op.name, op.size)
            self.coverage[op.verb] += 1
            self.coverage.update(op_options(op))
            try:
                self.run.apply(op)
            except ScenarioError:
                # the model refuses the move: a program that never stops (a /bin/cat
                # feeding itself, BoundExceeded), or a repeat that blocks partway
                # (a pipe with less room than the policy counted). Not a valid
                # scenario: the draw is discarded, never a traceback of forklab fuzz
                raise MoveRefused(line) from None
        if line.startswith("repeat "):
            self.coverage["repeat"] += 1

    def semaphore_sets(self) -> int:
        return sum(kind == "semaphore" for kind in self.names.values())

    def fresh(self, prefix: str) -> str:
        while True:
            self._counters[prefix] += 1
            name = f"{prefix}{self._counters[prefix]}"
            if name not in self.names and name not in LOCKS:
                return name

    # -- what exists ---------------------------------------------------------------------
    def views(self) -> dict[str, ProcView]:
        if self._views is None:
            self._views = sim_view.processes(self.kernel)
        return self._views

    def forever(self) -> set[str]:
        """Threads that wait forever (the simulator's wait-for graph says so)."""
        if self._forever is None:
            self._forever = sim_view.waiting_forever(self.kernel)
        return self._forever

    def actors(self, views: dict[str, ProcView] | None = None) -> list[Actor]:
        """(process, thread) pairs free to run the next line."""
        views = self.views() if views is None else views
        return [Actor(v, t.name) for v in views.values() if v.scriptable
                for t in v.threads.values() if t.free]

    def can_create(self) -> bool:
        return len(self.kernel.processes) < self.max_processes

    # -- the determinism policy ----------------------------------------------------------
    def waiters(self, views: dict[str, ProcView], verb: str, resource: object) -> int:
        return sum(1 for v in views.values() if not v.ended for t in v.threads.values()
                   if t.waits_for == verb and t.resource == resource)

    def cats(self, views: dict[str, ProcView], pipe: int | None) -> list[ProcView]:
        """The cats holding an end of ``pipe`` (their copying is not a script's line)."""
        return [v for v in views.values() if not v.ended and v.program == "/bin/cat"
                and any(fd.pipe == pipe for fd in v.fds.values())]

    def consumers(self, views: dict[str, ProcView], pipe: int | None) -> int:
        """Threads waiting to read ``pipe`` and cats copying from it."""
        cats = sum(1 for v in self.cats(views, pipe)
                   if 0 in v.fds and v.fds[0].pipe == pipe and v.fds[0].kind == "pipe_r")
        return self.waiters(views, "readfd", pipe) + cats

    def may_write_pipe(self, views: dict[str, ProcView], pipe: int | None, size: int) -> bool:
        """A write of ``size`` bytes to ``pipe`` whose outcome is not a race: nobody else
        waits to write it; through a cat, little enough that it never fills."""
        if self.waiters(views, "writefd", pipe):
            return False
        if self.cats(views, pipe):
            return self.cat_bytes[pipe or 0] + size <= CAT_BYTES
        state = sim_view.pipe(self.kernel, pipe or 0)
        fits = state.slots + -(-size // PAGE) < SLOTS
        return fits or (self.blocking and state.readers > 0) or state.readers == 0

    def may_read(self, views: dict[str, ProcView], actor: Actor, number: int) -> bool:
        fd = actor.proc.fds[number]
        if fd.kind != "pipe_r":
            return True  # a file, /dev/null, EBADF or EINVAL: never waits
        if self.consumers(views, fd.pipe):
            return False
        state = sim_view.pipe(self.kernel, fd.pipe or 0)
        return state.buffered > 0 or state.writers == 0 or self.blocking

    def stdout_ok(self, views: dict[str, ProcView], proc: ProcView, size: int = PAGE) -> bool:
        """Whether what stdio may write to fd 1 now (a flush) is a deterministic write."""
        fd = proc.fds.get(1)
        if fd is None or fd.kind != "pipe_w":
            return True
        return self.may_write_pipe(views, fd.pipe, size)

    def mutex_wait(self, views: dict[str, ProcView], actor: Actor, lock: str) -> str:
        """What ``lock`` does for ``actor``: "take", "wait" (a live thread holds it and
        may unlock it), "forever" or "race" (someone waits for it already)."""
        owner = actor.proc.mutexes.get(lock)
        if owner is None or sim_view.relocks(self.kernel, actor.proc.name, actor.thread, lock):
            return "take"  # (an errorcheck mutex the caller holds: EDEADLK at once)
        if self.mutex_waiters(views, actor.proc, lock):
            return "race"
        if owner == actor.text or owner == GONE or owner in self.forever():
            return "forever"
        return "wait"

    def mutex_waiters(self, views: dict[str, ProcView], proc: ProcView, lock: str) -> int:
        sharing = {proc.name, *proc.shares_memory_with}
        return sum(1 for name in sharing for t in views[name].threads.values()
                   if (t.waits_for == "lock" and t.resource == lock)
                   or (t.waits_for == "fork" and lock in views[name].atfork))

    def fork_outcome(self, views: dict[str, ProcView], actor: Actor) -> str:
        """libc fork's prepare handlers (last registered first) lock in turn."""
        taken: set[str] = set()
        for lock in reversed(actor.proc.atfork):
            if lock in taken:  # registered twice: the second waits for the first, or
                if lock in actor.proc.errorcheck:  # is EDEADLK and fork goes on
                    continue
                return "forever"
            outcome = self.mutex_wait(views, actor, lock)
            if outcome != "take":
                return outcome
            taken.add(lock)
        return "take"

    def allowed_wait(self, outcome: str) -> bool:
        return outcome == "take" or (self.blocking and outcome in ("wait", "forever"))

    # -- choosing the next move ----------------------------------------------------------
    def offered(self, actors: list[Actor]) -> list[str]:
        """The verbs some actor may run now, in the order the actors offer them (a
        verb one actor offers is not asked of the actors after it)."""
        views = self.views()
        out: dict[str, None] = {}
        for actor in actors:
            for verb, guard in GUARDS.items():
                if verb in self.verbs and verb not in out and guard(self, views, actor):
                    out[verb] = None
        return list(out)

    def next_lines(self, draw: Choices) -> list[str]:
        """Choose a deterministic next move, apply it, and return its line(s)."""
        actors = self.actors()
        offered = self.offered(actors)
        if not offered:
            return []
        verb = pick(draw, [v for v in offered for _ in range(WEIGHTS.get(v, 2))])
        views = self.views()
        actor = pick(draw, [a for a in actors if GUARDS[verb](self, views, a)])
        before = len(self.lines)
        RULES[verb](self, draw, actor)
        return self.lines[before:]

    def sim_only_lines(self, draw: Choices) -> list[str]:
        """A closing block of the designs Linux does not ship (for a ``real = false`` step)."""
        free = [a for a in self.actors() if a.main]
        if not free or not self.can_create():
            return []
        actor = free[0]
        before = len(self.lines)
        p = actor.text
        kind = pick(draw, ("template", "blank", "create"))
        if kind == "template":
            tpl, child = self.fresh("tpl"), self.fresh("s")
            action = pick(draw, ("", " closefrom=3", " sigmask=SIGUSR1", " setsid"))
            self.apply(f"{p}: spawn_template probe{action} -> {tpl}")
            self.apply(f"{p}: spawn_from {tpl} -> {child}")
        elif kind == "blank":
            blank, child = self.fresh("b"), self.fresh("s")
            self.apply(f"{p}: pidfd_empty -> {blank}")
            for _ in range(draw.integer(0, 2)):
                action = pick(draw, ("dup2=1:1", "dup2=0:0", "sigmask=SIGUSR2",
                                     "open=3:a.txt", "close=5"))
                self.apply(f"{p}: configure {blank} {action}")
            program = pick(draw, ("probe", "/bin/true", "missing"))
            self.apply(f"{p}: pidfd_exec {blank} {program} -> {child}")
        else:
            child = self.fresh("s")
            fds = sorted(actor.proc.fds)[:draw.integer(0, 3)] or [0]
            self.apply(f"{p}: create_process {pick(draw, ('probe', '/bin/true', 'missing'))} "
                       f"inherit={'+'.join(str(n) for n in fds)} -> {child}")
        return self.lines[before:]

    # -- helpers the rules share --------------------------------------------------------------
    def fd_ref(self, number: int) -> str:
        for name, kind in self.names.items():
            if kind == "fd" and sim_view.fd_number(self.kernel, name) == number:
                return name
        return str(number)

    def end_real_program(self, draw: Choices, waiter: Actor | None, killer: Actor | None,
                         child: str, program: str) -> None:
        """A real program that ends on its own is waited for at once; a long sleep is
        killed at once (and killed for sure if the signal did not end it)."""
        if sim_view.failed(self.kernel, child) or child not in self.kernel.processes:
            return
        if program == f"/bin/sleep {LONG_SLEEP}":
            if killer is not None:
                self.apply(f"{killer.text}: kill {child} {pick(draw, KILL_SIGNALS)}")
                if not sim_view.process(self.kernel, child).ended:
                    self.apply(f"{killer.text}: kill {child} SIGKILL")
            return
        if waiter is not None:
            self.apply(f"{waiter.text}: wait {child}")

    def program(self, draw: Choices, *, waited: bool, killed: bool,
                short_sleep: bool = True) -> str:
        """What exec or spawn runs: a real program only if someone can wait for it (or
        kill it, for a long sleep) at once. short_sleep: a short /bin/sleep too (it
        needs a waiter of its own: left alone, whether it has ended by the time the
        world is observed is the scheduler's choice)."""
        programs = ["probe", "probe", "missing", "/bin/cat"]
        if waited:
            inputs = [pick(draw, CAT_INPUTS) for _ in range(draw.integer(1, 3))]
            programs += ["/bin/true", "/bin/false", " ".join(["/bin/cat", *inputs])]
        if waited and short_sleep:
            programs.append(f"/bin/sleep {pick(draw, SHORT_SLEEPS)}")
        if killed:
            programs.append(f"/bin/sleep {LONG_SLEEP}")
        return pick(draw, programs)

    def cat_is_safe(self, name: str) -> bool:
        """After a cat started: its input has no other consumer, its output no other
        waiting writer, and both carried little."""
        if name not in self.kernel.processes:
            return True
        views = self.views()
        cat = views[name]
        if cat.ended:
            return True
        for number in (0, 1):
            fd = cat.fds.get(number)
            if fd is None or fd.pipe is None:
                continue
            if self.waiters(views, "readfd", fd.pipe) or self.waiters(views, "writefd", fd.pipe):
                return False
            if len(self.cats(views, fd.pipe)) > 1:
                return False
            if sim_view.pipe(self.kernel, fd.pipe).slots > 2:
                return False
        return True

    def settle_cat(self, actor: Actor | None, name: str) -> None:
        """A cat whose pipes another reader or writer waits on is killed at once: before
        any more data comes, so nothing raced."""
        if actor is not None and not self.cat_is_safe(name):
            self.apply(f"{actor.text}: kill {name} SIGKILL")

    def note_pipe_write(self, views: dict[str, ProcView], pipe: int | None, size: int) -> None:
        if pipe is not None and self.cats(views, pipe):
            self.cat_bytes[pipe] += size


# --- guards: which verbs an actor may run now --------------------------------------------

Views = dict[str, ProcView]
Guard = Callable[[Generator, Views, Actor], bool]


def _any_mapping(g: Generator, views: Views, a: Actor) -> bool:
    return bool(g.mappings)


def _own_mapping(g: Generator, views: Views, a: Actor) -> bool:
    return bool(a.proc.mappings)


def _can_mmap(g: Generator, views: Views, a: Actor) -> bool:
    if g.mapping_pool:
        return any(spec[0] not in g.mappings for spec in g.mapping_pool)
    return len(g.mappings) < MAX_MAPPINGS


def _writable_fds(g: Generator, views: Views, a: Actor) -> list[int]:
    return [n for n, fd in a.proc.fds.items()
            if fd.kind != "pipe_w" or g.may_write_pipe(views, fd.pipe, len(TEXTS[-1]))]


def _readable_fds(g: Generator, views: Views, a: Actor) -> list[int]:
    return [n for n in a.proc.fds if g.may_read(views, a, n)]


def _child_waiters(g: Generator, views: Views, name: str) -> int:
    return g.waiters(views, "wait", name) + g.waiters(views, "waitid", name)


def _waits_for_any(a: Actor) -> bool:
    """Whether a thread of a's process waits for any of its children."""
    return any(t.waits_for in ("wait", "waitid") and t.resource == sim_view.ANY
               for t in a.proc.threads.values())


def _waitable(g: Generator, views: Views, a: Actor) -> list[str]:
    """Children a wait by ``a`` reaps now, or waits for without a race."""
    out = []
    for name in a.proc.children:
        child = views[name]
        if child.ended or (g.blocking and not _child_waiters(g, views, name)
                           and not _waits_for_any(a)
                           and name not in sim_view.timed_programs(g.kernel)):
            out.append(name)
    return out


def _may_wait_any(g: Generator, views: Views, a: Actor) -> bool:
    """A wait for any child that reaps one now, or blocks with no other waiter for any
    of them (nor a timed program among them, whose end is the clock's)."""
    children = [views[name] for name in a.proc.children]
    if any(c.ended for c in children):
        return True
    return g.blocking and bool(children) and not _waits_for_any(a) and not any(
        _child_waiters(g, views, c.name) or c.name in sim_view.timed_programs(g.kernel)
        for c in children)


def _killable(g: Generator, views: Views, a: Actor) -> list[str]:
    """Any process but one whose thread waits in vfork beside other threads (which
    thread takes the signal is the kernel's choice then)."""
    return [name for name, v in views.items()
            if not any(t.suspended for t in v.threads.values()) or len(v.threads) == 1]


def _lockable_fds(a: Actor) -> list[int]:
    """The fds a lock may be taken through: the run's own files (SHARED_FILE_LOCK)."""
    return sorted(n for n, fd in a.proc.fds.items() if fd.kind in LOCKABLE)


def _single(a: Actor) -> bool:
    return a.main and len(a.proc.threads) == 1


GUARDS: dict[str, Guard] = {
    "mmap": _can_mmap,
    "munmap": _any_mapping,
    "write": _any_mapping,
    "read": _any_mapping,
    "madvise": _any_mapping,
    "mprotect": _any_mapping,
    "mlock": _any_mapping,
    "munlock": _any_mapping,
    "mlockall": lambda g, v, a: _may_mlockall(g, a),
    "munlockall": lambda g, v, a: True,
    "mremap": _any_mapping,
    "fork": lambda g, v, a: g.can_create() and g.allowed_wait(g.fork_outcome(v, a)),
    "vfork": lambda g, v, a: g.can_create(),
    "clone": lambda g, v, a: g.can_create(),
    "unshare": lambda g, v, a: True,
    "spawn": lambda g, v, a: g.can_create(),
    "exec": lambda g, v, a: a.main,
    "exit": lambda g, v, a: a.main and g.stdout_ok(v, a.proc),
    "_exit": lambda g, v, a: True,
    "wait": lambda g, v, a: True,
    "waitid": lambda g, v, a: True,
    "kill": lambda g, v, a: bool(_killable(g, v, a)),
    "thread": lambda g, v, a: a.main and len(a.proc.threads) < MAX_THREADS,
    "thread_exit": lambda g, v, a: not a.main,
    "open": lambda g, v, a: len(a.proc.fds) < MAX_FDS,
    "pipe": lambda g, v, a: len(a.proc.fds) + 2 <= MAX_FDS,
    "dup": lambda g, v, a: bool(a.proc.fds) and len(a.proc.fds) < MAX_FDS,
    "dup2": lambda g, v, a: bool(a.proc.fds),
    "close": lambda g, v, a: True,
    "cloexec": lambda g, v, a: bool(a.proc.fds),
    "close_range": lambda g, v, a: True,
    "writefd": lambda g, v, a: bool(_writable_fds(g, v, a)),
    "readfd": lambda g, v, a: bool(_readable_fds(g, v, a)),
    "memfd": lambda g, v, a: len(a.proc.fds) < MAX_FDS,
    "shm_open": lambda g, v, a: len(a.proc.fds) < MAX_FDS,
    "shm_unlink": lambda g, v, a: True,
    "mq_open": lambda g, v, a: len(a.proc.fds) < MAX_FDS,
    "opendir": lambda g, v, a: len(a.proc.fds) < MAX_FDS,
    "readdir": lambda g, v, a: bool(sim_view.dir_streams(g.kernel, a.proc.name)),
    "lseek": lambda g, v, a: bool(a.proc.fds),  # none of the four waits: a pipe is ESPIPE
    "pread": lambda g, v, a: bool(a.proc.fds),
    "pwrite": lambda g, v, a: bool(a.proc.fds),
    "ftruncate": lambda g, v, a: bool(a.proc.fds),
    "printf": lambda g, v, a: g.stdout_ok(v, a.proc),
    "fflush": lambda g, v, a: g.stdout_ok(v, a.proc),
    "setvbuf": lambda g, v, a: g.stdout_ok(v, a.proc),
    "lock": lambda g, v, a: any(g.allowed_wait(g.mutex_wait(v, a, lock)) for lock in g.locks),
    "unlock": lambda g, v, a: any(o is not None for o in a.proc.mutexes.values()),
    "trylock": lambda g, v, a: True,
    "mutex": lambda g, v, a: len(g.locks) < len(LOCKS) + 2,
    "semget": lambda g, v, a: _sets_in_reach(g, a) and g.semaphore_sets() < MAX_SEMAPHORE_SETS,
    "semop": lambda g, v, a: _sets_in_reach(g, a) and g.semaphore_sets() > 0,
    "atfork": lambda g, v, a: a.main and len(a.proc.atfork) < 3,
    "malloc": lambda g, v, a: g.allocs < MAX_ALLOCS,
    "free": lambda g, v, a: bool(a.proc.allocations),
    "signal": lambda g, v, a: True,
    "sigaction": lambda g, v, a: True,
    "block": lambda g, v, a: _single(a),
    "unblock": lambda g, v, a: _single(a),
    "raise": lambda g, v, a: True,
    "sleep": lambda g, v, a: not sim_view.timed_programs(g.kernel),
    "chdir": lambda g, v, a: True,
    "chroot": lambda g, v, a: True,
    "umask": lambda g, v, a: True,
    "cgroup": lambda g, v, a: True,
    "setpgid": lambda g, v, a: True,
    "setsid": lambda g, v, a: True,
    "setenv": lambda g, v, a: True,
    "unsetenv": lambda g, v, a: True,
    "pdeathsig": lambda g, v, a: True,
    "setrlimit": lambda g, v, a: True,
    "nice": lambda g, v, a: True,
    "sched": lambda g, v, a: True,
    "affinity": lambda g, v, a: True,
    "comm": lambda g, v, a: True,
    "dumpable": lambda g, v, a: True,
    "timerslack": lambda g, v, a: True,
    "no_new_privs": lambda g, v, a: True,
    "setresuid": lambda g, v, a: True,
    "setresgid": lambda g, v, a: True,
    "setgroups": lambda g, v, a: True,
    "capdrop": lambda g, v, a: True,
    "repeat": lambda g, v, a: g.stdout_ok(v, a.proc),
    "alarm": lambda g, v, a: True,
    "setitimer": lambda g, v, a: True,
    "timer_create": lambda g, v, a: g.coverage["timer_create"] < 3,
    "sigaltstack": lambda g, v, a: True,
    "fcntl_lock": lambda g, v, a: bool(_lockable_fds(a)),
    "flock": lambda g, v, a: bool(_lockable_fds(a)),
    # a handler prints at exit: short texts, and not where fd 1 is a pipe that may fill
    "atexit": lambda g, v, a: g.coverage["atexit"] < 3 and g.stdout_ok(v, a.proc),
}


# --- rules: the lines of each verb ------------------------------------------------------------

def _range(draw: Choices, name: str, pages: int) -> str:
    kind = pick(draw, ("all", "page", "span"))
    if kind == "all" or pages == 1:
        return name
    if kind == "page":
        return f"{name}[{draw.integer(0, pages - 1)}p]"
    lo = draw.integer(0, pages - 1)
    return f"{name}[{lo}p:{draw.integer(lo + 1, pages)}p]"


def _mapping(g: Generator, draw: Choices, a: Actor) -> str:
    """Mostly one the process has; now and then one it lacks (a real SIGSEGV)."""
    own = sorted(a.proc.mappings)
    if own and (len(own) == len(g.mappings) or not chance(draw, 8)):
        return pick(draw, own)
    return pick(draw, sorted(g.mappings))


def r_mmap(g: Generator, draw: Choices, a: Actor) -> None:
    if g.mapping_pool:
        name, pages, share, backing = pick(draw, [s for s in g.mapping_pool
                                                  if s[0] not in g.mappings])
        extra = ""
    else:
        name = g.fresh("m")
        pages = pick(draw, MAPPING_PAGES)
        share = pick(draw, ("private", "shared"))
        backing = pick(draw, ("anon", "file", "fd", "sysv") if a.proc.fds
                       else ("anon", "file", "sysv"))
        extra = pick(draw, ("", "", " ro", " rx"))
        if chance(draw, 8):
            extra += " noreserve"
        if chance(draw, 10):
            extra += " thp"
    path = f"{pick(draw, ('', 'd/'))}{name}.bin" if backing == "file" else None
    g.mappings[name] = (pages, path)
    back = f"file={path}" if path else "anon"
    if backing == "fd":  # whatever the fd is: a memfd, an shm object, a file, or ENODEV
        back = f"fd={g.fd_ref(pick(draw, sorted(a.proc.fds)))}"
    elif backing == "sysv":  # a System V segment is always shared
        back, share = "sysv", "shared"
    g.apply(f"{a.text}: mmap {name} {pages}p {back} {share}{extra}")


def _some_range(g: Generator, draw: Choices, a: Actor) -> str:
    name = _mapping(g, draw, a)
    return _range(draw, name, g.mappings[name][0])


def r_munmap(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: munmap {_some_range(g, draw, a)}")


def r_write(g: Generator, draw: Choices, a: Actor) -> None:
    name = _mapping(g, draw, a)
    value = pick(draw, (None, 0, 7, 255))
    suffix = "" if value is None else f" = {value}"
    g.apply(f"{a.text}: write {_range(draw, name, g.mappings[name][0])}{suffix}")


def r_read(g: Generator, draw: Choices, a: Actor) -> None:
    name = _mapping(g, draw, a)
    g.apply(f"{a.text}: read {_range(draw, name, g.mappings[name][0])}")


def r_madvise(g: Generator, draw: Choices, a: Actor) -> None:
    advice = pick(draw, ("dontneed", "free", "dontfork", "dofork", "wipeonfork", "keeponfork",
                         "hugepage", "nohugepage"))
    g.apply(f"{a.text}: madvise {_some_range(g, draw, a)} {advice}")


def r_mprotect(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: mprotect {_some_range(g, draw, a)} {pick(draw, ('ro', 'rw', 'none'))}")


def r_mremap(g: Generator, draw: Choices, a: Actor) -> None:
    name = _mapping(g, draw, a)
    pages = g.mappings[name][0]
    size = pick(draw, (max(1, pages // 2), pages, 2 * pages))
    g.apply(f"{a.text}: mremap {name} {size}p{pick(draw, ('', ' maymove'))}")


def r_mlock(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: mlock {_some_range(g, draw, a)}")


def r_munlock(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: munlock {_some_range(g, draw, a)}")


MLOCKALL_FLAGS = ("current", "future", "current,future")


def r_mlockall(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: mlockall {pick(draw, MLOCKALL_FLAGS)}")


def r_munlockall(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: munlockall")


def _may_mlockall(g: Generator, a: Actor) -> bool:
    """Where no RLIMIT_MEMLOCK counts (the model refuses mlockall elsewhere)."""
    thread = g.kernel.processes[a.proc.name].threads[a.thread or MAIN]
    return g.kernel.memlock_limit is None and thread.ns.of("user") == INITIAL


def r_fork(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: fork -> {g.fresh('c')}")


def _end_vfork_child(g: Generator, draw: Choices, parent: Actor, child: str) -> None:
    """A vfork child's next line, at once: it ends or execs (its parent is suspended)."""
    if child not in g.kernel.processes or sim_view.process(g.kernel, child).ended:
        return
    how = pick(draw, ("_exit", "_exit", "exit", "exec probe", "exec missing", "exec real"))
    if how == "exec missing":
        g.apply(f"{child}: exec missing")  # ENOENT: still the child, still to end
        how = "_exit"
    if how == "exit" and not g.stdout_ok(g.views(), sim_view.process(g.kernel, child)):
        how = "_exit"
    if how in ("_exit", "exit"):
        g.apply(f"{child}: {how} {draw.integer(0, 3)}")
    elif how == "exec probe":
        g.apply(f"{child}: exec probe")
    else:
        program = pick(draw, ("/bin/true", "/bin/false"))
        g.apply(f"{child}: exec {program}")
        again = Actor(sim_view.process(g.kernel, parent.proc.name), parent.thread)
        g.end_real_program(draw, again, again, child, program)


def r_vfork(g: Generator, draw: Choices, a: Actor) -> None:
    child = g.fresh("v")
    g.apply(f"{a.text}: vfork -> {child}")
    _end_vfork_child(g, draw, a, child)


CLONE_SETS = ("none", "files", "pidfd", "files,pidfd", "clear_sighand", "sighand", "vm",
              "vm,sighand", "vm,files", "vm,vfork", "vm,vfork,sighand", "vm,vfork,files",
              "vm,vfork,pidfd", "clear_sighand,sighand", "vm,pidfd,clear_sighand",
              "newuts,newipc", "newnet", "newpid", "newpid,files", "vm,vfork,newpid",
              "newuser,newuts,newns", "fs", "vm,vfork,fs", "sysvsem", "vm,sysvsem",
              "newuser,newipc,sysvsem")
UNSHARE_SETS = ("uts", "ipc,net", "mnt", "user", "user,uts", "uts,ipc,net,mnt")
"""Never pid: the caller's later children would join the new init's namespace with a
parent outside it, and that init's exit then waits for them to be reaped, which the
model does not follow."""


EXIT_SIGNALS = ("", "", " exitsig=SIGUSR1", " exitsig=SIGUSR2", " exitsig=none")
"""A clone child's exit signal: mostly SIGCHLD; SIGUSR1 and SIGUSR2 end a parent that
does not handle them; none tells nobody."""


def r_clone(g: Generator, draw: Choices, a: Actor) -> None:
    child = g.fresh("k")
    flags = pick(draw, CLONE_SETS)
    into = f" into={pick(draw, CGROUPS)}" if chance(draw, 6) else ""
    exit_signal = pick(draw, EXIT_SIGNALS)
    g.apply(f"{a.text}: clone {flags.replace(',', ', ')}{into}{exit_signal} -> {child}")
    if "vfork" in flags:
        _end_vfork_child(g, draw, a, child)


def r_mq_open(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: mq_open {pick(draw, SHM_NAMES)} -> {g.fresh('mq')}")


def r_opendir(g: Generator, draw: Choices, a: Actor) -> None:
    path = pick(draw, ("", "", "", " sub", " a.txt", " missing"))  # a file: ENOTDIR; none: ENOENT
    g.apply(f"{a.text}: opendir{path} -> {g.fresh('dir')}")


def r_readdir(g: Generator, draw: Choices, a: Actor) -> None:
    number = pick(draw, sim_view.dir_streams(g.kernel, a.proc.name))
    g.apply(f"{a.text}: readdir {g.fd_ref(number)}")


def r_unshare(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: unshare {pick(draw, UNSHARE_SETS)}")


def _spawn_actions(g: Generator, draw: Choices, a: Actor, cat: bool) -> list[str]:
    """Up to three posix_spawn actions; some fail (a dup2 of an fd not open, an open of a
    missing file for reading, a chdir to a file, setsid with setpgroup)."""
    out: list[str] = []
    fds = sorted(a.proc.fds)
    pipes_r = [n for n in fds if a.proc.fds[n].kind == "pipe_r"]
    pipes_w = [n for n in fds if a.proc.fds[n].kind == "pipe_w"]
    if cat and pipes_r and not chance(draw, 3):
        out.append(f"dup2={g.fd_ref(pick(draw, pipes_r))}:0")
    if cat and pipes_w and not chance(draw, 3):
        out.append(f"dup2={g.fd_ref(pick(draw, pipes_w))}:1")
    for _ in range(draw.integer(0, 1 if cat else 3)):
        kind = pick(draw, ("close", "dup2", "open", "closefrom", "chdir", "setsid",
                           "setpgroup", "sigmask", "sigdefault"))
        if kind == "close":
            out.append(f"close={g.fd_ref(pick(draw, [n for n in fds if n >= 3] + [9]))}")
        elif kind == "dup2":
            source = pick(draw, fds + [12])
            out.append(f"dup2={g.fd_ref(source)}:{draw.integer(3, 8)}")
        elif kind == "open":
            out.append(f"open={pick(draw, (0, 3, 4, 8))}:{pick(draw, PATHS[:4])}")
        elif kind == "closefrom":
            out.append(f"closefrom={draw.integer(3, 8)}")
        elif kind == "chdir":
            out.append(f"chdir={pick(draw, ('d', 'sub', 'a.txt', '/dev/null'))}")
        elif kind in ("setsid", "setpgroup"):
            out.append(kind)
        else:
            sigs = sorted({pick(draw, SPAWN_SIGNALS) for _ in range(draw.integer(1, 2))})
            out.append(f"{kind}={'+'.join(sigs)}")
    return out


def r_spawn(g: Generator, draw: Choices, a: Actor) -> None:
    child = g.fresh("s")
    program = g.program(draw, waited=True, killed=True)
    actions = _spawn_actions(g, draw, a, cat=program == "/bin/cat")
    g.apply(" ".join([f"{a.text}: spawn {program}", *actions, f"-> {child}"]))
    again = Actor(sim_view.process(g.kernel, a.proc.name), a.thread)
    if program == "/bin/cat":
        g.settle_cat(again, child)
    elif program.startswith("/bin/"):
        g.end_real_program(draw, again, again, child, program)


def _waiter(g: Generator, name: str) -> Actor | None:
    """The parent's main thread, if it is free to wait for ``name`` at once."""
    parent = sim_view.process(g.kernel, name).parent
    if parent is None:
        return None
    view = sim_view.process(g.kernel, parent)
    main = view.threads.get("")
    return Actor(view, "") if view.scriptable and main is not None and main.free else None


def r_exec(g: Generator, draw: Choices, a: Actor) -> None:
    parent = _waiter(g, a.proc.name)
    others = [x for x in g.actors() if x.proc.name != a.proc.name]
    killer = parent or (others[0] if others else None)
    program = g.program(draw, waited=parent is not None or a.proc.parent is None,
                        killed=killer is not None, short_sleep=parent is not None)
    g.apply(f"{a.text}: exec {program}")
    if program == "/bin/cat":
        g.settle_cat(killer, a.proc.name)
    elif program.startswith("/bin/"):
        g.end_real_program(draw, parent, killer, a.proc.name, program)


def r_exit(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: exit {draw.integer(0, 3)}")


def r__exit(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: _exit {draw.integer(0, 3)}")


def _wait_target(g: Generator, draw: Choices, a: Actor, nohang: bool) -> str | None:
    """A child to wait for (or any), whose outcome is no race; now and then one that
    is not a child (ECHILD)."""
    views = g.views()
    choices = _waitable(g, views, a)
    if nohang:
        choices = list(a.proc.children)
    if nohang or _may_wait_any(g, views, a):
        choices.append("any")
    if not choices or chance(draw, 6):  # not a child (or one reaped already): ECHILD
        choices = sorted(n for n in views if n not in a.proc.children) or choices
    return pick(draw, choices) if choices else None


def r_wait(g: Generator, draw: Choices, a: Actor) -> None:
    nohang = chance(draw, 3)
    target = _wait_target(g, draw, a, nohang)
    if target is not None:
        options = " nohang" * nohang + " untraced" * chance(draw, 3) + " all" * chance(draw, 3)
        g.apply(f"{a.text}: wait {target}{options}")


def r_waitid(g: Generator, draw: Choices, a: Actor) -> None:
    nohang = chance(draw, 3)
    target = _wait_target(g, draw, a, nohang)
    if target is not None:
        options = " nowait" * chance(draw, 2) + " nohang" * nohang
        g.apply(f"{a.text}: waitid {target}{options}")


def r_kill(g: Generator, draw: Choices, a: Actor) -> None:
    views = g.views()
    target = pick(draw, sorted(_killable(g, views, a)))
    threads = sorted(t for t in views[target].threads if t)
    signals: tuple[str, ...] = KILL_SIGNALS + MORE_SIGNALS
    if threads and chance(draw, 3):  # tgkill: the thread is the target, no choice left
        target = f"{target}/{pick(draw, threads)}"
    elif views[target].program is None and not views[target].ended and chance(draw, 3):
        signals = JOB_SIGNALS  # stop and continue forklab's probes (a program's end
        # stays the clock's: it is waited for, or killed, at once)
    g.apply(f"{a.text}: kill {target} {pick(draw, signals)}")


def r_thread(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: thread -> {g.fresh('t')}")


def r_thread_exit(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: exit")


def r_open(g: Generator, draw: Choices, a: Actor) -> None:
    files = sorted(path for _, path in g.mappings.values() if path)
    path = pick(draw, list(PATHS) + files)
    mode = pick(draw, ("", " ro", " wo", " rw"))
    flags = "".join(f" {f}" for f in ("cloexec", "append", "create") if draw.boolean())
    g.apply(f"{a.text}: open {path}{mode}{flags} -> {g.fresh('o')}")


def r_pipe(g: Generator, draw: Choices, a: Actor) -> None:
    flag = " cloexec" if draw.boolean() else ""
    g.apply(f"{a.text}: pipe{flag} -> {g.fresh('r')}, {g.fresh('w')}")


def r_dup(g: Generator, draw: Choices, a: Actor) -> None:
    source = pick(draw, sorted(a.proc.fds))
    flag = " cloexec" if draw.boolean() else ""
    g.apply(f"{a.text}: dup {g.fd_ref(source)}{flag} -> {g.fresh('d')}")


def r_dup2(g: Generator, draw: Choices, a: Actor) -> None:
    source = pick(draw, sorted(a.proc.fds))
    targets = sorted({0, 1, 2, 3, 4, 5, 9} | set(a.proc.fds))
    g.apply(f"{a.text}: dup2 {g.fd_ref(source)} {pick(draw, targets)}")


def r_close(g: Generator, draw: Choices, a: Actor) -> None:
    numbers = sorted(n for n in a.proc.fds if n >= 3) + [0, 1, 2, 11]  # 11: mostly EBADF
    g.apply(f"{a.text}: close {g.fd_ref(pick(draw, numbers))}")


def r_cloexec(g: Generator, draw: Choices, a: Actor) -> None:
    number = pick(draw, sorted(a.proc.fds))
    g.apply(f"{a.text}: cloexec {g.fd_ref(number)} {'on' if draw.boolean() else 'off'}")


def r_close_range(g: Generator, draw: Choices, a: Actor) -> None:
    lo = draw.integer(0, 8) if chance(draw, 6) else draw.integer(3, 8)
    hi = pick(draw, ("max", str(lo), str(lo + 1), str(lo + 4), str(max(0, lo - 1))))
    flag = " cloexec" if draw.boolean() else ""
    g.apply(f"{a.text}: close_range {lo} {hi}{flag}")


def r_writefd(g: Generator, draw: Choices, a: Actor) -> None:
    views = g.views()
    number = pick(draw, sorted(_writable_fds(g, views, a)))
    fd = a.proc.fds[number]
    fill = fd.kind == "pipe_w" and g.blocking and not g.cats(views, fd.pipe) and chance(draw, 6)
    if fill:  # whole pages: the 16th fills the pipe, the 17th waits for a reader
        count = pick(draw, (15, 16, 17))
        if g.may_write_pipe(views, fd.pipe, PAGE * count):
            g.apply(f'repeat {count}: {a.text}: writefd {g.fd_ref(number)} "{PAGE_TEXT}"')
            return
    text = pick(draw, TEXTS)
    g.note_pipe_write(views, fd.pipe, len(text))
    g.apply(f'{a.text}: writefd {g.fd_ref(number)} "{text}"')


def r_readfd(g: Generator, draw: Choices, a: Actor) -> None:
    number = pick(draw, sorted(_readable_fds(g, g.views(), a)))
    g.apply(f"{a.text}: readfd {g.fd_ref(number)}")


def r_memfd(g: Generator, draw: Choices, a: Actor) -> None:
    flag = " cloexec" if draw.boolean() else ""
    g.apply(f"{a.text}: memfd {pick(draw, SHM_NAMES)}{flag} -> {g.fresh('mf')}")


def r_shm_open(g: Generator, draw: Choices, a: Actor) -> None:
    flag = " create" if draw.boolean() else ""  # without: ENOENT until someone made it
    g.apply(f"{a.text}: shm_open {pick(draw, SHM_NAMES)}{flag} -> {g.fresh('sh')}")


def r_shm_unlink(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: shm_unlink {pick(draw, SHM_NAMES)}")  # ENOENT if nobody made it


SHM_NAMES = ("box", "tank")
OFFSETS = ("0", "1", "5", "4KiB", "3p")  # inside, at and past the end of the script's files


def r_lseek(g: Generator, draw: Choices, a: Actor) -> None:
    number = pick(draw, sorted(a.proc.fds))
    offset = pick(draw, (*OFFSETS, "-1", "-3"))  # a negative one from set is EINVAL
    whence = pick(draw, ("", " set", " cur", " end"))
    g.apply(f"{a.text}: lseek {g.fd_ref(number)} {offset}{whence}")


def r_pread(g: Generator, draw: Choices, a: Actor) -> None:
    number = pick(draw, sorted(a.proc.fds))
    count = pick(draw, ("", " 0", " 2", " 64KiB"))
    g.apply(f"{a.text}: pread {g.fd_ref(number)} {pick(draw, OFFSETS)}{count}")


def r_pwrite(g: Generator, draw: Choices, a: Actor) -> None:
    number = pick(draw, sorted(a.proc.fds))
    g.apply(f'{a.text}: pwrite {g.fd_ref(number)} {pick(draw, OFFSETS)} "{pick(draw, TEXTS)}"')


def r_ftruncate(g: Generator, draw: Choices, a: Actor) -> None:
    number = pick(draw, sorted(a.proc.fds))
    g.apply(f"{a.text}: ftruncate {g.fd_ref(number)} {pick(draw, OFFSETS)}")


def _stdout_pipe(g: Generator, views: Views, a: Actor, size: int) -> None:
    fd = a.proc.fds.get(1)
    if fd is not None and fd.kind == "pipe_w":
        g.note_pipe_write(views, fd.pipe, size)


def r_printf(g: Generator, draw: Choices, a: Actor) -> None:
    views = g.views()
    text = pick(draw, TEXTS)
    _stdout_pipe(g, views, a, len(text))
    g.apply(f'{a.text}: printf "{text}"')


def r_fflush(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: fflush")


def r_setvbuf(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: setvbuf {pick(draw, ('none', 'line', 'full'))}")


def r_lock(g: Generator, draw: Choices, a: Actor) -> None:
    views = g.views()
    locks = [lock for lock in g.locks if g.allowed_wait(g.mutex_wait(views, a, lock))]
    g.apply(f"{a.text}: lock {pick(draw, locks)}")


def r_trylock(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: trylock {pick(draw, g.locks)}")


MAX_SEMAPHORE_SETS = 3
SEM_CHANGES = ("+1", "+1", "+2", "-1", "-1", "-3", "0", "+1000")


def _sets_in_reach(g: Generator, a: Actor) -> bool:
    """Whether the actor is in forklab's IPC namespace, where the run's sets live (a
    semget or semop elsewhere is refused by the language)."""
    thread = g.kernel.processes[a.proc.name].threads[a.thread or MAIN]
    return thread.ns.of("ipc") == INITIAL


def r_semget(g: Generator, draw: Choices, a: Actor) -> None:
    """Often with a first semop, so that an undo list has something to apply."""
    name = g.fresh("sem")
    g.apply(f"{a.text}: semget -> {name}")
    if not chance(draw, 3):
        g.apply(f"{a.text}: semop {name} +{draw.integer(1, 3)} undo")


def r_semop(g: Generator, draw: Choices, a: Actor) -> None:
    sets = sorted(n for n, kind in g.names.items() if kind == "semaphore")
    undo = " undo" if not chance(draw, 3) else ""
    g.apply(f"{a.text}: semop {pick(draw, sets)} {pick(draw, SEM_CHANGES)}{undo}")


def r_mutex(g: Generator, draw: Choices, a: Actor) -> None:
    name = g.fresh("mu")  # ("m1"... may be a mapping pool's names)
    g.apply(f"{a.text}: mutex {name} {pick(draw, ('errorcheck', 'normal'))}")
    g.locks.append(name)


def r_unlock(g: Generator, draw: Choices, a: Actor) -> None:
    held = sorted(lock for lock, owner in a.proc.mutexes.items() if owner is not None)
    g.apply(f"{a.text}: unlock {pick(draw, held)}")


def r_atfork(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: atfork {pick(draw, g.locks)}")


def r_malloc(g: Generator, draw: Choices, a: Actor) -> None:
    g.allocs += 1
    g.apply(f"{a.text}: malloc {pick(draw, MALLOC_SIZES)} -> {g.fresh('a')}")


def r_free(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: free {pick(draw, sorted(a.proc.allocations))}")


def r_signal(g: Generator, draw: Choices, a: Actor) -> None:
    sig = pick(draw, SIGNALS + MORE_SIGNALS + ("SIGKILL", "SIGTSTP"))
    g.apply(f"{a.text}: signal {sig} {pick(draw, ('ignore', 'default', 'catch'))}")


def r_sigaction(g: Generator, draw: Choices, a: Actor) -> None:
    sig = pick(draw, SIGNALS + MORE_SIGNALS + FAULT_SIGNALS)
    actions = ("ignore", "default", "exit") if sig in FAULT_SIGNALS else \
        ("ignore", "default", "catch")
    action = pick(draw, actions)
    words = [f"exit {draw.integer(0, 3)}"] if action == "exit" else [action]
    flags = SIGACTION_FLAGS + (("nocldwait", "nocldstop") if sig == "SIGCHLD" else ())
    words += sorted({pick(draw, flags) for _ in range(draw.integer(0, 2))})
    g.apply(f"{a.text}: sigaction {sig} {' '.join(words)}")


def r_block(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: block {pick(draw, SIGNALS + ('SIGPIPE', 'SIGCHLD', 'SIGTSTP'))}")


def r_unblock(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: unblock {pick(draw, SIGNALS + ('SIGPIPE', 'SIGCHLD', 'SIGTSTP'))}")


def r_raise(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: raise {pick(draw, KILL_SIGNALS + MORE_SIGNALS)}")


def r_sleep(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: sleep {pick(draw, DURATIONS)}")


CHDIR_PATHS = ("sub", "a.txt", "missing", "/dev/null", "sub/x")  # a directory once a file
# in it exists; the others: ENOTDIR, ENOENT
UMASKS = ("022", "077", "0", "027")
CGROUPS = ("a", "b")  # the run's control groups a generated scenario moves processes into


def r_chdir(g: Generator, draw: Choices, a: Actor) -> None:
    dirs = sorted({path.rpartition("/")[0] for _, path in g.mappings.values()
                   if path and "/" in path})
    g.apply(f"{a.text}: chdir {pick(draw, list(CHDIR_PATHS) + dirs)}")


def r_cgroup(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: cgroup {pick(draw, CGROUPS)}")


def r_chroot(g: Generator, draw: Choices, a: Actor) -> None:
    """Rarely a real root (every later exec and spawn of the process fails: ENOENT),
    mostly a refusal (ENOTDIR, ENOENT)."""
    dirs = sorted({path.rpartition("/")[0] for _, path in g.mappings.values()
                   if path and "/" in path})
    g.apply(f"{a.text}: chroot {pick(draw, list(CHDIR_PATHS) + dirs)}")


def r_umask(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: umask {pick(draw, UMASKS)}")


def r_setpgid(g: Generator, draw: Choices, a: Actor) -> None:
    """The caller or one of its children (or, now and then, another process: ESRCH)
    joins the group of the caller, of itself (a new one), or of another process."""
    names = sorted(g.kernel.processes)
    target = pick(draw, [a.proc.name, *a.proc.children] if not chance(draw, 6) else names)
    group = pick(draw, [a.proc.name, target] if not chance(draw, 4) else names)
    g.apply(f"{a.text}: setpgid {target} {group}")


def r_setsid(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: setsid")


ENV_NAMES = ("FL_A", "FL_B")
ENV_VALUES = ("1", "two words", "")


def r_setenv(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f'{a.text}: setenv {pick(draw, ENV_NAMES)} "{pick(draw, ENV_VALUES)}"')


def r_pdeathsig(g: Generator, draw: Choices, a: Actor) -> None:
    """A process's threads name one death signal at most: two, sent to the process at
    once when its parent dies, race for which thread takes which and which kills."""
    proc = g.kernel.processes[a.proc.name]
    own = proc.threads[a.thread] if a.thread else proc.main
    others = {t.pdeathsig for t in proc.threads.values() if t.pdeathsig and t is not own}
    sig = "none" if chance(draw, 4) else pick(draw, sorted(others) or KILL_SIGNALS)
    g.apply(f"{a.text}: pdeathsig {sig}")


RLIMIT_LINES = ("nofile 2048", "nofile 1024 4096", "memlock 64KiB", "memlock unlimited",
                "core 0", "core 0 0", "stack 16MiB", "stack 8MiB 8MiB", "as unlimited",
                "nproc 4096")  # some fail: EINVAL above the hard limit, EPERM raising it


def r_setrlimit(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: setrlimit {pick(draw, RLIMIT_LINES)}")


def r_unsetenv(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: unsetenv {pick(draw, ENV_NAMES)}")


def r_nice(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: nice {pick(draw, NICE_VALUES)}")


def r_sched(g: Generator, draw: Choices, a: Actor) -> None:
    """SCHED_IDLE is left out: a probe that only runs when a CPU is idle may not run in
    time on a busy machine."""
    reset = " resetonfork" if chance(draw, 4) else ""
    g.apply(f"{a.text}: sched {pick(draw, ('other', 'batch'))}{reset}")


def r_affinity(g: Generator, draw: Choices, a: Actor) -> None:
    """A CPU no machine here has (EINVAL): a mask that took would move the process off the
    run's one CPU (each fuzzing job pins its runs to a CPU of its own), and copy-on-write's
    choices would no longer be the same on every run (csrc/probe.c)."""
    g.apply(f"{a.text}: affinity 511")


def r_comm(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: comm {pick(draw, COMMS)}")


def r_dumpable(g: Generator, draw: Choices, a: Actor) -> None:
    """0 only as root: a user other than root cannot read a process that is not dumpable,
    and the real backend refuses it (docs/scenario-language.md)."""
    g.apply(f"{a.text}: dumpable {pick(draw, ('0', '1') if os.geteuid() == 0 else ('1',))}")


def r_timerslack(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: timerslack {pick(draw, TIMER_SLACKS)}")


def r_no_new_privs(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: no_new_privs")


def r_setresuid(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: setresuid {pick(draw, ID_TRIPLES)}")


def r_setresgid(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: setresgid {pick(draw, ID_TRIPLES)}")


def r_setgroups(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: setgroups {pick(draw, GROUP_LISTS)}")


def r_capdrop(g: Generator, draw: Choices, a: Actor) -> None:
    bounding = " bounding" if chance(draw, 3) else ""
    g.apply(f"{a.text}: capdrop {pick(draw, DROPPED_CAPS)}{bounding}")
def r_alarm(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: alarm {pick(draw, TIMER_SECONDS)}")


def r_setitimer(g: Generator, draw: Choices, a: Actor) -> None:
    which = pick(draw, ("real", "virtual", "prof"))
    g.apply(f"{a.text}: setitimer {which} {pick(draw, TIMER_SECONDS)}")


def r_timer_create(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: timer_create {pick(draw, TIMER_SECONDS)}")


def r_sigaltstack(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: sigaltstack {pick(draw, ALTSTACKS)}")


def r_fcntl_lock(g: Generator, draw: Choices, a: Actor) -> None:
    fd = pick(draw, _lockable_fds(a))
    mode = pick(draw, ("read", "write", "unlock"))
    g.apply(f"{a.text}: fcntl_lock {fd} {mode}{pick(draw, ('', ' ofd'))}")


def r_flock(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f"{a.text}: flock {pick(draw, _lockable_fds(a))} {pick(draw, ('sh', 'ex', 'un'))}")


def r_atexit(g: Generator, draw: Choices, a: Actor) -> None:
    g.apply(f'{a.text}: atexit "{pick(draw, TEXTS)}"')


def r_repeat(g: Generator, draw: Choices, a: Actor) -> None:
    choices = ["printf"]
    if any(m.prot == "rw" for m in a.proc.mappings.values()):
        choices.append("write")
    views = g.views()
    if g.fork_outcome(views, a) == "take" and len(g.kernel.processes) + 2 <= g.max_processes:
        choices.append("fork")
    what = pick(draw, choices)
    n = draw.integer(2, 3)
    if what == "printf":
        text = pick(draw, TEXTS)
        _stdout_pipe(g, views, a, n * len(text))
        g.apply(f'repeat {n}: {a.text}: printf "{text}"')
    elif what == "write":
        name = pick(draw, sorted(m for m, v in a.proc.mappings.items() if v.prot == "rw"))
        g.apply(f"repeat {n}: {a.text}: write {name} = {draw.integer(0, 255)}")
    else:
        n = draw.integer(2, g.max_processes - len(g.kernel.processes))
        g.apply(f"repeat {n}: {a.text}: fork -> {g.fresh('f')}")


Rule = Callable[[Generator, Choices, Actor], None]
RULES: dict[str, Rule] = {
    "mmap": r_mmap, "munmap": r_munmap, "write": r_write, "read": r_read,
    "madvise": r_madvise, "mprotect": r_mprotect, "mlock": r_mlock, "munlock": r_munlock,
    "mlockall": r_mlockall, "munlockall": r_munlockall,
    "mremap": r_mremap,
    "fork": r_fork, "vfork": r_vfork, "clone": r_clone, "unshare": r_unshare, "spawn": r_spawn,
    "exec": r_exec,
    "exit": r_exit, "_exit": r__exit, "wait": r_wait, "waitid": r_waitid, "kill": r_kill,
    "thread": r_thread, "thread_exit": r_thread_exit,
    "open": r_open, "pipe": r_pipe, "dup": r_dup, "dup2": r_dup2, "close": r_close,
    "cloexec": r_cloexec, "close_range": r_close_range, "writefd": r_writefd,
    "readfd": r_readfd, "memfd": r_memfd, "shm_open": r_shm_open, "shm_unlink": r_shm_unlink,
    "mq_open": r_mq_open, "opendir": r_opendir, "readdir": r_readdir,
    "lseek": r_lseek,
    "pread": r_pread, "pwrite": r_pwrite, "ftruncate": r_ftruncate, "printf": r_printf,
    "fflush": r_fflush, "setvbuf": r_setvbuf,
    "lock": r_lock, "unlock": r_unlock, "trylock": r_trylock, "mutex": r_mutex,
    "semget": r_semget, "semop": r_semop,
    "atfork": r_atfork, "malloc": r_malloc,
    "free": r_free, "signal": r_signal, "sigaction": r_sigaction, "block": r_block,
    "unblock": r_unblock, "raise": r_raise, "sleep": r_sleep, "repeat": r_repeat,
    "chdir": r_chdir, "chroot": r_chroot, "umask": r_umask, "cgroup": r_cgroup,
    "setpgid": r_setpgid,
    "setsid": r_setsid,
    "setenv": r_setenv, "unsetenv": r_unsetenv, "pdeathsig": r_pdeathsig,
    "setrlimit": r_setrlimit,
    "nice": r_nice, "sched": r_sched, "affinity": r_affinity, "comm": r_comm,
    "dumpable": r_dumpable, "timerslack": r_timerslack, "no_new_privs": r_no_new_privs,
    "setresuid": r_setresuid, "setresgid": r_setresgid, "setgroups": r_setgroups,
    "capdrop": r_capdrop,
    "alarm": r_alarm, "setitimer": r_setitimer, "timer_create": r_timer_create,
    "sigaltstack": r_sigaltstack, "fcntl_lock": r_fcntl_lock, "flock": r_flock,
    "atexit": r_atexit,
}
assert set(RULES) == set(GUARDS) == REAL_VERBS, sorted(REAL_VERBS ^ set(RULES))
assert SIM_ONLY_LINES == {v for v, verb in VERBS.items() if verb.sim_only}
