"""One frozen dataclass per verb: what the parser produces and the backends run.

Every op carries who runs it (``actor``), the names it binds (``binds``), where
it was written (``where``) and the line as written (``text``); each verb's class
adds that verb's parsed arguments as typed fields. Backends look handlers up by
class (see :mod:`forklab.scenario.verbs`) and read fields; they never look at
source text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from forklab.scenario.model import Actor, FdRef, Program, Range, SpawnAction, Where


@dataclass(frozen=True, kw_only=True)
class Op:
    """One script line (a ``repeat`` is expanded into one Op per repetition)."""

    verb: ClassVar[str]
    actor: Actor
    binds: tuple[str, ...]
    where: Where
    text: str  # the source line, as written

    def __str__(self) -> str:
        return self.text


NAMESPACE_KINDS = ("pid", "mnt", "uts", "ipc", "net", "user")
"""The namespaces a process is in, as /proc/PID/ns names them."""
CLONE_NAMESPACE_FLAGS = {"newpid": "pid", "newns": "mnt", "newuts": "uts", "newipc": "ipc",
                         "newnet": "net", "newuser": "user"}
"""clone's namespace flags (CLONE_NEWPID...) and the namespace each makes."""


# --- memory -----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Mmap(Op):
    verb = "mmap"
    name: str
    size: int  # bytes, a positive multiple of PAGE
    backing: str  # "anon", "file", "fd" or "sysv" (a System V segment, always shared)
    path: str | None  # the scratch file, for backing "file"
    fd: FdRef | None = None  # the open file it maps, for backing "fd"
    share: str  # "private" or "shared"
    prot: str  # "rw", "ro" or "rx"
    thp: bool
    noreserve: bool


@dataclass(frozen=True, kw_only=True)
class Munmap(Op):
    verb = "munmap"
    range: Range


@dataclass(frozen=True, kw_only=True)
class Write(Op):
    verb = "write"
    range: Range
    value: int  # the byte stored in each page


@dataclass(frozen=True, kw_only=True)
class Read(Op):
    verb = "read"
    range: Range


@dataclass(frozen=True, kw_only=True)
class Madvise(Op):
    verb = "madvise"
    range: Range
    advice: str


@dataclass(frozen=True, kw_only=True)
class Mprotect(Op):
    verb = "mprotect"
    range: Range
    prot: str  # "ro", "rw" or "none"


@dataclass(frozen=True, kw_only=True)
class Mremap(Op):
    verb = "mremap"
    name: str
    size: int  # the new size in bytes, a positive multiple of PAGE
    maymove: bool


@dataclass(frozen=True, kw_only=True)
class Mlock(Op):
    verb = "mlock"
    range: Range


@dataclass(frozen=True, kw_only=True)
class Mlockall(Op):
    verb = "mlockall"
    flags: frozenset[str]  # of MLOCKALL_FLAGS: MCL_CURRENT, MCL_FUTURE


@dataclass(frozen=True, kw_only=True)
class Munlockall(Op):
    verb = "munlockall"


MLOCKALL_FLAGS = ("current", "future")


@dataclass(frozen=True, kw_only=True)
class Munlock(Op):
    verb = "munlock"
    range: Range


# --- processes --------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Fork(Op):
    verb = "fork"


@dataclass(frozen=True, kw_only=True)
class Vfork(Op):
    verb = "vfork"


@dataclass(frozen=True, kw_only=True)
class Clone(Op):
    verb = "clone"
    flags: frozenset[str]  # of vm, vfork, files, sighand, fs, sysvsem, pidfd, clear_sighand,
    # and the namespace flags newpid, newns, newuts, newipc, newnet, newuser
    cgroup: str | None = None  # into=NAME: CLONE_INTO_CGROUP, the run's control group NAME
    exit_signal: str | None = "SIGCHLD"  # what the parent is sent when C ends; None: nothing


@dataclass(frozen=True, kw_only=True)
class Unshare(Op):
    verb = "unshare"
    kinds: frozenset[str]  # of NAMESPACE_KINDS: the namespaces the caller leaves for new ones


