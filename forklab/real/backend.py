"""RealBackend: run a scenario on the Linux kernel, one real process per
scenario process, and observe it from outside through /proc.

What each op does to the kernel is the op itself, run by the probe with the
real C library call (see csrc/probe.c); this module translates ops into probe
commands, binds the names they create, refuses what the language refuses,
and reads the World. The mechanics (channels, settling, cleanup) are in
:mod:`forklab.real.driver`.
"""
from __future__ import annotations

import ctypes
import errno as errno_mod
import fcntl
import functools
import os
import resource
import shutil
import signal
import socket
import stat
import sys
import termios
import threading
import time
import weakref
from collections.abc import Callable
from errno import EBADF
from types import TracebackType
from typing import Any, Self

from forklab import hostcgroup
from forklab.backend import Capabilities
from forklab.layout import REGION_END
from forklab.observe import UNAVAILABLE, MappingObs, ProcessObs, ThreadObs, World, alarm_seconds
from forklab.real import procfs, scratch, sharing
from forklab.real._native import ffi, lib
from forklab.real.driver import (
    Driver,
    DriverError,
    Flight,
    Proc,
    RunTimeout,
    Task,
    errno_name,
)
from forklab.scenario import ops
from forklab.scenario.contract import Names, Standing, check_actor, semaphore_elsewhere
from forklab.scenario.model import FdRef, Program, Range, Scenario, ScenarioError, Where
from forklab.scenario.ops import CLONE_NAMESPACE_FLAGS, Op
from forklab.scenario.placement import Placement
from forklab.scenario.script import MAX_PROCESS_OPS, OBJECT_NAME
from forklab.scenario.validate import (
    MAX_ATEXIT,
    MAX_ENV_VALUE,
    MAX_FD,
    MLOCKALL_COUNTED,
    SHARED_FILE_LOCK,
    check_op,
)
from forklab.scenario.verbs import Handlers
from forklab.vocabulary import (
    CAPABILITY_NUMBERS,
    PAGE,
    SIGNAL_NAMES,
    SIGNAL_NUMBERS,
    capability_names,
    format_size,
    parse_cpu_list,
)

DEFAULT_TIMEOUT = 60.0  # seconds a run may spend in apply/observe
MEMORY_MARGIN = 256 << 20  # what a run leaves free, at least

PROT = {"ro": 0x1, "rw": 0x3, "rx": 0x5, "none": 0x0}
MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS, MAP_NORESERVE = 0x01, 0x02, 0x20, 0x4000
SHMAT_FLAGS = {"rw": 0, "ro": 0o10000, "rx": 0o10000 | 0o100000}  # SHM_RDONLY, SHM_EXEC
SHM_NORESERVE = 0o10000
MREMAP_MAYMOVE = 0x1
MADV = {"dontneed": 4, "free": 8, "dontfork": 10, "dofork": 11, "hugepage": 14,
        "nohugepage": 15, "wipeonfork": 18, "keeponfork": 19}
NAMESPACE_FLAGS = {"pid": 0x20000000, "mnt": 0x20000, "uts": 0x4000000, "ipc": 0x8000000,
                   "net": 0x40000000, "user": 0x10000000}  # CLONE_NEWPID...
CLONE_INTO_CGROUP = 0x200000000  # clone3 only (Linux 5.7)
CLONE_FLAGS = {"vm": 0x100, "fs": 0x200, "files": 0x400, "sighand": 0x800, "pidfd": 0x1000,
               "vfork": 0x4000, "sysvsem": 0x40000, "clear_sighand": 0x100000000,
               **{flag: NAMESPACE_FLAGS[kind] for flag, kind in CLONE_NAMESPACE_FLAGS.items()}}
RLIMIT = {"nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
          "core": resource.RLIMIT_CORE, "stack": resource.RLIMIT_STACK,
          "as": resource.RLIMIT_AS, "memlock": resource.RLIMIT_MEMLOCK}
OPEN_MODE = {"ro": os.O_RDONLY, "wo": os.O_WRONLY, "rw": os.O_RDWR}
SETVBUF = {"full": 0, "line": 1, "none": 2}  # _IOFBF, _IOLBF, _IONBF
MFD_CLOEXEC = 1
WHENCE = {"set": os.SEEK_SET, "cur": os.SEEK_CUR, "end": os.SEEK_END}
SIGNAL_ACTION = {"default": 0, "ignore": 1, "catch": 2, "exit": 3}
SIGACTION_FLAGS = {"norestart": lib.FL_SA_NORESTART, "resethand": lib.FL_SA_RESETHAND,
                   "nodefer": lib.FL_SA_NODEFER, "nocldwait": lib.FL_SA_NOCLDWAIT,
                   "nocldstop": lib.FL_SA_NOCLDSTOP}
MCL_CURRENT, MCL_FUTURE = 1, 2
WALL = 0x40000000  # __WALL: a wait that sees every child, whatever its exit signal
NO_SUCH_CHILD = 2**31 - 1  # a pid no process has: waitpid on it is ECHILD
CLD_EXITED = 1  # waitid's si_code of a child that exited (else killed or dumped)
MUTEX_KINDS = {"normal": 0, "errorcheck": 2}  # PTHREAD_MUTEX_NORMAL, _ERRORCHECK
SCHED_POLICIES = {"other": 0, "batch": 3, "idle": 5}  # SCHED_OTHER, SCHED_BATCH, SCHED_IDLE
POLICY_NAMES = {number: name for name, number in SCHED_POLICIES.items()}
SCHED_RESET_ON_FORK = 0x40000000
CAP_SYS_NICE = 23
CAP_IPC_LOCK = 14
assert lib.FL_MAX_ATEXIT == MAX_ATEXIT, "csrc/protocol.h and validate.py disagree"
ITIMERS = {"real": 0, "virtual": 1, "prof": 2}  # ITIMER_REAL, _VIRTUAL, _PROF
LOCK_TYPES = {"read": fcntl.F_RDLCK, "write": fcntl.F_WRLCK, "unlock": fcntl.F_UNLCK}
FLOCK_OPERATIONS = {"sh": fcntl.LOCK_SH, "ex": fcntl.LOCK_EX, "un": fcntl.LOCK_UN}
MISSING_PROGRAM = ".forklab-missing/program"
MAX_PROCESSES = 2 * MAX_PROCESS_OPS + 1  # what one run may hold, whatever its ops say

FDS_ADDED = {ops.Open: 1, ops.Dup: 1, ops.Dup2: 1, ops.Pipe: 2}
"""How many fds each fd op can add to a table (clone's pidfd and spawn's file
actions are counted in :func:`fd_floor`)."""


def fd_floor(scenario: Scenario) -> int:
    """The lowest fd forklab's own may take in this run: above every fd the scenario
    can have. Fds come lowest first, so a scenario fd above MAX_FD (the highest a
    script may name) means every lower number is open: at most 3 + the fds its ops
    can add, whichever table holds them."""
    added = 0
    for op in scenario.ops:
        added += FDS_ADDED.get(type(op), 0)
        if isinstance(op, ops.Clone) and "pidfd" in op.flags:
            added += 1
        elif isinstance(op, ops.Spawn):
            added += len(op.actions)
    return max(lib.FL_FD_MIN, MAX_FD + 1, 3 + added)


HANDLERS = Handlers("the real backend")
"""The real backend's handler for each verb it runs: ``handler(run, task, op)``."""


@functools.cache  # what this user may see stays so while forklab runs
def _frames_visible() -> bool:
    """Whether pagemap shows this user frame numbers (it needs CAP_SYS_ADMIN)."""
    buf = bytearray(PAGE * 2)
    buf[PAGE] = 1  # a present page of our own
    address = ffi.cast("uintptr_t", ffi.from_buffer(buf))
    entry = procfs.pagemap_entry(os.getpid(), (int(address) + PAGE) // PAGE * PAGE)
    return bool(entry and entry >> 63 & 1 and entry & ((1 << 55) - 1))


@functools.cache  # what this user may see stays so while forklab runs
def _have_pagemap_scan() -> bool:
    """Whether this kernel has the PAGEMAP_SCAN ioctl (Linux 6.7)."""
    try:
        fd = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return lib.fl_have_pagemap_scan(fd) == 1
    finally:
        os.close(fd)


def _map_files_readable() -> bool:
    """Whether this user may open /proc/PID/map_files entries (CAP_CHECKPOINT_RESTORE
    or CAP_SYS_ADMIN): how the byte of shared memory no process has present is read."""
    try:
        entry = next(iter(os.listdir("/proc/self/map_files")))
        os.close(os.open(f"/proc/self/map_files/{entry}", os.O_RDONLY | os.O_CLOEXEC))
    except (OSError, StopIteration):
        return False
    return True


FRAMES_HIDDEN = ("they compare page-frame numbers, which /proc/PID/pagemap shows only to "
                 "root (CAP_SYS_ADMIN); without them a page is known to be shared only "
                 "where no third process of the run could hold it")


@functools.cache  # what this user may see stays so while forklab runs
def _has_capability(cap: int) -> bool:
    status = procfs.status(os.getpid()) or {}
    return bool(int(status.get("CapEff", "0"), 16) >> cap & 1)


def hidden_observables() -> dict[str, str]:
    """The observables the kernel may not show this user, each with why."""
    hidden = {}
    if not _frames_visible():
        hidden.update(dict.fromkeys(("shared_with", "libc_text_same", "libc_relro_same"),
                                    FRAMES_HIDDEN))
        if not _have_pagemap_scan():
            hidden["zero"] = ("this kernel has no PAGEMAP_SCAN (Linux 6.7), and /proc/kpageflags, "
                              "the other way to name the zero page, is root's only")
    if not _has_capability(CAP_SYS_NICE):
        hidden["timer_slack"] = ("/proc/PID/timerslack_ns of another process needs "
                                 "CAP_SYS_NICE")
    if not _map_files_readable():
        hidden["byte"] = ("a byte of shared memory that no process of the run has present is "
                          "read through /proc/PID/map_files, which needs root "
                          "(CAP_CHECKPOINT_RESTORE)")
    return hidden


def _ids(text: str | None) -> tuple[int, ...]:
    """Real, effective and saved ids of a Uid: or Gid: line of /proc/PID/status."""
    return tuple(int(v) for v in (text or "").split()[:3])


def _decode_status(status: int | None) -> tuple[int | None, str | None]:
    if status is None:
        return None, None
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), None
    if os.WIFSIGNALED(status):
        return None, SIGNAL_NAMES.get(os.WTERMSIG(status), f"SIG{os.WTERMSIG(status)}")
    return None, None


PROCESS_COST = 512 << 10
"""Memory a new scenario process takes before it writes anything (its kernel
stack and task, the probe's own page tables and dirty pages), rounded up from
what 100 forks of a probe took from MemAvailable here."""
HUGE = 2 << 20


def _stopped(proc: Proc) -> bool:
    """Whether the process is stopped (its main thread, in state T, as /proc shows
    the process)."""
    st = procfs.stat(proc.pid)
    return st is not None and st.starttime == proc.starttime and st.state in "Tt"


def _wait_status(code: int | None, sig: str | None) -> str:
    """A wait's report of an end, as ``P.last_wait_status`` reads it."""
    return f"killed {sig}" if sig is not None else f"exited {code}"


def estimate_memory(scenario: Scenario) -> tuple[int, int]:
    """(bytes of memory, bytes of disk) a scenario can need at most: every page
    its writes touch, once per write (a write after fork copies), a whole huge
    page per write where THP may back it (mmap thp, or madvise hugepage at any
    time), the page tables over them and those each fork copies, a base cost
    per process, and its files (in the page cache and on disk), again for every
    /bin/cat that may copy them into another file."""
    sizes: dict[str, int] = {}
    private: set[str] = set()
    thp = {op.name for op in scenario.ops if isinstance(op, ops.Mmap) and op.thp} | {
        op.range.mapping for op in scenario.ops
        if isinstance(op, ops.Madvise) and op.advice == "hugepage"}
    memory = disk = files = written = 0
    for op in scenario.ops:
        if isinstance(op, ops.Mremap):
            sizes[op.name] = max(sizes.get(op.name, 0), op.size)
        if isinstance(op, ops.Mmap):
            sizes[op.name] = op.size
            if op.share == "private":
                private.add(op.name)
            if op.backing == "file":
                files += op.size
                disk += op.size
                memory += op.size
        elif isinstance(op, (ops.Write, ops.Mlock)):  # mlock faults its pages in
            rng = op.range
            lo, hi = rng.bounds(sizes.get(rng.mapping, 0))
            if rng.mapping in thp:
                lo, hi = lo // HUGE * HUGE, -(-hi // HUGE) * HUGE
            memory += (hi - lo) + (hi - lo) // 512
            if rng.mapping in private:
                written += hi - lo
        elif isinstance(op, (ops.Fork, ops.Vfork, ops.Clone, ops.Spawn)):
            memory += PROCESS_COST
            if isinstance(op, ops.Fork) or (isinstance(op, ops.Clone) and "vm" not in op.flags):
                memory += written // 512  # the page tables fork copies
        if isinstance(op, (ops.Spawn, ops.Exec)) and op.program.path == "/bin/cat":
            disk += files
            memory += files
    return memory, disk


