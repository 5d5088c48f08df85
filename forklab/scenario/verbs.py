"""The verb registry: for each verb of the language, everything that must exist for it.

A :class:`Verb` names its Op class, its script form (the parser's usage line
and the docs' table row), what its ``->`` binds, the section of
docs/scenario-language.md that documents it, whether only the simulator runs
it, and why the fuzzer leaves it out (if it does). The parser, the simulator
and the real backend each register one function per Op class in a
:class:`Handlers` table; tests/test_verb_registry.py checks that no verb lacks
any of these. docs/architecture.md has the checklist for adding a verb.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from forklab.scenario import ops
from forklab.scenario.model import NameKind


@dataclass(frozen=True)
class Verb:
    """One verb of the language and where each of its parts lives."""

    op: type[ops.Op]
    usage: str  # the script form, as the parser's messages and the docs' table write it
    section: str  # the heading of docs/scenario-language.md whose table documents it
    binds: tuple[NameKind, ...] = ()  # what `->` binds, in order
    sim_only: bool = False  # a design Linux does not ship: the kernel cannot run it
    not_fuzzed: str | None = None  # why the fuzzer does not generate it (None: it does)

    @property
    def name(self) -> str:
        return self.op.verb

    @property
    def arguments(self) -> tuple[str, ...]:
        """The names of the op's own fields (its parsed arguments)."""
        common = {f.name for f in fields(ops.Op)}
        return tuple(f.name for f in fields(self.op) if f.name not in common)


_MEMORY = "Memory"
_PROCESSES = "Processes"
_IDENTITY = "Identity, working directory and environment"
_FILES = "Files"
_THREADS = "Threads, locks, memory allocation"
_SIGNALS = "Signals and time"
_SCHED = "Scheduling and prctl"
_CREDS = "Credentials"
_ATTRIBUTES = "Timers, file locks, the alternate stack, exit handlers"
_WHAT_IF = "Designs Linux does not ship (simulator only)"