@dataclass(frozen=True, kw_only=True)
class Spawn(Op):
    verb = "spawn"
    program: Program
    actions: tuple[SpawnAction, ...]


@dataclass(frozen=True, kw_only=True)
class Exec(Op):
    verb = "exec"
    program: Program


@dataclass(frozen=True, kw_only=True)
class Exit(Op):
    """libc ``exit()``: flushes stdio."""

    verb = "exit"
    code: int


@dataclass(frozen=True, kw_only=True)
class SysExit(Op):
    """The ``_exit()`` system call: stdio is not flushed."""

    verb = "_exit"
    code: int


@dataclass(frozen=True, kw_only=True)
class Wait(Op):
    """``waitpid``: on one child, or on any (-1)."""

    verb = "wait"
    child: str | None  # None: any child
    nohang: bool  # WNOHANG
    untraced: bool  # WUNTRACED
    all_children: bool = False  # __WALL: also a child whose exit signal is not SIGCHLD


@dataclass(frozen=True, kw_only=True)
class Waitid(Op):
    """``waitid(WEXITED)``: on one child (P_PID), or on any (P_ALL)."""

    verb = "waitid"
    child: str | None  # None: any child
    nowait: bool  # WNOWAIT: the child stays a zombie
    nohang: bool  # WNOHANG


@dataclass(frozen=True, kw_only=True)
class Kill(Op):
    """pidfd_send_signal to a process, or tgkill to one of its threads."""

    verb = "kill"
    target: str
    thread: str | None  # the target's thread (tgkill), None: the whole process
    signal: str  # "SIGxxx"


@dataclass(frozen=True, kw_only=True)
class Thread(Op):
    verb = "thread"


@dataclass(frozen=True, kw_only=True)
class ThreadExit(Op):
    """``P/T: exit``: the thread ends (pthread_exit)."""

    verb = "thread_exit"


# --- identity, working directory and environment ---------------------------------------

@dataclass(frozen=True, kw_only=True)
class Chdir(Op):
    verb = "chdir"
    path: str


@dataclass(frozen=True, kw_only=True)
class Cgroup(Op):
    """Writing to cgroup.procs: the caller's whole process moves into the run's control
    group ``name`` (made on first use, below the group forklab runs in)."""

    verb = "cgroup"
    name: str


@dataclass(frozen=True, kw_only=True)
class Chroot(Op):
    verb = "chroot"
    path: str


@dataclass(frozen=True, kw_only=True)
class Umask(Op):
    verb = "umask"
    mask: int  # the new mask, 0 to 0o777


@dataclass(frozen=True, kw_only=True)
class Setpgid(Op):
    """``setpgid(pid of target, pid of group)``: target joins the group whose id is the
    group process's pid; target == group makes target the leader of a new group."""

    verb = "setpgid"
    target: str
    group: str


@dataclass(frozen=True, kw_only=True)
class Setsid(Op):
    verb = "setsid"


RLIMITS = ("nofile", "nproc", "core", "stack", "as", "memlock")
"""The resources `setrlimit` and `P.rlimit(RES)` name (RLIMIT_NOFILE, ...)."""


@dataclass(frozen=True, kw_only=True)
class Setrlimit(Op):
    """``setrlimit(resource, {soft, hard})``; None is RLIM_INFINITY (``unlimited``)."""

    verb = "setrlimit"
    resource: str  # one of RLIMITS
    soft: int | None
    hard: int | None
    keep_hard: bool  # HARD not written: the current hard limit (read with getrlimit)


@dataclass(frozen=True, kw_only=True)
class Setenv(Op):
    """glibc ``setenv(variable, value, 1)``: the environment lives in the process's memory."""

    verb = "setenv"
    variable: str
    value: str


@dataclass(frozen=True, kw_only=True)
class Unsetenv(Op):
    verb = "unsetenv"
    variable: str