def _check_region(scenario: Scenario, placement: Placement) -> None:
    """Refuse, before anything runs, a mapping that goes past the region the real
    backend can place mappings in (the simulator's region is a whole address space)."""
    for op in scenario.ops:
        if isinstance(op, ops.Mmap) and placement.end(op.name) > REGION_END:
            raise ScenarioError(
                f"mapping '{op.name}' would end at {format_size(placement.end(op.name))}, past "
                f"the end of the region the real backend places mappings in "
                f"({format_size(REGION_END)}): the scenario's mappings take more address space "
                "than a real process has room for; the simulator can run it", op.where)


class RealQueries:
    """The observables answered on demand, for one observation (until the next op)."""

    def __init__(self, run: RealRun, generation: int) -> None:
        self._run = run
        self._generation = generation

    def _live(self, name: str) -> Proc | None:
        run = self._run
        if run.closed or run.generation != self._generation or run.driver is None:
            return None
        proc = run.driver.procs.get(name)
        if proc is None or proc.dead or proc.image != "probe":
            return None
        return proc

    def _stale(self) -> bool:
        run = self._run
        return run.closed or run.generation != self._generation or run.driver is None

    def _others(self, *procs: Proc) -> list[int]:
        """The pids of the run's other live processes (who else may map a frame)."""
        assert self._run.driver is not None
        skip = {p.pid for p in procs}
        return [p.pid for p in self._run.driver.procs.values()
                if not p.dead and p.pid not in skip]

    def shared_with(self, process: str, mapping: str, other: str) -> Any:
        if self._stale():
            return UNAVAILABLE
        a, b = self._live(process), self._live(other)
        if a is None or b is None or mapping not in self._run.addresses:
            return 0
        if not (self._run.is_mapped(a, mapping) and self._run.is_mapped(b, mapping)):
            return 0
        address = self._run.addresses[mapping]
        size = min(self._run.size_in(a, mapping), self._run.size_in(b, mapping))
        if not self._run.frames_visible:
            n = sharing.shared_pages(sharing.Span(a.pid, address, size // PAGE),
                                     sharing.Span(b.pid, address, size // PAGE),
                                     self._others(a, b))
            return UNAVAILABLE if n is None else n
        try:
            fa = os.open(f"/proc/{a.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return UNAVAILABLE
        try:
            fb = os.open(f"/proc/{b.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(fa)
            return UNAVAILABLE
        try:
            n = lib.fl_shared(fa, fb, address, size // PAGE)
        finally:
            os.close(fa)
            os.close(fb)
        return UNAVAILABLE if n < 0 else int(n)

    def byte(self, process: str, mapping: str, offset: int) -> Any:
        if self._stale():
            return UNAVAILABLE
        proc = self._live(process)
        run = self._run
        if proc is None or mapping not in run.addresses:
            return None
        size = run.size_in(proc, mapping)
        if not 0 <= offset < size or not run.is_mapped(proc, mapping, offset // PAGE * PAGE):
            return None
        address = run.addresses[mapping] + offset
        entry = procfs.pagemap_entry(proc.pid, address)
        if entry is None:
            return UNAVAILABLE
        if entry >> 63 & 1:  # present: reading it takes no fault
            data = procfs.read_mem(proc.pid, address, 1)
            return UNAVAILABLE if data is None else data[0]
        if entry >> 62 & 1:  # in swap: reading it would fault it back
            return UNAVAILABLE
        info = run.mapinfo[mapping]
        if info.backing == "fd":  # what a read sees: the object's (a memfd, an shm object, a file)
            data = procfs.read_backing(proc.pid, address)
            if data is None:
                return UNAVAILABLE
            if data:
                return data[0]
            length = procfs.backing_size(proc.pid, address)
            if length is None:
                return UNAVAILABLE
            return 0 if offset < -(-length // PAGE) * PAGE else None
        if info.backing == "file" and info.path is not None:  # what a read sees: the file's
            try:
                with open(run.scratch_path(info.path), "rb") as f:
                    length = os.fstat(f.fileno()).st_size
                    data = os.pread(f.fileno(), 1, offset)
            except OSError:
                return UNAVAILABLE
            if data:
                return data[0]
            # past the end: zeros up to the end of the file's last page, then SIGBUS
            return 0 if offset < -(-length // PAGE) * PAGE else None
        if info.share == "shared":
            # shared anonymous memory lives in a shmem object: another process
            # (a fork child, or this one before MADV_DONTNEED) may have written it
            data = procfs.read_backing(proc.pid, address)
            if data is None:
                return UNAVAILABLE
            return data[0] if data else None
        return 0

    def committed(self, process: str, mapping: str) -> Any:
        if self._stale():
            return UNAVAILABLE
        return self._committed(process, [mapping])

    def commit(self, process: str) -> Any:
        if self._stale():
            return UNAVAILABLE
        return self._committed(process, list(self._run.addresses))

    def _committed(self, process: str, mappings: list[str]) -> Any:
        """Bytes of these scenario mappings that smaps marks accounted (``ac``)."""
        proc = self._live(process)
        if proc is None:
            return 0
        return self._inside(procfs.accounted(proc.pid), proc, mappings)

    def locked(self, process: str, mapping: str) -> Any:
        if self._stale():
            return UNAVAILABLE
        proc = self._live(process)
        if proc is None:
            return 0
        locked = self._inside(procfs.locked(proc.pid), proc, [mapping])
        return locked if locked is UNAVAILABLE else locked // PAGE

    def _inside(self, spans: list[tuple[int, int]] | None, proc: Proc,
                mappings: list[str]) -> Any:
        """Bytes of these spans inside the ranges of these scenario mappings in proc."""
        if spans is None:
            return UNAVAILABLE
        total = 0
        for name in mappings:
            lo = self._run.addresses[name]
            hi = lo + self._run.size_in(proc, name)
            total += sum(max(0, min(hi, end) - max(lo, start)) for start, end in spans)
        return total

    def rlimit(self, process: str, resource: str) -> Any:
        run = self._run
        proc = None if self._stale() or run.driver is None else run.driver.procs.get(process)
        if proc is None or proc.dead:
            return None
        return procfs.soft_limit(proc.pid, resource)

    def env(self, process: str, variable: str) -> Any:
        """Read from the process's memory as glibc keeps it: ``environ`` (its address is in
        the probe's fl_state), an array of "NAME=value" strings ending in NULL."""
        proc = self._live(process)
        if proc is None:
            return None
        where = procfs.read_mem(proc.pid, proc.state_addr
                                + ffi.offsetof("struct fl_state", "environ_addr"), 8)
        array = procfs.read_mem(proc.pid, int.from_bytes(where, "little"), 8) if where else None
        if not array:
            return None
        start, prefix = int.from_bytes(array, "little"), variable.encode() + b"="
        for index in range(lib.FL_MAX_ENV):
            raw = procfs.read_mem(proc.pid, start + 8 * index, 8)
            entry = int.from_bytes(raw, "little") if raw else 0
            if not entry:
                return None
            text = procfs.read_string(proc.pid, entry, len(prefix) + MAX_ENV_VALUE)
            if text is not None and text.startswith(prefix):
                return text[len(prefix):].decode(errors="replace")
        return None

    def libc_same(self, process: str, other: str, part: str) -> Any:
        if self._stale():
            return UNAVAILABLE
        a, b = self._live(process), self._live(other)
        if a is None or b is None:
            return None
        if not self._run.frames_visible:
            same = sharing.libc_same(a.pid, b.pid, part, self._others(a, b))
            return UNAVAILABLE if same is None else same
        mine, theirs = procfs.libc_parts(a.pid), procfs.libc_parts(b.pid)
        if mine is None or theirs is None:
            return UNAVAILABLE
        fa = procfs.frames(a.pid, *mine[part])
        fb = procfs.frames(b.pid, *theirs[part])
        if fa is None or fb is None:
            return UNAVAILABLE
        both = [(x, y) for x, y in zip(fa, fb) if x is not None and y is not None]
        return bool(both) and all(x == y for x, y in both)

    def semval(self, process: str, semaphore: str) -> Any:
        """Read by forklab itself (the sets live in its IPC namespace), for a live process
        whose main thread is in that namespace too."""
        if self._stale():
            return UNAVAILABLE
        assert self._run.driver is not None
        proc = self._run.driver.procs.get(process)
        semid = self._run.semaphores.get(semaphore)
        if proc is None or proc.dead or semid is None:
            return None
        mine = procfs.namespace(proc.pid, "ipc")
        if mine is None:
            return UNAVAILABLE
        if mine != procfs.namespace(os.getpid(), "ipc"):
            return None
        value = lib.fl_sem_value(semid)
        return UNAVAILABLE if value < 0 else value

    def same_ns(self, process: str, kind: str, other: str, thread: str | None = None) -> Any:
        """Whether /proc/PID/ns/KIND of both (/proc/PID/task/TID/ns/KIND for a thread) is
        one inode: the same namespace."""
        if self._stale():
            return UNAVAILABLE
        procs = self._run.driver.procs if self._run.driver else {}
        a, b = procs.get(process), procs.get(other)
        if a is None or b is None or a.dead or b.dead:
            return None
        task = a.threads.get(thread) if thread else None
        if thread and (task is None or task.gone):
            return None
        mine = procfs.namespace(a.pid, kind, task.tid if task else None)
        theirs = procfs.namespace(b.pid, kind)
        if mine is None or theirs is None:
            return UNAVAILABLE
        return mine == theirs

    def same_file(self, process: str, fd: Any, other: str, other_fd: Any) -> Any:
        if self._stale():
            return UNAVAILABLE
        run = self._run
        assert run.driver is not None
        a, b = run.driver.procs.get(process), run.driver.procs.get(other)
        if a is None or b is None or a.dead or b.dead:
            return False
        rc = lib.fl_kcmp_file(a.pid, b.pid, run.fd_number(fd), run.fd_number(other_fd))
        return rc == 0

    def offset(self, process: str, fd: int) -> Any:
        """fdinfo's ``pos:``: the offset of the open file description, read without
        touching the process."""
        if self._stale():
            return UNAVAILABLE
        proc = self._run.driver.procs.get(process) if self._run.driver else None
        if proc is None or proc.dead:
            return None
        pos = procfs.fd_position(proc.pid, fd)
        return UNAVAILABLE if pos is None else pos

    def locks(self, process: str, fd: int) -> Any:
        """fdinfo's ``lock:`` lines, read without touching the process."""
        if self._stale():
            return UNAVAILABLE
        proc = self._run.driver.procs.get(process) if self._run.driver else None
        if proc is None or proc.dead:
            return frozenset()
        held = procfs.fd_locks(proc.pid, fd)
        return UNAVAILABLE if held is None else held

    def pipe_fill(self, process: str, fd: int) -> Any:
        """FIONREAD on the pipe, through a copy of the process's fd (pidfd_getfd):
        the process is not asked (it may be blocked on that very pipe) and nothing
        it can see changes: the copy refers to the same open file description, which
        adds no reader or writer to the pipe."""
        if self._stale():
            return UNAVAILABLE
        driver = self._run.driver
        assert driver is not None
        proc = driver.procs.get(process)
        if proc is None or proc.dead:
            return None
        copy = _pidfd_getfd(proc.pidfd, fd)
        if copy < 0:
            return None if copy == -EBADF else UNAVAILABLE
        try:
            info = os.fstat(copy)
            if not stat.S_ISFIFO(info.st_mode):
                return None
            forklabs = [out.fd for out in (driver.stdout, driver.stderr) if out is not None]
            if any(os.fstat(mine).st_ino == info.st_ino for mine in forklabs):
                return 0  # forklab's stdout or stderr, read as it comes (as in the model)
            waiting = fcntl.ioctl(copy, termios.FIONREAD, b"\0\0\0\0")
            return int.from_bytes(waiting, sys.byteorder)
        finally:
            os.close(copy)


_libc = ctypes.CDLL(None, use_errno=True)
_SYS_PIDFD_GETFD = 438  # the same number on every architecture (Linux 5.6)


def _pdeathsigs(fl_state: Any) -> dict[int, str]:
    """The parent-death signals the probe noted, by thread id (the main thread's is the
    pid), for the tasks that have one (a fork child's copy of the table also holds its
    parent's tasks: only its own tids are looked up)."""
    tids, sigs = list(fl_state.pdeath_tid), list(fl_state.pdeath_sig)
    return {tid: SIGNAL_NAMES[sig] for tid, sig in zip(tids, sigs) if tid and sig in SIGNAL_NAMES}


def _pidfd_getfd(pidfd: int, fd: int) -> int:
    """A copy (close-on-exec) of another process's fd, or -errno."""
    copy = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
    return copy if copy >= 0 else -ctypes.get_errno()


class RealRun:
    """One scenario running on the kernel. Closing it ends every process."""

    def __init__(self, scenario: Scenario, timeout: float = DEFAULT_TIMEOUT,
                 scratch_parent: str | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.scenario = scenario
        self.closed = False
        self.generation = 0
        self.names = Names()
        self.allocations: dict[str, int] = {}
        self.locks: dict[str, int] = {}
        self.semaphores: dict[str, int] = {}  # a set's name -> its id
        self.atexits = 0  # atexit handlers the run registered, in every process
        self.reaped_by_waits: dict[int, int] = {}  # pid -> wait status (see _waited)
        self.mapinfo = {op.name: op for op in scenario.ops if isinstance(op, ops.Mmap)}
        placement = Placement.of(scenario.ops)
        _check_region(scenario, placement)
        self.addresses, self.sizes = placement.addresses, placement.sizes
        # a process's mapping sizes that an mremap changed (shared with the processes
        # that share its memory: vfork, clone vm)
        self.remapped: dict[str, dict[str, int]] = {}
        self._step_open = False
        self._checked_memory = False
        self.frames_visible = _frames_visible()
        self._have_scan = _have_pagemap_scan()
        self.hides_timer_slack = not _has_capability(CAP_SYS_NICE)
        try:
            self._kpf = os.open("/proc/kpageflags", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._kpf = -1
        self.scratch = scratch.make_dir("run", scratch_parent)
        self.driver: Driver | None = None
        self._own_cgroup: str | None = None  # forklab's, as /proc/PID/cgroup names it
        self.cgroups: list[str] = []  # the run's control groups, made on first use; the
        # first is the run's own, below forklab's, and the others' parent
        self._finalizer = weakref.finalize(self, _cleanup, None, self.scratch, self._kpf,
                                           self.cgroups)
        try:
            self.driver = Driver(self.scratch, timeout, cancel, fd_floor(scenario))
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _cleanup, self.driver, self.scratch,
                                               self._kpf, self.cgroups)
            self.driver.clock_on()
            try:
                self.driver.start_first(scenario.first)
            finally:
                self.driver.clock_off()
        except DriverError as err:
            self.close()
            raise ScenarioError(f"the real backend could not start: {err}") from None
        except BaseException:
            self.close()
            raise

    # -- context manager --------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Kill and reap every process, remove the scratch directory. Idempotent;
        Ctrl-C is held off until it is done."""
        if self.closed:
            return
        self.closed = True
        masked = threading.current_thread() is threading.main_thread()
        if masked:
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._finalizer()
        finally:
            if masked:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)

    # -- helpers ----------------------------------------------------------------------------------
    def scratch_path(self, path: str | None) -> str:
        """An absolute path for a scenario path (inside the scratch directory)."""
        if path is None:
            raise ScenarioError("a path is missing")
        if path == "/dev/null":
            return path
        full = os.path.realpath(os.path.join(self.scratch, path))
        root = os.path.realpath(self.scratch)
        if full != root and not full.startswith(root + os.sep):
            raise ScenarioError(f"path '{path}' leads out of the scratch directory")
        return full

    def fd_number(self, ref: FdRef | None) -> int:
        return self.names.fd_number(ref)

    def is_mapped(self, proc: Proc, mapping: str, offset: int | None = None) -> bool:
        """Whether proc has any page of the mapping's range mapped (the page at
        offset, if given)."""
        lo = self.addresses[mapping] + (offset or 0)
        hi = lo + PAGE if offset is not None else \
            self.addresses[mapping] + self.size_in(proc, mapping)
        return any(start < hi and end > lo for start, end, _ in procfs.maps(proc.pid) or ())

    def _proc(self, name: str, op: Op) -> Proc:
        assert self.driver is not None
        proc = self.driver.procs.get(name)
        if proc is None:
            raise self.names.no_such_process(name, op.where)
        return proc

    def _actor(self, op: Op) -> Task:
        proc = self._proc(op.actor.process, op)
        task = proc.main if op.actor.thread is None else proc.threads.get(op.actor.thread)
        present = task is not None and not task.gone and task.sock is not None
        blocked = task is not None and task.flight is not None and task.flight.blocked
        check_actor(op, Standing(
            ended=("reaped" if proc.reaped else "zombie") if proc.dead else None,
            program=proc.image if proc.image != "probe" else None,
            thread_gone=not present,
            stopped=not proc.dead and _stopped(proc),
            suspended=task is not None and task.suspended,
            blocked_in=task.flight.what if blocked and task and task.flight else None))
        assert task is not None
        return task

    def _call(self, task: Task, op: Op, code: int, args: tuple[int, ...] = (),
              data: bytes = b"", fd: int | None = None, kind: str = "op",
              on_done: Callable[[Flight], None] | None = None, blockable: bool = True,
              hello_sock: socket.socket | None = None, **extra: Any) -> Flight:
        assert self.driver is not None
        self.driver.send(task, code, args, data, fd)
        flight = Flight(task, kind, op.text.strip(), on_done=on_done, blockable=blockable,
                        extra=extra)
        if hello_sock is not None:
            flight.hello_sock = hello_sock
            self.driver.hello_socks[hello_sock] = flight
        return self.driver.fly(flight)

    # -- untrusted input --------------------------------------------------------------------------
    def _check_limits(self, op: Op) -> None:
        """Refuse what this backend cannot hold, beyond the language's own rules
        (:func:`check_op`): the run's mappings and processes."""
        def bad(message: str) -> ScenarioError:
            return ScenarioError(f"refused by the real backend: {message}", op.where)

        if isinstance(op, ops.Dumpable) and op.value == 0 and os.geteuid() != 0:
            raise bad("as a user other than root, forklab cannot read the memory or fds of a "
                      "process that is not dumpable (the kernel lets only root trace it)")
        if isinstance(op, (ops.Write, ops.Read, ops.Munmap, ops.Madvise, ops.Mprotect,
                           ops.Mlock, ops.Munlock)):
            mapping: str | None = op.range.mapping
        elif isinstance(op, (ops.Mmap, ops.Mremap)):
            mapping = op.name
        else:
            mapping = None
        if mapping is not None and mapping not in self.addresses:
            raise bad(f"'{mapping}' is not a mapping of this scenario")
        if isinstance(op, (ops.Fork, ops.Vfork, ops.Clone, ops.Spawn)) \
                and self.driver is not None and len(self.driver.procs) >= MAX_PROCESSES:
            raise bad(f"a real run holds at most {MAX_PROCESSES} processes")

    # -- the protocol -----------------------------------------------------------------------------
    def apply(self, op: Op) -> None:
        if self.closed or self.driver is None:
            raise ScenarioError("this real run has ended", op.where)
        handler = HANDLERS.get(op)
        if handler is None:
            raise ScenarioError(f"'{op.verb}' is a what-if API: it runs on the simulator only",
                                op.where)
        if not self._step_open:
            self._step_open = True
            for proc in self.driver.procs.values():
                proc.faults = 0
        driver = self.driver
        driver.clock_on()
        try:
            if not self._checked_memory:
                self._checked_memory = True
                self._check_memory(op)
            check_op(op)
            self._check_limits(op)
            task = self._actor(op)
            handler(self, task, op)
            driver.settle()
        except RunTimeout as err:
            self.close()
            raise ScenarioError(f"{err}; every process of the run was killed", op.where) from None
        except DriverError as err:
            self.close()
            raise ScenarioError(f"the real backend failed: {err}", op.where) from None
        finally:
            driver.clock_off()

    def observe(self) -> World:
        if self.closed or self.driver is None:
            raise ScenarioError("this real run has ended")
        driver = self.driver
        driver.clock_on()
        try:
            driver.settle()
            self._note_reaps()
            self._step_open = False
            self.generation += 1
            ppids: dict[int, int] = {}
            for proc in driver.procs.values():
                if not proc.reaped:
                    st = procfs.stat(proc.pid)
                    if st is not None and st.starttime == proc.starttime:
                        ppids[proc.pid] = st.ppid
            processes = {name: self._observe(proc, ppids) for name, proc in driver.procs.items()}
            return World(
                processes=processes,
                stdout=driver.stdout.text() if driver.stdout else "",
                fd_names=dict(self.names.fd_names),
                mapping_names=frozenset(self.addresses),
                queries=RealQueries(self, self.generation),
            )
        except RunTimeout as err:
            self.close()
            raise ScenarioError(f"{err}; every process of the run was killed") from None
        except DriverError as err:
            self.close()
            raise ScenarioError(f"the real backend failed: {err}") from None
        finally:
            driver.clock_off()

    @property
    def stderr(self) -> str:
        """What the scenario wrote to stderr (not an observable; for diagnosis)."""
        return self.driver.stderr.text() if self.driver and self.driver.stderr else ""

    # -- observation ------------------------------------------------------------------------------
    def _parent_name(self, ppid: int | None) -> str | None:
        assert self.driver is not None
        if ppid is None:
            return None
        parent = self.driver.by_pid.get(ppid)
        return parent.name if parent is not None else None

    def _observe(self, proc: Proc, ppids: dict[int, int]) -> ProcessObs:
        assert self.driver is not None
        if proc.pid in ppids:
            proc.parent = self._parent_name(ppids[proc.pid])
        elif proc.reaper_is_driver:
            proc.parent = None
        if proc.dead:
            code, sig = _decode_status(proc.wait_status)
            return ProcessObs(proc.name, "reaped" if proc.reaped else "zombie", code, sig,
                              parent=proc.parent, threads=0, faults=proc.faults,
                              minflt=proc.minflt, spawn_us=proc.spawn_us,
                              last_read=proc.last_read, last_result=proc.last_result,
                              last_waited=self._name_of(proc.last_waited),
                              last_wait_status=proc.last_wait_status,
                              lock_result=proc.lock_result)
        status = procfs.status(proc.pid) or {}
        st = procfs.stat(proc.pid)
        fds = procfs.fds(proc.pid, self.driver.fd_floor) or []
        cloexec = frozenset(fd for fd in fds
                            if (procfs.fd_flags(proc.pid, fd) or 0) & os.O_CLOEXEC)
        errno: str | None = None
        attributes: dict[str, Any] = {}
        received: dict[str, int] = {}
        mutexes_locked: frozenset[str] = frozenset()
        stdout_buffered: int | None = None
        pdeath: dict[int, str] = {}  # tid -> its parent-death signal
        dumpable: int | None = None
        vm_pte = 0
        mappings: dict[str, MappingObs] = {}
        if proc.image == "probe":
            raw = procfs.read_mem(proc.pid, proc.errno_addr, 4)
            errno = errno_name(int.from_bytes(raw, "little", signed=True)) if raw else None
            state = procfs.read_mem(proc.pid, proc.state_addr, ffi.sizeof("struct fl_state"))
            fl_state = ffi.cast("struct fl_state *", ffi.from_buffer(state)) if state else None
            runtime = fl_state.runtime_pte_kb if fl_state is not None else 0
            if fl_state is not None:
                received = {SIGNAL_NAMES[n]: fl_state.received[n] for n in SIGNAL_NAMES
                            if fl_state.received[n]}
                mutexes_locked = self._mutexes_locked(proc, fl_state)
                stdout_buffered = _stdout_buffered(proc, fl_state)
                pdeath = _pdeathsigs(fl_state)
                dumpable = fl_state.dumpable
            vm_pte = int(status.get("VmPTE", "0 kB").split()[0]) - runtime
            mappings = self._mappings(proc)
            attributes = self._probe_attributes(proc, fl_state)
        children = tuple(p.name for p in self.driver.procs.values()
                         if not p.reaped and ppids.get(p.pid) == proc.pid)
        sched = procfs.sched(proc.pid)
        return ProcessObs(
            name=proc.name, state=self._state(proc), errno=errno, parent=proc.parent,
            children=children, threads=int(status.get("Threads", "1")), faults=proc.faults,
            minflt=proc.minflt, vm_pte=vm_pte, fds=tuple(fds), cloexec_fds=cloexec,
            last_read=proc.last_read, last_result=proc.last_result,
            last_waited=self._name_of(proc.last_waited),
            last_wait_status=proc.last_wait_status, lock_result=proc.lock_result,
            mutexes_locked=mutexes_locked, stdout_buffered=stdout_buffered,
            sig_ignored=procfs.signal_set(status.get("SigIgn")),
            sig_caught=procfs.signal_set(status.get("SigCgt")),
            sig_blocked=procfs.signal_set(status.get("SigBlk")),
            sig_pending=procfs.signal_set(status.get("SigPnd"))
            | procfs.signal_set(status.get("ShdPnd")),
            sig_received=received,
            leader=self._name_of(int(status["Tgid"])) if "Tgid" in status else None,
            pgrp=self._name_of(st.pgrp) if st is not None else None,
            session=self._name_of(st.session) if st is not None else None,
            cwd=self._cwd(proc), root=self._root(proc), umask=status.get("Umask"),
            cgroup=self._cgroup(proc.pid),
            pdeathsig=pdeath.get(proc.pid),
            spawn_us=proc.spawn_us, mappings=mappings,
            thread_obs={name: self._thread_obs(proc, task, status, pdeath)
                        for name, task in proc.threads.items() if not task.gone},
            nice=sched.nice if sched else None,
            sched=POLICY_NAMES.get(sched.policy, str(sched.policy)) if sched else None,
            cpus=parse_cpu_list(status.get("Cpus_allowed_list")),
            comm=sched.comm if sched else None, dumpable=dumpable,
            exit_signal=SIGNAL_NAMES.get(sched.exit_signal) if sched else None,
            timer_slack=UNAVAILABLE if self.hides_timer_slack
            else procfs.timer_slack(proc.pid),
            no_new_privs=status["NoNewPrivs"] == "1" if "NoNewPrivs" in status else None,
            uids=_ids(status.get("Uid")), gids=_ids(status.get("Gid")),
            groups=tuple(sorted(int(g) for g in status.get("Groups", "").split())),
            caps=capability_names(int(status.get("CapEff", "0"), 16)),
            timers=procfs.posix_timers(proc.pid) or 0, **attributes,
        )

    def _mutexes_locked(self, proc: Proc, fl_state: Any) -> frozenset[str]:
        """The scenario's mutexes whose lock word is set in proc's memory (glibc: 0 free)."""
        if not self.locks:
            return frozenset()
        size = fl_state.mutex_size
        raw = procfs.read_mem(proc.pid, fl_state.locks_addr, size * len(self.locks))
        if raw is None:
            return frozenset()
        return frozenset(name for name, i in self.locks.items()
                         if int.from_bytes(raw[i * size:i * size + 4], "little") != 0)

    def _thread_obs(self, proc: Proc, task: Task, process_status: dict[str, str],
                    pdeath: dict[int, str]) -> ThreadObs:
        status = procfs.task_status(proc.pid, task.tid) or {}
        raw = procfs.read_mem(proc.pid, task.errno_addr, 4) if task.errno_addr else None
        sched = procfs.sched(proc.pid, task.tid)
        attrs = procfs.read_mem(proc.pid, task.attrs_addr,
                                ffi.sizeof("struct fl_task_attrs")) if task.attrs_addr else None
        return ThreadObs(
            errno=errno_name(int.from_bytes(raw, "little", signed=True)) if raw else None,
            sig_blocked=procfs.signal_set(status.get("SigBlk")),
            sig_pending=procfs.signal_set(status.get("SigPnd"))
            | procfs.signal_set(process_status.get("ShdPnd")),
            pdeathsig=pdeath.get(task.tid),
            leader=self._name_of(int(status["Tgid"])) if "Tgid" in status else None,
            nice=sched.nice if sched else None,
            sched=POLICY_NAMES.get(sched.policy, str(sched.policy)) if sched else None,
            cpus=parse_cpu_list(status.get("Cpus_allowed_list")),
            comm=sched.comm if sched else None,
            exit_signal=SIGNAL_NAMES.get(sched.exit_signal) if sched else None,
            no_new_privs=status["NoNewPrivs"] == "1" if "NoNewPrivs" in status else None,
            caps=capability_names(int(status.get("CapEff", "0"), 16)),
            altstack=int(ffi.cast("struct fl_task_attrs *", ffi.from_buffer(attrs)).altstack)
            if attrs else None)

    def _cwd(self, proc: Proc) -> str | None:
        """The working directory as a scratch path ("." the scratch directory itself);
        None if it is not inside the scratch directory or cannot be read."""
        return self._scratch_link(proc, "cwd")

    def _root(self, proc: Proc) -> str | None:
        """The root directory: "/" the machine's, else as a scratch path (chroot)."""
        try:
            if os.readlink(f"/proc/{proc.pid}/root") == "/":
                return "/"
        except OSError:
            return None
        return self._scratch_link(proc, "root")

    def _scratch_link(self, proc: Proc, link: str) -> str | None:
        """Where /proc/PID/LINK leads, as a scratch path; None if outside it or unread."""
        try:
            where = os.readlink(f"/proc/{proc.pid}/{link}")
        except OSError:
            return None
        relative = os.path.relpath(where, os.path.realpath(self.scratch))
        return None if relative == ".." or relative.startswith("../") else relative

    def _probe_attributes(self, proc: Proc, fl_state: Any) -> dict[str, Any]:
        """Timers and the alternate stack as the probe's own calls last read them
        (struct fl_task_attrs: ITIMER_REAL as the instant it expires), and its exit
        handlers; none of them where the record cannot be read."""
        raw = procfs.read_mem(proc.pid, proc.attrs_addr, ffi.sizeof("struct fl_task_attrs")) \
            if proc.attrs_addr else None
        if raw is None or fl_state is None:
            return {}
        attrs = ffi.cast("struct fl_task_attrs *", ffi.from_buffer(raw))
        real = (attrs.real_until_ns - time.monotonic_ns()) / 1e9 if attrs.real_until_ns else 0.0
        return {"alarm": alarm_seconds(real),
                "itimer_virtual": alarm_seconds(attrs.virtual_ns / 1e9),
                "itimer_prof": alarm_seconds(attrs.prof_ns / 1e9),
                "altstack": int(attrs.altstack), "atexit": int(fl_state.atexit_count),
                "atfork": int(fl_state.atfork_count)}

    def _name_of(self, pid: int | None) -> str | None:
        assert self.driver is not None
        child = self.driver.by_pid.get(pid) if pid is not None else None
        return child.name if child is not None else None

    def _state(self, proc: Proc) -> str:
        # stopped first: a main thread released from vfork that met a stop signal on
        # its way out stops before the probe can say vfork returned (its waits in vfork
        # are killable, never stopped)
        if _stopped(proc):
            return "stopped"
        if proc.suspended:
            return "suspended"
        main = proc.main
        if main is not None and main.flight is not None and main.flight.blocked:
            return "blocked"
        if proc.image != "probe":
            # a program waiting for what will never come (cat on a silent pipe)
            tids = procfs.tasks(proc.pid)
            if tids:
                st = procfs.task_stat(proc.pid, tids[0])
                sc = procfs.task_syscall(proc.pid, tids[0])
                if st is not None and st.state == "S" and sc is not None \
                        and sc[0] not in procfs.TIMED_SLEEPS:
                    return "blocked"
        return "running"

    def _mappings(self, proc: Proc) -> dict[str, MappingObs]:
        vmas = procfs.maps(proc.pid) or []
        out: dict[str, MappingObs] = {}
        try:
            pm = os.open(f"/proc/{proc.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return out
        try:
            counts = ffi.new("struct fl_counts *")
            for name, address in self.addresses.items():
                size = self.size_in(proc, name)
                end_of_range = address + size
                pieces = sum(1 for start, end, _ in vmas if start < end_of_range and end > address)
                if not pieces:
                    continue
                # PAGEMAP_SCAN names zero-page PTEs itself; frame flags are read from
                # /proc/kpageflags (one read per frame) only where it is missing
                kpf = self._kpf if self.frames_visible and not self._have_scan else -1
                rc = lib.fl_scan(pm, kpf, address, size // PAGE, counts)
                if rc < 0:
                    raise DriverError(f"reading the pagemap of '{proc.name}' failed: "
                                      f"{os.strerror(-rc)}")
                if counts.zero_scan >= 0:
                    zero: Any = int(counts.zero_scan)
                elif counts.zero_kpf >= 0:
                    zero = int(counts.zero_kpf)
                else:
                    zero = UNAVAILABLE
                out[name] = MappingObs(True, int(counts.present), int(counts.exclusive), zero,
                                       vmas=pieces)
        finally:
            os.close(pm)
        return out

    # -- limits ----------------------------------------------------------------------------------
    def _check_memory(self, op: Op) -> None:
        memory, disk = estimate_memory(self.scenario)
        available, where = procfs.memory_left()
        if available is not None and memory > available - MEMORY_MARGIN:
            raise ScenarioError(
                f"this scenario can need {memory >> 20} MiB of memory (the pages its writes "
                f"touch, page tables, its processes and its files) but only "
                f"{max(available, 0) >> 20} MiB are available ({where}); "
                "the real backend refuses to run it (the simulator can)", op.where)
        if disk:
            st = os.statvfs(self.scratch)
            free = st.f_bavail * st.f_frsize
            if disk > free - MEMORY_MARGIN:
                raise ScenarioError(
                    f"this scenario's files need {disk >> 20} MiB of disk but only "
                    f"{free >> 20} MiB are free", op.where)

    def _check_write(self, op: Op, size: int) -> None:
        available, _ = procfs.memory_left()
        if available is not None and size > available - MEMORY_MARGIN:
            raise ScenarioError(
                f"this write can take {size >> 20} MiB of memory but only {available >> 20} "
                "MiB are available; the real backend refuses it", op.where)

    # -- verbs: memory ----------------------------------------------------------------------------
    def _make_file(self, path: str, size: int, where: Where) -> None:
        """The scratch file behind `mmap file=PATH`: SIZE bytes (of zeros, written in
        4 KiB pieces, so they are in the page cache) unless it is that long already."""
        full = self.scratch_path(path)
        try:
            if os.stat(full, follow_symlinks=False).st_size >= size:
                return
        except FileNotFoundError:
            pass
        except OSError as err:  # a path through a file (the parser refuses it first)
            raise ScenarioError(f"cannot make file={path}: {err.strerror}", where) from None
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise ScenarioError(f"cannot make file={path}: {err.strerror}", where) from None
        try:
            piece = bytes(PAGE)
            for _ in range(size // PAGE):
                os.write(fd, piece)
        finally:
            os.close(fd)

    @HANDLERS.handles(ops.Mmap)
    def _v_mmap(self, task: Task, op: ops.Mmap) -> None:
        name = op.name
        flags = (MAP_SHARED if op.share == "shared" else MAP_PRIVATE)
        flags |= MAP_NORESERVE if op.noreserve else 0
        open_flags, data = -1, b""
        if op.backing == "sysv":
            self._call(task, op, lib.FL_OP_SHMAT,
                       (self.addresses[name], op.size, SHMAT_FLAGS[op.prot],
                        MADV["hugepage"] if op.thp else MADV["nohugepage"],
                        SHM_NORESERVE if op.noreserve else 0),
                       on_done=self._counting_faults(task.proc))
            return
        if op.backing == "fd":
            self._call(task, op, lib.FL_OP_MMAP_FD,
                       (self.addresses[name], op.size, PROT[op.prot], flags,
                        MADV["hugepage"] if op.thp else MADV["nohugepage"],
                        self.fd_number(op.fd)), on_done=self._counting_faults(task.proc))
            return
        if op.backing == "file":
            assert op.path is not None
            self._make_file(op.path, op.size, op.where)
            open_flags = os.O_RDWR if op.share == "shared" else os.O_RDONLY
            data = op.path.encode()
        else:
            flags |= MAP_ANONYMOUS
        advice = MADV["hugepage"] if op.thp else MADV["nohugepage"]
        self._call(task, op, lib.FL_OP_MMAP,
                   (self.addresses[name], op.size, PROT[op.prot], flags, advice, open_flags),
                   data, on_done=self._counting_faults(task.proc))

    def _span(self, task: Task, rng: Range) -> tuple[int, int]:
        """The address and length of a range, in the task's process (as the model's
        ``range_pages``: bounds as written; to the end stops at the current end)."""
        size = self.size_in(task.proc, rng.mapping)
        end = rng.end if rng.end is not None else max(size, rng.start)
        return self.addresses[rng.mapping] + rng.start, end - rng.start

    def size_in(self, proc: Proc, mapping: str) -> int:
        """A mapping's size in proc's address space: its mmap size, unless an mremap
        there changed it."""
        return self.remapped.get(proc.name, {}).get(mapping, self.sizes[mapping])

    @HANDLERS.handles(ops.Munmap)
    def _v_munmap(self, task: Task, op: ops.Munmap) -> None:
        self._call(task, op, lib.FL_OP_MUNMAP, self._span(task, op.range))

    def _counting_faults(self, proc: Proc) -> Callable[[Flight], None]:
        """What counts the faults an op that touches pages took (its reply says)."""
        def done(f: Flight) -> None:
            if f.reply is not None:
                proc.faults += f.reply.v[lib.FL_V_FAULTS]
                proc.minflt += f.reply.v[lib.FL_V_FAULTS]
            elif "death_minflt" in f.extra:  # the loop killed the process partway
                taken = max(0, f.extra["death_minflt"] - f.extra["begin_minflt"])
                proc.faults += taken
                proc.minflt += taken
        return done

    def _touch(self, task: Task, op: ops.Write | ops.Read, code: int, value: int) -> None:
        address, length = self._span(task, op.range)
        if code == lib.FL_OP_WRITE:
            self._check_write(op, length)
        self._call(task, op, code, (address, length // PAGE, value),
                   on_done=self._counting_faults(task.proc))

    @HANDLERS.handles(ops.Write)
    def _v_write(self, task: Task, op: ops.Write) -> None:
        self._touch(task, op, lib.FL_OP_WRITE, op.value)

    @HANDLERS.handles(ops.Read)
    def _v_read(self, task: Task, op: ops.Read) -> None:
        self._touch(task, op, lib.FL_OP_READ, 0)

    @HANDLERS.handles(ops.Madvise)
    def _v_madvise(self, task: Task, op: ops.Madvise) -> None:
        self._call(task, op, lib.FL_OP_MADVISE, (*self._span(task, op.range), MADV[op.advice]))

    @HANDLERS.handles(ops.Mprotect)
    def _v_mprotect(self, task: Task, op: ops.Mprotect) -> None:
        self._call(task, op, lib.FL_OP_MPROTECT, (*self._span(task, op.range), PROT[op.prot]),
                   on_done=self._counting_faults(task.proc))  # it may populate: faults

    @HANDLERS.handles(ops.Mremap)
    def _v_mremap(self, task: Task, op: ops.Mremap) -> None:
        proc = task.proc
        count = self._counting_faults(proc)

        def done(f: Flight) -> None:
            count(f)
            if f.reply is not None and f.reply.v[lib.FL_V_RESULT] != -1:
                self.remapped.setdefault(proc.name, {})[op.name] = op.size

        self._check_write(op, op.size)
        self._call(task, op, lib.FL_OP_MREMAP,
                   (self.addresses[op.name], self.size_in(proc, op.name), op.size,
                    MREMAP_MAYMOVE if op.maymove else 0), on_done=done)

    @HANDLERS.handles(ops.Mlock)
    def _v_mlock(self, task: Task, op: ops.Mlock) -> None:
        address, length = self._span(task, op.range)
        self._check_write(op, length)
        self._call(task, op, lib.FL_OP_MLOCK, (address, length),
                   on_done=self._counting_faults(task.proc))

    @HANDLERS.handles(ops.Munlock)
    def _v_munlock(self, task: Task, op: ops.Munlock) -> None:
        self._call(task, op, lib.FL_OP_MUNLOCK, self._span(task, op.range))

    @HANDLERS.handles(ops.Mlockall)
    def _v_mlockall(self, task: Task, op: ops.Mlockall) -> None:
        """Refused where RLIMIT_MEMLOCK counts, as by the model (forklab/sim/mlockall.py);
        the probe faults its own runtime in first, so the faults it reports are the
        scenario's."""
        unlimited = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0] == resource.RLIM_INFINITY
        if not (_has_capability(CAP_IPC_LOCK) or unlimited) or not self._in_own_user_ns(task):
            raise ScenarioError(MLOCKALL_COUNTED, op.where)
        flags = (MCL_CURRENT if "current" in op.flags else 0) | \
            (MCL_FUTURE if "future" in op.flags else 0)
        self._call(task, op, lib.FL_OP_MLOCKALL, (flags,),
                   on_done=self._counting_faults(task.proc))

    def _in_own_user_ns(self, task: Task) -> bool:
        """Whether the task is in forklab's own user namespace."""
        try:
            return os.readlink(f"/proc/{task.proc.pid}/task/{task.tid}/ns/user") == \
                os.readlink("/proc/self/ns/user")
        except OSError:
            return False

    @HANDLERS.handles(ops.Munlockall)
    def _v_munlockall(self, task: Task, op: ops.Munlockall) -> None:
        self._call(task, op, lib.FL_OP_MUNLOCKALL)

    # -- verbs: processes -------------------------------------------------------------------------
    def _send_with_channel(self, task: Task, code: int, args: tuple[int, ...],
                           second_fd: int | None = None) -> socket.socket:
        """Send a command that makes a new task, with the new task's end of a fresh
        channel; returns forklab's end."""
        assert self.driver is not None
        ours, theirs = self.driver.channel_pair()
        try:
            self.driver.send(task, code, args, b"", theirs.fileno(), second_fd)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return ours

    def _creating(self, task: Task, op: Op, code: int, args: tuple[int, ...], kind: str,
                  vfork: bool, shares_memory: bool, second_fd: int | None = None) -> None:
        """fork, vfork and clone: the child gets a channel of its own."""
        assert self.driver is not None
        name = op.binds[0]
        parent = task.proc
        ours = self._send_with_channel(task, code, args, second_fd)

        def done(f: Flight) -> None:
            assert self.driver is not None
            if f.hello is not None:
                child = self.driver.new_child(name, f.hello, parent.name, ours)
                sizes = self.remapped.setdefault(parent.name, {})
                self.remapped[name] = sizes if shares_memory else dict(sizes)
                if vfork:
                    child.spawn_us = f.hello.v[lib.FL_H_SPAWN_NS] / 1000
                elif f.reply is not None:
                    child.spawn_us = f.reply.v[lib.FL_V_ELAPSED_NS] / 1000
            else:
                ours.close()
                if f.reply is not None:
                    self.names.failed[name] = errno_name(f.reply.err) or "EAGAIN"
            if vfork and f.reply is None and not parent.dead:
                # the calling thread waits in vfork until the child execs or exits
                if f.hello is not None:
                    f.task.suspended = True
                resume = Flight(f.task, "resume", f.what, passive=True,
                                on_done=lambda _r: setattr(f.task, "suspended", False))
                self.driver.fly(resume)

        flight = Flight(task, "vfork" if vfork else kind, op.text.strip(), on_done=done,
                        blockable=not vfork, hello_sock=ours)
        self.driver.hello_socks[ours] = flight
        self.driver.fly(flight)

    @HANDLERS.handles(ops.Fork)
    def _v_fork(self, task: Task, op: ops.Fork) -> None:
        assert self.driver is not None
        self._creating(task, op, lib.FL_OP_FORK, (self.driver.token(),), "fork", False, False)

    @HANDLERS.handles(ops.Vfork)
    def _v_vfork(self, task: Task, op: ops.Vfork) -> None:
        assert self.driver is not None
        self._creating(task, op, lib.FL_OP_VFORK, (self.driver.token(),), "vfork", True, True)

    @HANDLERS.handles(ops.Clone)
    def _v_clone(self, task: Task, op: ops.Clone) -> None:
        assert self.driver is not None
        flags = 0
        for flag in op.flags:
            flags |= CLONE_FLAGS[flag]
        exit_signal = SIGNAL_NUMBERS[op.exit_signal] if op.exit_signal else 0
        if op.cgroup is None:
            self._creating(task, op, lib.FL_OP_CLONE, (self.driver.token(), flags, exit_signal),
                           "clone", "vfork" in op.flags, "vm" in op.flags)
            return
        refused = self._cgroup_base()
        if refused is not None:  # the kernel never sees it: fail as forklab's mkdir did
            self.names.failed[op.binds[0]] = refused
            self._call(task, op, lib.FL_OP_CGROUP, (getattr(errno_mod, refused),),
                       op.cgroup.encode())
            return
        group = os.path.join(self.cgroups[0], op.cgroup)
        try:
            os.mkdir(group, 0o755)
        except FileExistsError:
            pass
        if group not in self.cgroups:
            self.cgroups.append(group)
        fd = os.open(group, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._creating(task, op, lib.FL_OP_CLONE,
                           (self.driver.token(), flags | CLONE_INTO_CGROUP, exit_signal), "clone",
                           "vfork" in op.flags, "vm" in op.flags, fd)
        finally:
            os.close(fd)

    @HANDLERS.handles(ops.Unshare)
    def _v_unshare(self, task: Task, op: ops.Unshare) -> None:
        """unshare(2): the run's process leaves its namespaces for new ones, which no
        other process is in and which go when it and its children have ended; no
        verb changes what a namespace holds (hostname, mounts), so nothing outside
        the run can change."""
        unknown = set(op.kinds) - set(NAMESPACE_FLAGS)
        if unknown or not op.kinds:  # (an op built by hand)
            raise ScenarioError(f"refused: unshare of {sorted(unknown) or 'nothing'}: not "
                                f"namespace kinds", op.where)
        flags = 0
        for kind in op.kinds:
            flags |= NAMESPACE_FLAGS[kind]
        self._call(task, op, lib.FL_OP_UNSHARE, (flags,))

    def _program(self, program: Program) -> tuple[int, str, list[str]]:
        assert self.driver is not None
        if program.kind == "probe":
            return lib.FL_PROG_PROBE, self.driver.probe, [self.driver.probe]
        if program.kind == "missing":
            path = os.path.join(self.scratch, MISSING_PROGRAM)
            return lib.FL_PROG_MISSING, path, [path]
        assert program.path is not None
        return lib.FL_PROG_PROGRAM, program.path, [program.path, *program.args]

    @HANDLERS.handles(ops.Spawn)
    def _v_spawn(self, task: Task, op: ops.Spawn) -> None:
        assert self.driver is not None
        name = op.binds[0]
        parent = task.proc
        kind, path, argv = self._program(op.program)
        attr = sigmask = sigdef = 0
        actions: list[str] = []
        for action in op.actions:
            k = action.kind
            if k == "close":
                actions.append(f"c{self.fd_number(action.fd)}")
            elif k == "dup2":
                actions.append(f"d{self.fd_number(action.fd)}:{action.num}")
            elif k == "open":
                flags = os.O_RDONLY if action.num == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                actions.append(f"o{action.num}:{flags}:{self.scratch_path(action.path)}")
            elif k == "closefrom":
                actions.append(f"f{action.num}")
            elif k == "chdir":
                actions.append(f"h{self.scratch_path(action.path)}")
            elif k == "setsid":
                attr |= lib.FL_SP_SETSID
            elif k == "setpgroup":
                attr |= lib.FL_SP_SETPGROUP
            elif k in ("sigmask", "sigdefault"):
                bits = 0
                for sig in action.signals:
                    bits |= 1 << SIGNAL_NUMBERS[sig]
                if k == "sigmask":
                    attr |= lib.FL_SP_SIGMASK
                    sigmask = bits
                else:
                    attr |= lib.FL_SP_SIGDEF
                    sigdef = bits
        token = self.driver.token()
        strings = [self.driver.address, path, *argv, *actions]
        data = b"\0".join(s.encode() for s in strings) + b"\0"
        probe = kind == lib.FL_PROG_PROBE

        def done(f: Flight) -> None:
            assert self.driver is not None
            self.driver.tokens.pop(token, None)
            r = f.reply
            if r is None or r.v[lib.FL_V_RESULT] <= 0:
                if r is not None:
                    self.names.failed[name] = errno_name(r.v[lib.FL_V_RESULT2]) or "EINVAL"
                if f.hello_sock is not None:
                    f.hello_sock.close()
                return
            pid = r.v[lib.FL_V_RESULT]
            if probe and f.hello is not None:
                child = self.driver.new_child(name, f.hello, parent.name, f.hello_sock)
                assert child.main is not None
                self.driver.send_init(child.main)
            else:
                child = self.driver.new_program(name, pid, parent.name,
                                                path if kind == lib.FL_PROG_PROGRAM else "?")
            child.spawn_us = r.v[lib.FL_V_ELAPSED_NS] / 1000

        # never blockable: posix_spawn waits only for its child to exec or fail, and when
        # it fails glibc's caller reaps it in waitpid — a child forklab does not know,
        # whose caller must not be read as blocked while that child finishes exiting
        flight = self._call(task, op, lib.FL_OP_SPAWN,
                            (token, attr, sigmask, sigdef, kind, len(argv), len(actions)),
                            data, kind="spawn", on_done=done, blockable=False, probe=probe)
        if probe:
            self.driver.tokens[token] = flight

    @HANDLERS.handles(ops.Exec)
    def _v_exec(self, task: Task, op: ops.Exec) -> None:
        kind, path, argv = self._program(op.program)
        data = b"\0".join(s.encode() for s in [path, *argv[1:]]) + b"\0"
        proc = task.proc
        if kind == lib.FL_PROG_PROBE:
            self._call(task, op, lib.FL_OP_EXEC, (kind,), data, kind="exec_probe",
                       blockable=False)
            return

        def done(f: Flight) -> None:
            if f.reply is not None:
                return  # it failed; errno says why
            proc.image = path
            if proc.main is not None:
                proc.main.tid = proc.pid  # exec made the exec'ing thread the leader
            for t in proc.tasks:
                t.gone = t is not proc.main
                if t.sock is not None:
                    t.sock.close()
                    t.sock = None
            proc.threads = {}

        self._call(task, op, lib.FL_OP_EXEC, (kind,), data, kind="exec_prog", on_done=done,
                   blockable=False)

    @HANDLERS.handles(ops.Exit)
    def _v_exit(self, task: Task, op: ops.Exit) -> None:
        # blockable: exit()'s flush of stdout may wait on a full pipe
        self._call(task, op, lib.FL_OP_EXIT, (op.code,), kind="exit")

    @HANDLERS.handles(ops.SysExit)
    def _v__exit(self, task: Task, op: ops.SysExit) -> None:
        self._call(task, op, lib.FL_OP__EXIT, (op.code,), kind="exit", blockable=False)

    @HANDLERS.handles(ops.Wait)
    def _v_wait(self, task: Task, op: ops.Wait) -> None:
        options = (os.WNOHANG if op.nohang else 0) | (os.WUNTRACED if op.untraced else 0) \
            | (WALL if op.all_children else 0)

        def done(f: Flight) -> None:
            if f.reply is None:
                return
            pid, status = f.reply.v[lib.FL_V_RESULT], f.reply.v[lib.FL_V_RESULT2]
            if pid <= 0:
                self._waited(task.proc, None, None)
            elif os.WIFSTOPPED(status):
                self._waited(task.proc, pid, f"stopped {SIGNAL_NAMES[os.WSTOPSIG(status)]}")
            else:
                self._waited(task.proc, pid, _wait_status(*_decode_status(status)), status)

        self._call(task, op, lib.FL_OP_WAIT, (self._wait_pid(task.proc, op.child, op), options),
                   on_done=done)

    @HANDLERS.handles(ops.Waitid)
    def _v_waitid(self, task: Task, op: ops.Waitid) -> None:
        options = (os.WNOWAIT if op.nowait else 0) | (os.WNOHANG if op.nohang else 0)
        idtype = os.P_ALL if op.child is None else os.P_PID

        def done(f: Flight) -> None:
            r = f.reply
            if r is None:
                return
            pid, code, status = r.v[1], r.v[2], r.v[3]
            if r.v[lib.FL_V_RESULT] != 0 or pid <= 0:
                self._waited(task.proc, None, None)
                return
            exited = code == CLD_EXITED
            text = _wait_status(*((status, None) if exited else (None, SIGNAL_NAMES[status])))
            self._waited(task.proc, pid, text,
                         None if op.nowait else (status << 8) if exited else status)

        pid = self._wait_pid(task.proc, op.child, op)
        self._call(task, op, lib.FL_OP_WAITID, (idtype, max(pid, 0), options), on_done=done)

    def _wait_pid(self, waiter: Proc, name: str | None, op: Op) -> int:
        """The pid a wait names, as the waiter numbers it (in a PID namespace the run
        made, its own): -1 for any child; one no process has for a child already
        reaped (waitpid on it is ECHILD, as the model says)."""
        if name is None:
            return -1
        self._note_reaps()
        child = self._proc(name, op)
        pid = waiter.pid_of(child)
        return NO_SUCH_CHILD if child.reaped or pid is None else pid

    def _waited(self, waiter: Proc, pid: int | None, status: str | None,
                reaped: int | None = None) -> None:
        """What a wait returned: the child's pid (None: it returned 0 or failed), its
        status as ``last_wait_status`` reads it, and the wait status of a child it
        reaped. A child that ends at once (a program that finds nothing to do) may
        be reaped before the reply of the call that created it is read, so the
        child is named, and marked reaped, once the run knows it."""
        if pid is not None and len(waiter.pid_namespaces) > 1:  # the waiter's number: ours
            pid = self._pid_seen(waiter, pid)
        waiter.last_waited, waiter.last_wait_status = pid, status
        if pid is not None and reaped is not None:
            self.reaped_by_waits[pid] = reaped
            self._note_reaps()

    def _pid_seen(self, viewer: Proc, number: int) -> int | None:
        """The pid (forklab's number) of the process viewer numbers `number`."""
        assert self.driver is not None
        seen = [p for p in self.driver.procs.values() if viewer.pid_of(p) == number]
        unreaped = [p for p in seen if not p.reaped]
        found = (unreaped or seen)[-1:]
        return found[0].pid if found else None

    def _note_reaps(self) -> None:
        """Mark reaped the children scenario waits reaped, once the run knows them."""
        assert self.driver is not None
        for pid, status in list(self.reaped_by_waits.items()):
            child = self.driver.by_pid.get(pid)
            if child is not None:
                child.dead = child.reaped = child.waited = True
                child.wait_status = status
                del self.reaped_by_waits[pid]

    @HANDLERS.handles(ops.Kill)
    def _v_kill(self, task: Task, op: ops.Kill) -> None:
        target = self._proc(op.target, op)
        sig = SIGNAL_NUMBERS[op.signal]
        if op.thread is not None:
            # tgkill; a thread that ended, or one of a reaped process (whose pid may
            # be anyone's now), is ESRCH without a call
            # (as the sender numbers them: in a PID namespace the run made, its own)
            to = target.threads.get(op.thread)
            tgid = task.proc.pid_of(target)
            tid = task.proc.pid_of(target, to.tid) if to is not None and tgid is not None \
                and not target.reaped else None
            self._call(task, op, lib.FL_OP_TGKILL, (tgid or 0, tid or 0, sig))
            return
        fd = target.pidfd if target.pidfd >= 0 else None
        self._call(task, op, lib.FL_OP_KILL, (sig,), fd=fd)

    @HANDLERS.handles(ops.Thread)
    def _v_thread(self, task: Task, op: ops.Thread) -> None:
        assert self.driver is not None
        name = op.binds[0]
        proc = task.proc
        ours = self._send_with_channel(task, lib.FL_OP_THREAD, (self.driver.token(),))

        def done(f: Flight) -> None:
            assert self.driver is not None
            if f.reply is not None and f.reply.v[0] == 0 and f.hello is not None:
                self.driver.new_thread(proc, name, f.hello, ours)
            else:
                ours.close()
                if f.reply is not None:
                    self.names.failed[name] = errno_name(f.reply.v[0]) or "EAGAIN"

        flight = Flight(task, "thread", op.text.strip(), on_done=done, hello_sock=ours)
        self.driver.hello_socks[ours] = flight
        self.driver.fly(flight)

    @HANDLERS.handles(ops.ThreadExit)
    def _v_thread_exit(self, task: Task, op: ops.ThreadExit) -> None:
        proc = task.proc

        def done(f: Flight) -> None:
            task.gone = True
            if task.sock is not None:
                task.sock.close()
                task.sock = None
            if task.thread is not None:
                proc.threads.pop(task.thread, None)

        self._call(task, op, lib.FL_OP_THREAD_EXIT, kind="thread_exit", on_done=done,
                   blockable=False)

    # -- verbs: files -----------------------------------------------------------------------------
    def _bind_fds(self, op: Op, *slots: int) -> Callable[[Flight], None]:
        assert self.driver is not None
        floor = self.driver.fd_floor

        def done(f: Flight) -> None:
            r = f.reply
            if r is None:
                return
            ok = r.v[lib.FL_V_RESULT] >= 0
            numbers = [r.v[s] for s in slots] if len(slots) > 1 else [r.v[lib.FL_V_RESULT]]
            for name, number in zip(op.binds, numbers):
                if ok and number >= 0:
                    if number >= floor:  # fd_floor says it cannot
                        raise DriverError("the scenario's fds reached forklab's own")
                    self.names.fd_names[name] = number
                else:
                    self.names.failed[name] = errno_name(r.err) or "EBADF"
        return done

    # -- verbs: System V semaphores --------------------------------------------------------------
    def _in_forklab_ipc_namespace(self, task: Task, op: Op) -> None:
        """The run's sets live in forklab's IPC namespace (docs/scenario-language.md,
        "Threads, locks, memory allocation"): a task in another is refused."""
        mine = procfs.namespace(task.proc.pid, "ipc", task.tid)
        if mine is None:
            raise ScenarioError(f"{op.verb}: cannot tell which IPC namespace "
                                f"'{op.actor}' is in (its /proc entry is not readable)",
                                op.where)
        if mine != procfs.namespace(os.getpid(), "ipc"):
            raise semaphore_elsewhere(op)

    @HANDLERS.handles(ops.Semget)
    def _v_semget(self, task: Task, op: ops.Semget) -> None:
        self._in_forklab_ipc_namespace(task, op)
        assert self.driver is not None
        driver = self.driver

        def done(f: Flight) -> None:
            r = f.reply
            if r is None:
                return
            if r.v[lib.FL_V_RESULT] >= 0:
                driver.hold_semaphore_set(r.v[lib.FL_V_RESULT])
                self.semaphores[op.binds[0]] = r.v[lib.FL_V_RESULT]
            else:
                self.names.failed[op.binds[0]] = errno_name(r.err) or "ENOSPC"
        self._call(task, op, lib.FL_OP_SEMGET, on_done=done)

    @HANDLERS.handles(ops.Semop)
    def _v_semop(self, task: Task, op: ops.Semop) -> None:
        """A set whose semget failed is id -1, as a C program would pass it: EINVAL."""
        self._in_forklab_ipc_namespace(task, op)
        self._call(task, op, lib.FL_OP_SEMOP,
                   (self.semaphores.get(op.name, -1), op.delta, int(op.undo)))

    # -- verbs: identity and working directory ----------------------------------------------------
    @HANDLERS.handles(ops.Chdir)
    def _v_chdir(self, task: Task, op: ops.Chdir) -> None:
        absolute = op.path == "/dev/null"
        self._call(task, op, lib.FL_OP_CHDIR, (int(absolute),),
                   b"" if absolute else op.path.encode())

    @HANDLERS.handles(ops.Cgroup)
    def _v_cgroup(self, task: Task, op: ops.Cgroup) -> None:
        """The probe makes the group (once) and writes to its cgroup.procs, with its own
        credentials, below the run's group, which forklab makes on first use and the
        guard removes should forklab die (docs/scenario-language.md, "Identity")."""
        refused = self._cgroup_base()
        if refused is not None:
            self._call(task, op, lib.FL_OP_CGROUP, (getattr(errno_mod, refused),),
                       op.name.encode())
            return
        group = os.path.join(self.cgroups[0], op.name)
        if group not in self.cgroups:
            self.cgroups.append(group)
        base = os.open(self.cgroups[0], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._call(task, op, lib.FL_OP_CGROUP, (0,), op.name.encode(), base)
        finally:
            os.close(base)

    def _cgroup_base(self) -> str | None:
        """Make the run's own control group if need be; the errno that refused it."""
        if self.cgroups:
            return None
        own, refused = hostcgroup.own_group()
        if refused is not None or own is None:
            return refused or "ENOENT"
        base = os.path.join(own, f"forklab-{os.path.basename(self.scratch)}")
        try:
            os.mkdir(base, 0o755)
        except OSError as err:
            return errno_name(err.errno or 0) or "EACCES"
        self.cgroups.append(base)
        assert self.driver is not None and self.driver.guard is not None
        self.driver.guard.hold_dir(self.driver.guard_key, base)
        return None

    def _cgroup(self, pid: int) -> str | None:
        """A process's control group: "" forklab's, else the name of one of the run's."""
        path = hostcgroup.group_of(pid)
        if self._own_cgroup is None:
            self._own_cgroup = hostcgroup.group_of("self") or "/"
        if path is None or path == self._own_cgroup:
            return None if path is None else ""
        runs = self._own_cgroup.rstrip("/") + "/" + os.path.basename(self.cgroups[0]) + "/" \
            if self.cgroups else None
        return path[len(runs):] if runs and path.startswith(runs) else path

    @HANDLERS.handles(ops.Chroot)
    def _v_chroot(self, task: Task, op: ops.Chroot) -> None:
        """chroot(2) into a scratch directory: the process's absolute paths are then
        looked up below it (no program is there: exec is ENOENT); the probe's own
        reads of /proc go through a directory fd opened before."""
        absolute = op.path == "/dev/null"
        self._call(task, op, lib.FL_OP_CHROOT, (int(absolute),),
                   b"" if absolute else op.path.encode())

    @HANDLERS.handles(ops.Umask)
    def _v_umask(self, task: Task, op: ops.Umask) -> None:
        self._call(task, op, lib.FL_OP_UMASK, (op.mask,))

    @HANDLERS.handles(ops.Setpgid)
    def _v_setpgid(self, task: Task, op: ops.Setpgid) -> None:
        """setpgid(pid, pgid) with the pids of the scenario's processes (0 for the caller
        itself and for a group the target leads), so it names nothing outside the run."""
        target, group = self._proc(op.target, op), self._proc(op.group, op)
        caller = task.proc

        def number(proc: Proc) -> int:  # as the caller numbers it (in a PID namespace
            seen = caller.pid_of(proc)  # the run made, its own); one of no process if
            return NO_SUCH_CHILD if seen is None else seen  # it has none there

        pid = 0 if target is caller else number(target)
        pgid = 0 if target is group else number(group)
        self._call(task, op, lib.FL_OP_SETPGID, (pid, pgid))

    @HANDLERS.handles(ops.Setsid)
    def _v_setsid(self, task: Task, op: ops.Setsid) -> None:
        self._call(task, op, lib.FL_OP_SETSID)

    @HANDLERS.handles(ops.Setrlimit)
    def _v_setrlimit(self, task: Task, op: ops.Setrlimit) -> None:
        assert self.driver is not None
        need = self.driver.fd_floor + lib.FL_FD_RESERVE
        if op.resource == "nofile" and op.soft is not None and op.soft < need:
            raise ScenarioError(f"refused by the real backend: this run keeps its own fds "
                                f"from {self.driver.fd_floor} up, so its fd limit must stay "
                                f"at {need} or more", op.where)
        self._call(task, op, lib.FL_OP_SETRLIMIT,
                   (RLIMIT[op.resource], -1 if op.soft is None else op.soft,
                    -1 if op.hard is None else op.hard, int(op.keep_hard)))

    @HANDLERS.handles(ops.Pdeathsig)
    def _v_pdeathsig(self, task: Task, op: ops.Pdeathsig) -> None:
        self._call(task, op, lib.FL_OP_PDEATHSIG,
                   (SIGNAL_NUMBERS[op.signal] if op.signal else 0,))

    @HANDLERS.handles(ops.Setenv)
    def _v_setenv(self, task: Task, op: ops.Setenv) -> None:
        self._call(task, op, lib.FL_OP_SETENV, (),
                   op.variable.encode() + b"\0" + op.value.encode() + b"\0")

    @HANDLERS.handles(ops.Unsetenv)
    def _v_unsetenv(self, task: Task, op: ops.Unsetenv) -> None:
        self._call(task, op, lib.FL_OP_UNSETENV, (), op.variable.encode())

    @HANDLERS.handles(ops.Open)
    def _v_open(self, task: Task, op: ops.Open) -> None:
        flags = OPEN_MODE[op.mode]
        flags |= os.O_CLOEXEC if op.cloexec else 0
        flags |= os.O_APPEND if op.append else 0
        flags |= os.O_CREAT if op.create else 0
        absolute = op.path == "/dev/null"
        self._call(task, op, lib.FL_OP_OPEN, (flags, int(absolute)),
                   b"" if absolute else op.path.encode(), on_done=self._bind_fds(op))

    @HANDLERS.handles(ops.Memfd)
    def _v_memfd(self, task: Task, op: ops.Memfd) -> None:
        flags = MFD_CLOEXEC if op.cloexec else 0
        self._call(task, op, lib.FL_OP_MEMFD, (flags,), op.name.encode(),
                   on_done=self._bind_fds(op))

    @HANDLERS.handles(ops.ShmOpen)
    def _v_shm_open(self, task: Task, op: ops.ShmOpen) -> None:
        if not OBJECT_NAME.fullmatch(op.name):  # it names a file of /dev/shm: never a path
            raise ScenarioError(f"refused: '{op.name}' is not a shared-memory object name",
                                op.where)
        flags = os.O_RDWR | (os.O_CREAT if op.create else 0)
        self._call(task, op, lib.FL_OP_SHM_OPEN, (flags,),
                   scratch.shm_name(self.scratch, op.name).encode(), on_done=self._bind_fds(op))

    @HANDLERS.handles(ops.ShmUnlink)
    def _v_shm_unlink(self, task: Task, op: ops.ShmUnlink) -> None:
        if not OBJECT_NAME.fullmatch(op.name):
            raise ScenarioError(f"refused: '{op.name}' is not a shared-memory object name",
                                op.where)
        self._call(task, op, lib.FL_OP_SHM_UNLINK, (),
                   scratch.shm_name(self.scratch, op.name).encode())

    @HANDLERS.handles(ops.Opendir)
    def _v_opendir(self, task: Task, op: ops.Opendir) -> None:
        path = op.path or "."  # the scratch directory, the probe's working directory
        self._call(task, op, lib.FL_OP_OPENDIR, (), path.encode(), on_done=self._bind_fds(op))

    @HANDLERS.handles(ops.Readdir)
    def _v_readdir(self, task: Task, op: ops.Readdir) -> None:
        self._counted(task, op, lib.FL_OP_READDIR, (self.fd_number(op.fd),))

    @HANDLERS.handles(ops.MqOpen)
    def _v_mq_open(self, task: Task, op: ops.MqOpen) -> None:
        """A new queue under a name of the run's own, which the probe unlinks at once:
        no name outlives the call, and the queue goes with the run's processes."""
        if not OBJECT_NAME.fullmatch(op.name):
            raise ScenarioError(f"refused: '{op.name}' is not a message queue name", op.where)
        self._call(task, op, lib.FL_OP_MQ_OPEN, (),
                   scratch.shm_name(self.scratch, op.name).encode(), on_done=self._bind_fds(op))

    @HANDLERS.handles(ops.Pipe)
    def _v_pipe(self, task: Task, op: ops.Pipe) -> None:
        flags = os.O_CLOEXEC if op.cloexec else 0
        self._call(task, op, lib.FL_OP_PIPE, (flags,), on_done=self._bind_fds(op, 1, 2))

    @HANDLERS.handles(ops.Dup)
    def _v_dup(self, task: Task, op: ops.Dup) -> None:
        self._call(task, op, lib.FL_OP_DUP,
                   (self.fd_number(op.fd), int(op.cloexec)),
                   on_done=self._bind_fds(op))

    @HANDLERS.handles(ops.Dup2)
    def _v_dup2(self, task: Task, op: ops.Dup2) -> None:
        self._call(task, op, lib.FL_OP_DUP2, (self.fd_number(op.fd), op.num))

    @HANDLERS.handles(ops.Close)
    def _v_close(self, task: Task, op: ops.Close) -> None:
        self._call(task, op, lib.FL_OP_CLOSE, (self.fd_number(op.fd),))

    @HANDLERS.handles(ops.Cloexec)
    def _v_cloexec(self, task: Task, op: ops.Cloexec) -> None:
        self._call(task, op, lib.FL_OP_CLOEXEC,
                   (self.fd_number(op.fd), int(op.on)))

    @HANDLERS.handles(ops.CloseRange)
    def _v_close_range(self, task: Task, op: ops.CloseRange) -> None:
        hi = op.hi
        self._call(task, op, lib.FL_OP_CLOSE_RANGE,
                   (op.lo, -1 if hi is None else hi, 4 if op.cloexec else 0))

    def _counted(self, task: Task, op: Op, code: int, args: tuple[int, ...],
                 data: bytes = b"", reads: bool = False) -> None:
        """An op whose return value (a count or an offset, -1 on failure) the main
        thread's ``last_result`` shows once it completes; ``reads``: the data it
        read goes to ``last_read``."""
        proc = task.proc

        def done(f: Flight) -> None:
            r = f.reply
            if r is None:
                return
            result = int(r.v[lib.FL_V_RESULT])
            if task.thread is None:
                proc.last_result = result
            if reads and result >= 0:
                proc.last_read = r.data.decode("utf-8", "replace")

        self._call(task, op, code, args, data, on_done=done)

    @HANDLERS.handles(ops.Writefd)
    def _v_writefd(self, task: Task, op: ops.Writefd) -> None:
        self._counted(task, op, lib.FL_OP_WRITEFD, (self.fd_number(op.fd),), op.data.encode())

    @HANDLERS.handles(ops.Readfd)
    def _v_readfd(self, task: Task, op: ops.Readfd) -> None:
        self._counted(task, op, lib.FL_OP_READFD, (self.fd_number(op.fd),), reads=True)

    @HANDLERS.handles(ops.Lseek)
    def _v_lseek(self, task: Task, op: ops.Lseek) -> None:
        self._counted(task, op, lib.FL_OP_LSEEK,
                      (self.fd_number(op.fd), op.offset, WHENCE[op.whence]))

    @HANDLERS.handles(ops.Pread)
    def _v_pread(self, task: Task, op: ops.Pread) -> None:
        self._counted(task, op, lib.FL_OP_PREAD, (self.fd_number(op.fd), op.offset, op.count),
                      reads=True)

    @HANDLERS.handles(ops.Pwrite)
    def _v_pwrite(self, task: Task, op: ops.Pwrite) -> None:
        self._counted(task, op, lib.FL_OP_PWRITE, (self.fd_number(op.fd), op.offset),
                      op.data.encode())

    @HANDLERS.handles(ops.Ftruncate)
    def _v_ftruncate(self, task: Task, op: ops.Ftruncate) -> None:
        self._counted(task, op, lib.FL_OP_FTRUNCATE, (self.fd_number(op.fd), op.size))

    @HANDLERS.handles(ops.Printf)
    def _v_printf(self, task: Task, op: ops.Printf) -> None:
        self._call(task, op, lib.FL_OP_PRINTF, (), op.data.encode())

    @HANDLERS.handles(ops.Fflush)
    def _v_fflush(self, task: Task, op: ops.Fflush) -> None:
        self._call(task, op, lib.FL_OP_FFLUSH)

    @HANDLERS.handles(ops.Setvbuf)
    def _v_setvbuf(self, task: Task, op: ops.Setvbuf) -> None:
        self._call(task, op, lib.FL_OP_SETVBUF, (SETVBUF[op.mode],))

    # -- verbs: threads and locks -----------------------------------------------------------------
    def _lock(self, name: str, op: Op) -> int:
        if name not in self.locks:
            if len(self.locks) >= lib.FL_MAX_LOCKS:
                raise ScenarioError(f"a real run has at most {lib.FL_MAX_LOCKS} locks", op.where)
            self.locks[name] = len(self.locks)
        return self.locks[name]

    def _lock_call(self, task: Task, op: ops.Lock | ops.Unlock | ops.Trylock, code: int) -> None:
        """A pthread mutex call: what it returns (0 or an error number) is the
        process's ``lock_result``."""
        def done(f: Flight) -> None:
            if f.reply is not None:
                result = f.reply.v[lib.FL_V_RESULT]
                task.proc.lock_result = errno_name(result) if result else 0

        self._call(task, op, code, (self._lock(op.name, op),), on_done=done)

    @HANDLERS.handles(ops.Lock)
    def _v_lock(self, task: Task, op: ops.Lock) -> None:
        self._lock_call(task, op, lib.FL_OP_LOCK)

    @HANDLERS.handles(ops.Unlock)
    def _v_unlock(self, task: Task, op: ops.Unlock) -> None:
        self._lock_call(task, op, lib.FL_OP_UNLOCK)

    @HANDLERS.handles(ops.Trylock)
    def _v_trylock(self, task: Task, op: ops.Trylock) -> None:
        self._lock_call(task, op, lib.FL_OP_TRYLOCK)

    @HANDLERS.handles(ops.Mutex)
    def _v_mutex(self, task: Task, op: ops.Mutex) -> None:
        self._call(task, op, lib.FL_OP_MUTEX, (self._lock(op.name, op), MUTEX_KINDS[op.kind]))

    @HANDLERS.handles(ops.Atfork)
    def _v_atfork(self, task: Task, op: ops.Atfork) -> None:
        self._call(task, op, lib.FL_OP_ATFORK, (self._lock(op.name, op),))

    @HANDLERS.handles(ops.Malloc)
    def _v_malloc(self, task: Task, op: ops.Malloc) -> None:
        def done(f: Flight) -> None:
            if f.reply is not None:
                self.allocations[op.binds[0]] = f.reply.v[lib.FL_V_RESULT]

        self._call(task, op, lib.FL_OP_MALLOC, (op.size,), on_done=done)

    @HANDLERS.handles(ops.Free)
    def _v_free(self, task: Task, op: ops.Free) -> None:
        self._call(task, op, lib.FL_OP_FREE, (self.allocations.get(op.name, 0),))

    # -- verbs: signals ---------------------------------------------------------------------------
    @HANDLERS.handles(ops.Signal)
    def _v_signal(self, task: Task, op: ops.Signal) -> None:
        self._call(task, op, lib.FL_OP_SIGNAL, (SIGNAL_NUMBERS[op.signal],
                                                SIGNAL_ACTION[op.action]))

    @HANDLERS.handles(ops.Sigaction)
    def _v_sigaction(self, task: Task, op: ops.Sigaction) -> None:
        flags = 0
        for word in op.flags:
            flags |= SIGACTION_FLAGS[word]
        self._call(task, op, lib.FL_OP_SIGACTION, (SIGNAL_NUMBERS[op.signal],
                                                   SIGNAL_ACTION[op.action], flags, op.code))

    @HANDLERS.handles(ops.Block)
    def _v_block(self, task: Task, op: ops.Block) -> None:
        self._call(task, op, lib.FL_OP_BLOCK, (SIGNAL_NUMBERS[op.signal],))

    @HANDLERS.handles(ops.Unblock)
    def _v_unblock(self, task: Task, op: ops.Unblock) -> None:
        self._call(task, op, lib.FL_OP_UNBLOCK, (SIGNAL_NUMBERS[op.signal],))

    @HANDLERS.handles(ops.Raise)
    def _v_raise(self, task: Task, op: ops.Raise) -> None:
        self._call(task, op, lib.FL_OP_RAISE, (SIGNAL_NUMBERS[op.signal],))

    # -- verbs: scheduling and prctl ---------------------------------------------------------------
    @HANDLERS.handles(ops.Nice)
    def _v_nice(self, task: Task, op: ops.Nice) -> None:
        self._call(task, op, lib.FL_OP_NICE, (op.value,))

    @HANDLERS.handles(ops.Sched)
    def _v_sched(self, task: Task, op: ops.Sched) -> None:
        flag = SCHED_RESET_ON_FORK if op.reset_on_fork else 0
        self._call(task, op, lib.FL_OP_SCHED, (SCHED_POLICIES[op.policy] | flag,))

    @HANDLERS.handles(ops.Affinity)
    def _v_affinity(self, task: Task, op: ops.Affinity) -> None:
        words = [0] * 8  # 64 CPUs a word, as int64
        for cpu in op.cpus:
            words[cpu // 64] |= 1 << cpu % 64
        self._call(task, op, lib.FL_OP_AFFINITY,
                   tuple(w - (1 << 64) if w >> 63 else w for w in words))

    @HANDLERS.handles(ops.Comm)
    def _v_comm(self, task: Task, op: ops.Comm) -> None:
        self._call(task, op, lib.FL_OP_PRCTL, (lib.FL_PR_NAME,), op.name.encode())

    @HANDLERS.handles(ops.Dumpable)
    def _v_dumpable(self, task: Task, op: ops.Dumpable) -> None:
        self._call(task, op, lib.FL_OP_PRCTL, (lib.FL_PR_DUMPABLE, op.value))

    @HANDLERS.handles(ops.Timerslack)
    def _v_timerslack(self, task: Task, op: ops.Timerslack) -> None:
        self._call(task, op, lib.FL_OP_PRCTL, (lib.FL_PR_TIMERSLACK, op.ns))

    @HANDLERS.handles(ops.NoNewPrivs)
    def _v_no_new_privs(self, task: Task, op: ops.NoNewPrivs) -> None:
        self._call(task, op, lib.FL_OP_PRCTL, (lib.FL_PR_NO_NEW_PRIVS,))

    # -- verbs: credentials --------------------------------------------------------------------
    @HANDLERS.handles(ops.Setresuid)
    def _v_setresuid(self, task: Task, op: ops.Setresuid) -> None:
        self._call(task, op, lib.FL_OP_SETRESUID, op.ids)

    @HANDLERS.handles(ops.Setresgid)
    def _v_setresgid(self, task: Task, op: ops.Setresgid) -> None:
        self._call(task, op, lib.FL_OP_SETRESGID, op.ids)

    @HANDLERS.handles(ops.Setgroups)
    def _v_setgroups(self, task: Task, op: ops.Setgroups) -> None:
        self._call(task, op, lib.FL_OP_SETGROUPS, (len(op.groups), *op.groups))

    @HANDLERS.handles(ops.Capdrop)
    def _v_capdrop(self, task: Task, op: ops.Capdrop) -> None:
        self._call(task, op, lib.FL_OP_CAPDROP,
                   (CAPABILITY_NUMBERS[op.capability], int(op.bounding)))

    @HANDLERS.handles(ops.Sleep)
    def _v_sleep(self, task: Task, op: ops.Sleep) -> None:
        self._call(task, op, lib.FL_OP_SLEEP, (int(op.seconds * 1e9),),
                   blockable=False)

    # -- verbs: timers, file locks, the alternate stack, exit handlers ---------------------------
    @HANDLERS.handles(ops.Alarm)
    def _v_alarm(self, task: Task, op: ops.Alarm) -> None:
        self._call(task, op, lib.FL_OP_ALARM, (op.timer_seconds,))

    @HANDLERS.handles(ops.Setitimer)
    def _v_setitimer(self, task: Task, op: ops.Setitimer) -> None:
        self._call(task, op, lib.FL_OP_SETITIMER, (ITIMERS[op.which], op.timer_seconds))

    @HANDLERS.handles(ops.TimerCreate)
    def _v_timer_create(self, task: Task, op: ops.TimerCreate) -> None:
        self._call(task, op, lib.FL_OP_TIMER_CREATE, (op.timer_seconds,))

    @HANDLERS.handles(ops.Sigaltstack)
    def _v_sigaltstack(self, task: Task, op: ops.Sigaltstack) -> None:
        self._call(task, op, lib.FL_OP_SIGALTSTACK, (op.stack_size,))

    def _lockable(self, task: Task, op: ops.FcntlLock | ops.Flock) -> int:
        """The fd a lock is taken through, unless it is on what the machine shares."""
        number = self.fd_number(op.fd)
        target = procfs.fd_target(task.proc.pid, number) if number >= 0 else None
        if target in ("/dev/null", "anon_inode:[pidfd]"):
            raise ScenarioError(SHARED_FILE_LOCK, op.where)
        return number

    @HANDLERS.handles(ops.FcntlLock)
    def _v_fcntl_lock(self, task: Task, op: ops.FcntlLock) -> None:
        command = fcntl.F_OFD_SETLK if op.ofd else fcntl.F_SETLK
        self._call(task, op, lib.FL_OP_FCNTL_LOCK,
                   (self._lockable(task, op), command, LOCK_TYPES[op.mode]))

    @HANDLERS.handles(ops.Flock)
    def _v_flock(self, task: Task, op: ops.Flock) -> None:
        self._call(task, op, lib.FL_OP_FLOCK,
                   (self._lockable(task, op), FLOCK_OPERATIONS[op.mode]))

    @HANDLERS.handles(ops.Atexit)
    def _v_atexit(self, task: Task, op: ops.Atexit) -> None:
        self.atexits += 1  # (the parser refuses more; ops may be built by hand)
        if self.atexits > MAX_ATEXIT:
            raise ScenarioError(f"a real run registers at most {MAX_ATEXIT} atexit handlers",
                                op.where)
        self._call(task, op, lib.FL_OP_ATEXIT, (), op.data.encode())


def _stdout_buffered(proc: Proc, fl_state: Any) -> int | None:
    """Bytes between stdout's _IO_write_base and _IO_write_ptr: written, not yet flushed."""
    base = procfs.read_mem(proc.pid, fl_state.stdout_wbase_addr, 8)
    ptr = procfs.read_mem(proc.pid, fl_state.stdout_wptr_addr, 8)
    if base is None or ptr is None:
        return None
    return int.from_bytes(ptr, "little") - int.from_bytes(base, "little")


def _cleanup(driver: Driver | None, directory: str, kpf: int, cgroups: list[str]) -> None:
    """Everything a run leaves behind, gone (also run by the finalizer at exit): its
    processes, its scratch directory, its control groups and its shared-memory objects."""
    try:
        if driver is not None:
            driver.close()
    finally:
        for group in reversed(cgroups):  # the run's own group last; an ended process
            try:  # (a zombie too) holds none
                os.rmdir(group)
            except OSError:
                pass
        if kpf >= 0:
            try:
                os.close(kpf)
            except OSError:
                pass
        shutil.rmtree(directory, ignore_errors=True)
        scratch.remove_shm(directory)


class RealBackend:
    """The Linux kernel, driven through forklab's probe."""

    name = "real"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, scratch_parent: str | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.capabilities = Capabilities(sim_only_verbs=False, hidden=hidden_observables())
        self.timeout = timeout  # seconds a run may spend in apply and observe
        self.scratch_parent = scratch_parent  # where scratch directories go (default: $TMPDIR)
        self.cancel = cancel  # once set, every run of this backend stops at its next check
        scratch.remove_leftovers(scratch_parent)

    def start(self, scenario: Scenario) -> RealRun:
        return RealRun(scenario, self.timeout, self.scratch_parent, self.cancel)