_ALL = (
    Verb(ops.Mmap, "P: mmap NAME SIZE [anon|file=PATH|fd=FD|sysv] [private|shared] [rw|ro|rx] "
                   "[thp] [noreserve]", _MEMORY),
    Verb(ops.Munmap, "P: munmap RANGE", _MEMORY),
    Verb(ops.Write, "P: write RANGE [= BYTE]", _MEMORY),
    Verb(ops.Read, "P: read RANGE", _MEMORY),
    Verb(ops.Madvise, "P: madvise RANGE dontfork|dofork|wipeonfork|keeponfork|dontneed|free"
                      "|hugepage|nohugepage", _MEMORY),
    Verb(ops.Mprotect, "P: mprotect RANGE ro|rw|none", _MEMORY),
    Verb(ops.Mremap, "P: mremap NAME SIZE [maymove]", _MEMORY),
    Verb(ops.Mlock, "P: mlock RANGE", _MEMORY),
    Verb(ops.Munlock, "P: munlock RANGE", _MEMORY),
    Verb(ops.Mlockall, "P: mlockall current|future|current,future", _MEMORY),
    Verb(ops.Munlockall, "P: munlockall", _MEMORY),
    Verb(ops.Fork, "P: fork -> C", _PROCESSES, ("process",)),
    Verb(ops.Vfork, "P[/T]: vfork -> C", _PROCESSES, ("process",)),
    Verb(ops.Clone, "P: clone FLAGS [into=NAME] [exitsig=SIG|none] -> C", _PROCESSES,
         ("process",)),
    Verb(ops.Unshare, "P: unshare KIND[,KIND]", _PROCESSES),
    Verb(ops.Spawn, "P: spawn PROG [ARG...] [ACTION...] -> C", _PROCESSES, ("process",)),
    Verb(ops.Exec, "P: exec PROG [ARG...]", _PROCESSES),
    Verb(ops.Exit, "P: exit [CODE]", _PROCESSES),
    Verb(ops.SysExit, "P: _exit [CODE]", _PROCESSES),
    Verb(ops.Wait, "P: wait C|any [nohang] [untraced] [all]", _PROCESSES),
    Verb(ops.Waitid, "P: waitid C|any [nowait] [nohang]", _PROCESSES),
    Verb(ops.Kill, "P: kill C[/T] SIG", _PROCESSES),
    Verb(ops.Thread, "P: thread -> T", _PROCESSES, ("thread",)),
    Verb(ops.ThreadExit, "P/T: exit", _PROCESSES),
    Verb(ops.Chdir, "P: chdir PATH", _IDENTITY),
    Verb(ops.Chroot, "P: chroot PATH", _IDENTITY),
    Verb(ops.Umask, "P: umask MODE", _IDENTITY),
    Verb(ops.Cgroup, "P[/T]: cgroup NAME", _IDENTITY),
    Verb(ops.Setpgid, "P: setpgid C Q", _IDENTITY),
    Verb(ops.Setsid, "P: setsid", _IDENTITY),
    Verb(ops.Setrlimit, "P: setrlimit nofile|nproc|core|stack|as|memlock SOFT [HARD]",
         _IDENTITY),
    Verb(ops.Setenv, 'P: setenv NAME "VALUE"', _IDENTITY),
    Verb(ops.Unsetenv, "P: unsetenv NAME", _IDENTITY),
    Verb(ops.Open, "P: open PATH [ro|wo|rw] [cloexec] [append] [create] -> FD", _FILES, ("fd",)),
    Verb(ops.Pipe, "P: pipe [cloexec] -> R, W", _FILES, ("fd", "fd")),
    Verb(ops.Dup, "P: dup FD [cloexec] -> NEW", _FILES, ("fd",)),
    Verb(ops.Dup2, "P: dup2 FD NUM", _FILES),
    Verb(ops.Close, "P: close FD", _FILES),
    Verb(ops.Cloexec, "P: cloexec FD on|off", _FILES),
    Verb(ops.CloseRange, "P: close_range LO HI [cloexec]", _FILES),
    Verb(ops.Writefd, 'P: writefd FD "text"', _FILES),
    Verb(ops.Readfd, "P: readfd FD", _FILES),
    Verb(ops.Memfd, "P: memfd NAME [cloexec] -> FD", _FILES, ("fd",)),
    Verb(ops.ShmOpen, "P: shm_open NAME [create] -> FD", _FILES, ("fd",)),
    Verb(ops.ShmUnlink, "P: shm_unlink NAME", _FILES),
    Verb(ops.MqOpen, "P: mq_open NAME -> FD", _FILES, ("fd",)),
    Verb(ops.Opendir, "P: opendir [PATH] -> FD", _FILES, ("fd",)),
    Verb(ops.Readdir, "P: readdir FD", _FILES),
    Verb(ops.Lseek, "P: lseek FD OFFSET [set|cur|end]", _FILES),
    Verb(ops.Pread, "P: pread FD OFFSET [COUNT]", _FILES),
    Verb(ops.Pwrite, 'P: pwrite FD OFFSET "text"', _FILES),
    Verb(ops.Ftruncate, "P: ftruncate FD SIZE", _FILES),
    Verb(ops.Printf, 'P: printf "text"', _FILES),
    Verb(ops.Fflush, "P: fflush", _FILES),
    Verb(ops.Setvbuf, "P: setvbuf none|line|full", _FILES),
    Verb(ops.Lock, "P[/T]: lock L", _THREADS),
    Verb(ops.Unlock, "P[/T]: unlock L", _THREADS),
    Verb(ops.Trylock, "P[/T]: trylock L", _THREADS),
    Verb(ops.Mutex, "P: mutex L normal|errorcheck", _THREADS),
    Verb(ops.Atfork, "P: atfork L", _THREADS),
    Verb(ops.Semget, "P[/T]: semget -> S", _THREADS, ("semaphore",)),
    Verb(ops.Semop, "P[/T]: semop S +N|-N|0 [undo]", _THREADS),
    Verb(ops.Malloc, "P[/T]: malloc SIZE -> A", _THREADS, ("allocation",)),
    Verb(ops.Free, "P[/T]: free A", _THREADS),
    Verb(ops.Signal, "P: signal SIG ignore|default|catch", _SIGNALS),
    Verb(ops.Sigaction, "P: sigaction SIG catch|ignore|default|exit CODE [norestart] "
                        "[resethand] [nodefer] [nocldwait] [nocldstop]", _SIGNALS),
    Verb(ops.Block, "P: block SIG", _SIGNALS),
    Verb(ops.Unblock, "P: unblock SIG", _SIGNALS),
    Verb(ops.Raise, "P: raise SIG", _SIGNALS),
    Verb(ops.Sleep, "P: sleep DURATION", _SIGNALS),
    Verb(ops.Pdeathsig, "P[/T]: pdeathsig SIG|none", _SIGNALS),
    Verb(ops.Nice, "P[/T]: nice N", _SCHED),
    Verb(ops.Sched, "P[/T]: sched other|batch|idle [resetonfork]", _SCHED),
    Verb(ops.Affinity, "P[/T]: affinity CPU[,CPU...]", _SCHED),
    Verb(ops.Comm, "P[/T]: comm NAME", _SCHED),
    Verb(ops.Dumpable, "P: dumpable 0|1", _SCHED),
    Verb(ops.Timerslack, "P[/T]: timerslack NS", _SCHED),
    Verb(ops.NoNewPrivs, "P[/T]: no_new_privs", _SCHED),
    Verb(ops.Setresuid, "P: setresuid R E S", _CREDS),
    Verb(ops.Setresgid, "P: setresgid R E S", _CREDS),
    Verb(ops.Setgroups, "P: setgroups G[,G...]|none", _CREDS),
    Verb(ops.Capdrop, "P[/T]: capdrop CAP [bounding]", _CREDS),
    Verb(ops.Alarm, "P: alarm SECONDS", _ATTRIBUTES),
    Verb(ops.Setitimer, "P: setitimer real|virtual|prof SECONDS", _ATTRIBUTES),
    Verb(ops.TimerCreate, "P: timer_create SECONDS", _ATTRIBUTES),
    Verb(ops.Sigaltstack, "P: sigaltstack SIZE|off", _ATTRIBUTES),
    Verb(ops.FcntlLock, "P: fcntl_lock FD read|write|unlock [ofd]", _ATTRIBUTES),
    Verb(ops.Flock, "P: flock FD sh|ex|un", _ATTRIBUTES),
    Verb(ops.Atexit, 'P: atexit "text"', _ATTRIBUTES),
    Verb(ops.SpawnTemplate, "P: spawn_template PROG [ACTION...] -> TPL", _WHAT_IF, ("template",),
         sim_only=True),
    Verb(ops.SpawnFrom, "P: spawn_from TPL -> C", _WHAT_IF, ("process",), sim_only=True),
    Verb(ops.PidfdEmpty, "P: pidfd_empty -> B", _WHAT_IF, ("blank",), sim_only=True),
    Verb(ops.Configure, "P: configure B ACTION", _WHAT_IF, sim_only=True),
    Verb(ops.PidfdExec, "P: pidfd_exec B PROG -> C", _WHAT_IF, ("process",), sim_only=True),
    Verb(ops.CreateProcess, "P: create_process PROG inherit=FD+FD -> C", _WHAT_IF, ("process",),
         sim_only=True),
)

VERBS: dict[str, Verb] = {verb.name: verb for verb in _ALL}
"""Every verb, by name (``thread_exit`` is written ``P/T: exit``)."""

_BY_CLASS: dict[type[ops.Op], Verb] = {verb.op: verb for verb in _ALL}


def verb_of(op: ops.Op) -> Verb:
    """The registry entry of an op."""
    return _BY_CLASS[type(op)]


F = TypeVar("F", bound=Callable[..., Any])


class Handlers:
    """One part's function per Op class (the parser's rules, a backend's handlers).

    A part registers a function with ``@table.handles(ops.Mmap, ...)``, so the
    registry never imports the parts and a part never dispatches on strings.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner  # who registers here, for messages: "the simulator"
        self.by_op: dict[type[ops.Op], Callable[..., Any]] = {}

    def handles(self, *classes: type[ops.Op]) -> Callable[[F], F]:
        def register(function: F) -> F:
            for cls in classes:
                if cls in self.by_op:
                    raise TypeError(f"{self.owner} registers {cls.verb} twice")
                self.by_op[cls] = function
            return function
        return register

    def get(self, op: ops.Op) -> Callable[..., Any] | None:
        return self.by_op.get(type(op))