# --- files ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Open(Op):
    verb = "open"
    path: str
    mode: str  # "ro", "wo" or "rw"
    cloexec: bool
    append: bool
    create: bool


@dataclass(frozen=True, kw_only=True)
class Pipe(Op):
    verb = "pipe"
    cloexec: bool


@dataclass(frozen=True, kw_only=True)
class Dup(Op):
    verb = "dup"
    fd: FdRef
    cloexec: bool


@dataclass(frozen=True, kw_only=True)
class Dup2(Op):
    verb = "dup2"
    fd: FdRef
    num: int


@dataclass(frozen=True, kw_only=True)
class Close(Op):
    verb = "close"
    fd: FdRef


@dataclass(frozen=True, kw_only=True)
class Cloexec(Op):
    verb = "cloexec"
    fd: FdRef
    on: bool


@dataclass(frozen=True, kw_only=True)
class CloseRange(Op):
    verb = "close_range"
    lo: int
    hi: int | None  # None: max
    cloexec: bool


@dataclass(frozen=True, kw_only=True)
class Writefd(Op):
    verb = "writefd"
    fd: FdRef
    data: str  # what write(2) writes


@dataclass(frozen=True, kw_only=True)
class Readfd(Op):
    verb = "readfd"
    fd: FdRef


@dataclass(frozen=True, kw_only=True)
class Memfd(Op):
    verb = "memfd"
    name: str  # memfd_create's name (shown in /proc/PID/fd as /memfd:NAME)
    cloexec: bool


@dataclass(frozen=True, kw_only=True)
class ShmOpen(Op):
    verb = "shm_open"
    name: str  # the POSIX shared-memory object's name, within the run's own namespace
    create: bool


@dataclass(frozen=True, kw_only=True)
class ShmUnlink(Op):
    verb = "shm_unlink"
    name: str


@dataclass(frozen=True, kw_only=True)
class Opendir(Op):
    verb = "opendir"
    path: str | None  # a directory of the scratch directory; None: the scratch directory


@dataclass(frozen=True, kw_only=True)
class Readdir(Op):
    verb = "readdir"
    fd: FdRef  # the fd of a stream opendir made


@dataclass(frozen=True, kw_only=True)
class MqOpen(Op):
    verb = "mq_open"
    name: str  # a POSIX message queue's name, within the run's own namespace


@dataclass(frozen=True, kw_only=True)
class Lseek(Op):
    verb = "lseek"
    fd: FdRef
    offset: int  # may be negative: it is added to the offset (cur) or the size (end)
    whence: str  # "set", "cur" or "end"


@dataclass(frozen=True, kw_only=True)
class Pread(Op):
    verb = "pread"
    fd: FdRef
    offset: int
    count: int  # bytes asked for, at most READ_SIZE


@dataclass(frozen=True, kw_only=True)
class Pwrite(Op):
    verb = "pwrite"
    fd: FdRef
    offset: int
    data: str


@dataclass(frozen=True, kw_only=True)
class Ftruncate(Op):
    verb = "ftruncate"
    fd: FdRef
    size: int


@dataclass(frozen=True, kw_only=True)
class Printf(Op):
    verb = "printf"
    data: str  # what goes into stdout's buffer


@dataclass(frozen=True, kw_only=True)
class Fflush(Op):
    verb = "fflush"


@dataclass(frozen=True, kw_only=True)
class Setvbuf(Op):
    verb = "setvbuf"
    mode: str  # "none", "line" or "full"


# --- threads, locks, memory allocation ---------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Lock(Op):
    verb = "lock"
    name: str


@dataclass(frozen=True, kw_only=True)
class Unlock(Op):
    verb = "unlock"
    name: str


@dataclass(frozen=True, kw_only=True)
class Trylock(Op):
    verb = "trylock"
    name: str


@dataclass(frozen=True, kw_only=True)
class Semget(Op):
    """``semget(IPC_PRIVATE, 1, 0600)``: a System V semaphore set of one semaphore, whose
    value starts at 0, bound to the name after ``->``."""

    verb = "semget"


SEM_MAX_DELTA = 1000
"""The largest change one ``semop`` may ask for, either way."""


@dataclass(frozen=True, kw_only=True)
class Semop(Op):
    """``semop`` of one operation, IPC_NOWAIT: add ``delta`` (0: wait for zero), with
    SEM_UNDO if ``undo``."""

    verb = "semop"
    name: str  # a set semget bound
    delta: int  # -SEM_MAX_DELTA to SEM_MAX_DELTA
    undo: bool


@dataclass(frozen=True, kw_only=True)
class Mutex(Op):
    """``pthread_mutex_init`` with a kind, before the mutex's first use."""

    verb = "mutex"
    name: str
    kind: str  # "normal" or "errorcheck"


@dataclass(frozen=True, kw_only=True)
class Atfork(Op):
    verb = "atfork"
    name: str


@dataclass(frozen=True, kw_only=True)
class Malloc(Op):
    verb = "malloc"
    size: int


@dataclass(frozen=True, kw_only=True)
class Free(Op):
    verb = "free"
    name: str


# --- signals and time -------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Signal(Op):
    verb = "signal"
    signal: str
    action: str  # "ignore", "default" or "catch"


@dataclass(frozen=True, kw_only=True)
class Sigaction(Op):
    """sigaction with flags; `exit` is a handler that calls _exit(code), so that a
    fault (SIGSEGV, SIGBUS) can end the process with an exit status."""

    verb = "sigaction"
    signal: str
    action: str  # "ignore", "default", "catch" or "exit"
    code: int  # the exit status of an `exit` handler; 0 otherwise
    flags: frozenset[str]  # of SIGACTION_FLAGS


SIGACTION_FLAGS = ("norestart", "resethand", "nodefer", "nocldwait", "nocldstop")
"""sigaction's words for SA_RESTART left out, SA_RESETHAND, SA_NODEFER, SA_NOCLDWAIT and
SA_NOCLDSTOP (the last two are SIGCHLD's)."""


@dataclass(frozen=True, kw_only=True)
class Block(Op):
    verb = "block"
    signal: str


@dataclass(frozen=True, kw_only=True)
class Unblock(Op):
    verb = "unblock"
    signal: str


@dataclass(frozen=True, kw_only=True)
class Raise(Op):
    verb = "raise"
    signal: str


@dataclass(frozen=True, kw_only=True)
class Pdeathsig(Op):
    """``prctl(PR_SET_PDEATHSIG)``: the signal the calling thread gets when the thread
    that made its process ends."""

    verb = "pdeathsig"
    signal: str | None  # None: none (0)


@dataclass(frozen=True, kw_only=True)
class Sleep(Op):
    verb = "sleep"
    seconds: float


# --- scheduling and prctl ---------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Nice(Op):
    """``setpriority(PRIO_PROCESS, 0, value)``: the calling thread's nice value."""

    verb = "nice"
    value: int  # -20 to 19


@dataclass(frozen=True, kw_only=True)
class Sched(Op):
    """``sched_setscheduler(0, ...)`` with one of the policies any user may take."""

    verb = "sched"
    policy: str  # "other", "batch" or "idle"
    reset_on_fork: bool  # SCHED_RESET_ON_FORK


@dataclass(frozen=True, kw_only=True)
class Affinity(Op):
    """``sched_setaffinity(0, ...)``: the CPUs the calling thread may run on."""

    verb = "affinity"
    cpus: frozenset[int]


@dataclass(frozen=True, kw_only=True)
class Comm(Op):
    """``prctl(PR_SET_NAME)``: the calling thread's name (``comm``)."""

    verb = "comm"
    name: str


@dataclass(frozen=True, kw_only=True)
class Dumpable(Op):
    """``prctl(PR_SET_DUMPABLE)``: whether the address space's owner may dump or trace it."""

    verb = "dumpable"
    value: int  # 0 or 1


@dataclass(frozen=True, kw_only=True)
class Timerslack(Op):
    """``prctl(PR_SET_TIMERSLACK)``: the calling thread's timer slack (0: its default)."""

    verb = "timerslack"
    ns: int


@dataclass(frozen=True, kw_only=True)
class NoNewPrivs(Op):
    """``prctl(PR_SET_NO_NEW_PRIVS, 1)``: for good, for this thread and what it makes."""

    verb = "no_new_privs"


# --- credentials ------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Setresuid(Op):
    """glibc ``setresuid``: the real, effective and saved user ids of every thread."""

    verb = "setresuid"
    ids: tuple[int, int, int]


@dataclass(frozen=True, kw_only=True)
class Setresgid(Op):
    """glibc ``setresgid``: the real, effective and saved group ids of every thread."""

    verb = "setresgid"
    ids: tuple[int, int, int]


@dataclass(frozen=True, kw_only=True)
class Setgroups(Op):
    """glibc ``setgroups``: the supplementary groups of every thread."""

    verb = "setgroups"
    groups: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Capdrop(Op):
    """``capset``: drop a capability from the calling thread's effective, permitted and
    inheritable sets; with ``bounding``, first from its bounding set (PR_CAPBSET_DROP)."""

    verb = "capdrop"
    capability: str  # "CAP_xxx", one of script.DROPPABLE_CAPS
    bounding: bool
# --- timers, file locks, the alternate stack, exit handlers -------------------------------

@dataclass(frozen=True, kw_only=True)
class Alarm(Op):
    verb = "alarm"
    timer_seconds: int  # 0 disarms


@dataclass(frozen=True, kw_only=True)
class Setitimer(Op):
    verb = "setitimer"
    which: str  # "real", "virtual" or "prof"
    timer_seconds: int  # 0 disarms


@dataclass(frozen=True, kw_only=True)
class TimerCreate(Op):
    """``timer_create`` (CLOCK_MONOTONIC, SIGALRM), then ``timer_settime`` if armed."""

    verb = "timer_create"
    timer_seconds: int  # 0: created, not armed


@dataclass(frozen=True, kw_only=True)
class Sigaltstack(Op):
    verb = "sigaltstack"
    stack_size: int  # bytes; 0: SS_DISABLE


@dataclass(frozen=True, kw_only=True)
class FcntlLock(Op):
    """``fcntl(F_SETLK)`` (or ``F_OFD_SETLK``) over the whole file, never waiting."""

    verb = "fcntl_lock"
    fd: FdRef
    mode: str  # "read", "write" or "unlock"
    ofd: bool  # an open file description lock


@dataclass(frozen=True, kw_only=True)
class Flock(Op):
    """``flock(LOCK_NB | ...)``: never waits."""

    verb = "flock"
    fd: FdRef
    mode: str  # "sh", "ex" or "un"


@dataclass(frozen=True, kw_only=True)
class Atexit(Op):
    """``atexit``: a handler that prints ``data`` (stdio) when the process calls exit()."""

    verb = "atexit"
    data: str


# --- designs Linux does not ship (simulator only) ---------------------------------------

@dataclass(frozen=True, kw_only=True)
class SpawnTemplate(Op):
    verb = "spawn_template"
    program: Program
    actions: tuple[SpawnAction, ...]


@dataclass(frozen=True, kw_only=True)
class SpawnFrom(Op):
    verb = "spawn_from"
    template: str


@dataclass(frozen=True, kw_only=True)
class PidfdEmpty(Op):
    verb = "pidfd_empty"


@dataclass(frozen=True, kw_only=True)
class Configure(Op):
    verb = "configure"
    blank: str
    action: SpawnAction


@dataclass(frozen=True, kw_only=True)
class PidfdExec(Op):
    verb = "pidfd_exec"
    blank: str
    program: Program


@dataclass(frozen=True, kw_only=True)
class CreateProcess(Op):
    verb = "create_process"
    program: Program
    inherit: tuple[FdRef, ...]
