"""What a generated script has done so far, and which next lines are safe.

:class:`ScriptState` is a small, conservative tracker of the world a script
builds: processes and threads, who is alive, fd tables and the pipes behind
them, mappings and their protection, locks, signal dispositions, masks and
pending signals. It knows just enough to offer only next lines that

* the language accepts (every name bound, every actor able to act), and
* the kernel runs the same way every time: no timing (no ``sleep``, no
  ``spawn_us``; a real program that ends on its own is waited for at once), no
  races, no read that waits unless data or end-of-file is certain, no lock (nor
  fork's atfork handler) that waits unless it waits forever (and only when
  blocking is asked for).

It draws from a ``draw`` function (a hypothesis ``data.draw`` or the ``draw``
of a composite strategy), so what it generates shrinks like any hypothesis
example. It does not predict observables: the model does that
(:mod:`forklab.testing.strategies` asks the simulator for expected values).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

from hypothesis import strategies as st

PAGE = 4096

SIGNALS = ("SIGUSR1", "SIGUSR2", "SIGTERM")
"""Signals a generated script sets dispositions for, blocks and raises."""
KILL_SIGNALS = SIGNALS + ("SIGKILL",)

ALL_VERBS = frozenset({
    "mmap", "write", "read", "munmap", "madvise", "mprotect",
    "fork", "vfork", "exec", "exit", "_exit", "wait",
    "pipe", "dup", "dup2", "close", "cloexec", "writefd", "readfd", "close_range",
    "printf", "fflush", "setvbuf",
    "signal", "block", "unblock", "raise", "kill",
    "lock", "unlock", "thread", "thread_exit",
    "open", "spawn", "clone", "malloc", "free", "atfork", "repeat",
})
"""Every verb the generator knows (a deterministic subset of SCENARIOS.md §3)."""

MAPPING_PAGES = (1, 3, 16, 64, 520)  # 520 pages cross a 2 MiB page-table boundary
TEXTS = ("hi", "a\\n", "ok\\n", "xyz", "line one\\nline two\\n")
PIPE_BUDGET = 60_000  # bytes a generated script may leave in one pipe (capacity 64 KiB)
MAX_FDS = 16  # open fds per process
MAX_THREADS = 3  # threads per process, the main one included
MAX_MAPPINGS = 4  # mappings per scenario
LOCKS = ("l1", "l2")
PATHS = ("a.txt", "b.txt", "/dev/null")  # scratch files `open` and spawn's `open=` use
CLONE_FLAGS = ("none", "files", "pidfd", "files,pidfd", "clear_sighand", "sighand")
"""Flag sets of a clone whose child goes on as a process of its own (``sighand``
without ``vm`` is EINVAL: no child); ``vm,vfork`` sets are made like a vfork."""
VFORK_CLONE_FLAGS = ("vm,vfork", "vm,vfork,sighand", "vm,vfork,files", "vm,vfork,pidfd")
MALLOC_SIZES = ("16", "4KiB", "200KiB", "1MiB")  # 200 KiB and up: glibc maps them
MAX_ALLOCS = 4  # allocations per scenario
GHOST = "<gone>"  # the owner of a lock whose owning thread does not exist
WEIGHTS = {"write": 8, "read": 4, "mmap": 2, "fork": 5, "pipe": 3, "writefd": 3, "readfd": 3,
           "lock": 3, "unlock": 3, "wait": 3, "madvise": 3, "mprotect": 3, "kill": 2,
           "exit": 1, "_exit": 1, "raise": 1, "exec": 1, "setvbuf": 1, "close_range": 1,
           "malloc": 1, "free": 1, "atfork": 1, "repeat": 1}
"""How often each verb is chosen among those possible (default 2): memory and
process creation often, the verbs that end a process rarely."""


@dataclass
class MapInfo:
    """One mapping as a process has it."""

    name: str
    pages: int
    share: str  # private | shared
    backing: str  # anon | file
    prot: str = "rw"
    dontfork: bool = False
    wipeonfork: bool = False

    def copy(self) -> "MapInfo":
        return MapInfo(self.name, self.pages, self.share, self.backing, self.prot,
                       self.dontfork, self.wipeonfork)


@dataclass
class OpenFile:
    """An open file description: what it is, and how many fds hold it."""

    kind: str  # null (fd 0), out (stdout), err (stderr), r / w (a pipe's ends),
    # file (a scratch file or /dev/null: reads never wait), pidfd
    pipe: int | None = None
    refs: int = 0


@dataclass
class Proc:
    name: str
    parent: str | None
    state: str = "running"  # running | zombie | reaped (blocked is `frozen`)
    children: list[str] = field(default_factory=list)
    threads: dict[str, bool] = field(default_factory=lambda: {"": False})  # name -> stuck
    frozen: bool = False  # its main thread waits forever: nothing of it acts again
    maps: dict[str, MapInfo] = field(default_factory=dict)
    locks: dict[str, str] = field(default_factory=dict)  # lock -> owning thread ("" main)
    frozen_locks: set[str] = field(default_factory=set)  # someone waits forever on these
    fds: dict[int, tuple[int, bool]] = field(default_factory=dict)  # number -> (file, cloexec)
    disp: dict[str, str] = field(default_factory=dict)  # signal -> ignore | catch
    mask: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    allocs: set[str] = field(default_factory=set)  # malloc names live in its memory
    atfork: list[str] = field(default_factory=list)  # atfork locks, in registration order

    @property
    def alive(self) -> bool:
        return self.state == "running"

    @property
    def has_stuck(self) -> bool:
        return any(self.threads.values())


Draw = Callable[[st.SearchStrategy[Any]], Any]


def pick(draw: Draw, items: Any) -> Any:
    """One of ``items`` (a sequence), drawn as an index: hypothesis caches the
    integer strategy, where a ``sampled_from`` of fresh objects is built anew
    each time, which made generation several times slower."""
    items = items if isinstance(items, (list, tuple)) else list(items)
    return items[draw(st.integers(0, len(items) - 1))] if len(items) > 1 else items[0]


class ScriptState:
    """The tracker. ``next_lines(draw)`` picks safe next line(s) and applies them."""

    def __init__(self, *, first: str = "parent", verbs: frozenset[str] | None = None,
                 max_processes: int = 4, blocking: bool = False,
                 mapping_pool: list[tuple[str, int, str, str]] | None = None) -> None:
        self.verbs = ALL_VERBS if verbs is None else frozenset(verbs) & ALL_VERBS
        self.max_processes = max_processes
        self.blocking = blocking
        self.first = first
        self.procs: dict[str, Proc] = {}
        self.files: dict[int, OpenFile] = {}
        self.pipes: dict[int, int] = {}  # pipe -> bytes buffered
        self.frozen_pipes: set[int] = set()  # someone waits forever to read these
        self.fd_names: dict[str, int] = {}
        self.mappings: dict[str, MapInfo] = {}  # every mapping name bound, as made
        self.thread_names: set[str] = set()
        self.other_names: set[str] = set()  # allocations, and names a failed call bound
        self.paths: set[str] = {"/dev/null"}  # files that exist in the scratch directory
        self._alloc_count = 0
        self.lines: list[str] = []
        self._ids = itertools.count(1)
        self._counters: dict[str, itertools.count] = {}
        # A fixed pool of mappings (name, pages, share, backing) to choose from, for
        # runs whose mapping addresses must be known before the first op (the state machine).
        self.mapping_pool = list(mapping_pool or [])
        first_proc = Proc(first, None)
        for number, kind in ((0, "null"), (1, "out"), (2, "err")):
            fid = self._new_file(kind)
            first_proc.fds[number] = (fid, False)
            self.files[fid].refs += 1
        self.procs[first] = first_proc

    # -- names ------------------------------------------------------------------------
    def fresh(self, prefix: str) -> str:
        counter = self._counters.setdefault(prefix, itertools.count(1))
        while True:
            name = f"{prefix}{next(counter)}"
            if name not in self.procs and name not in self.fd_names \
                    and name not in self.mappings and name not in self.thread_names \
                    and name not in self.other_names \
                    and name not in LOCKS and name != self.first:
                return name

    def _new_file(self, kind: str, pipe: int | None = None) -> int:
        fid = next(self._ids)
        self.files[fid] = OpenFile(kind, pipe)
        return fid

    def bound_processes(self) -> list[str]:
        return list(self.procs)

    def live(self) -> list[Proc]:
        return [p for p in self.procs.values() if p.alive]

    def process_count(self) -> int:
        return len(self.procs)

    # -- fd tables ----------------------------------------------------------------------
    def _install(self, proc: Proc, number: int, fid: int, cloexec: bool) -> None:
        if number in proc.fds:
            self._close(proc, number)
        proc.fds[number] = (fid, cloexec)
        self.files[fid].refs += 1

    def _close(self, proc: Proc, number: int) -> None:
        fid, _ = proc.fds.pop(number)
        self.files[fid].refs -= 1

    @staticmethod
    def _lowest_free(proc: Proc) -> int:
        n = 0
        while n in proc.fds:
            n += 1
        return n

    def _pipe_ends(self, pipe: int) -> tuple[int, int]:
        """(readers, writers): open descriptions' fds on each end of a pipe."""
        readers = writers = 0
        for f in self.files.values():
            if f.pipe == pipe:
                if f.kind == "r":
                    readers += f.refs
                else:
                    writers += f.refs
        return readers, writers

    def _holders(self, fid: int) -> set[str]:
        return {p.name for p in self.procs.values() if p.alive
                for number, (f, _) in p.fds.items() if f == fid}

    def fd_ref(self, number: int) -> str:
        """How a script names fd ``number``: by a name bound to it, else the number."""
        for name, n in self.fd_names.items():
            if n == number:
                return name
        return str(number)

    # -- life and death -----------------------------------------------------------------
    def _die(self, proc: Proc, code: int | None = None, signal: str | None = None) -> None:
        if not proc.alive:
            return
        proc.state = "zombie"
        proc.threads = {}
        proc.frozen = False
        if self._shares_fds(proc):
            proc.fds = {}  # a clone(files) sibling keeps the table
        for number in list(proc.fds):
            self._close(proc, number)
        proc.allocs = set()
        proc.atfork = []
        proc.maps.clear()
        proc.locks.clear()
        proc.frozen_locks.clear()
        proc.pending.clear()
        proc.mask.clear()
        proc.disp.clear()
        for child_name in proc.children:
            child = self.procs[child_name]
            child.parent = None
            if child.state == "zombie":
                child.state = "reaped"
        if proc.parent is None:
            proc.state = "reaped"

    def _shares_fds(self, proc: Proc) -> bool:
        """Whether another live process holds the same fd table (clone files)."""
        return any(p is not proc and p.alive and p.fds is proc.fds
                   for p in self.procs.values())

    def _unshare_fds(self, proc: Proc) -> None:
        """Give ``proc`` a copy of a shared fd table, as execve does."""
        if self._shares_fds(proc):
            proc.fds = dict(proc.fds)
            for fid, _ in proc.fds.values():
                self.files[fid].refs += 1

    def _signal_now(self, proc: Proc, sig: str) -> None:
        """A signal arrives at a live process whose threads all share one mask."""
        if sig == "SIGKILL":
            self._die(proc, signal=sig)
            return
        action = proc.disp.get(sig, "default")
        if sig in proc.mask:
            proc.pending.add(sig)
            return
        if action == "default":
            self._die(proc, signal=sig)

    def _deliver_pending(self, proc: Proc) -> None:
        for sig in sorted(proc.pending):
            if sig not in proc.mask:
                proc.pending.discard(sig)
                if proc.disp.get(sig, "default") == "default":
                    self._die(proc, signal=sig)
                    return

    # -- what can act ---------------------------------------------------------------------
    def actors(self) -> list[tuple[Proc, str]]:
        """(process, thread) pairs that may run the next line ("" = the main thread)."""
        out = []
        for proc in self.procs.values():
            if not proc.alive or proc.frozen:
                continue
            for thread, stuck in proc.threads.items():
                if not stuck:
                    out.append((proc, thread))
        return out

    @staticmethod
    def actor_text(proc: Proc, thread: str) -> str:
        return f"{proc.name}/{thread}" if thread else proc.name

    # -- choosing the next line -----------------------------------------------------------
    def moves(self) -> list[tuple[str, Proc, str]]:
        """Every (verb, process, thread) whose guard holds now, in a stable order."""
        out: list[tuple[str, Proc, str]] = []
        can_create = self.process_count() < self.max_processes
        for proc, thread in self.actors():
            main = thread == ""
            single = len(proc.threads) == 1
            open_high = [n for n in proc.fds if n >= 3]

            def offer(verb: str, ok: bool = True) -> None:
                if ok and verb in self.verbs:
                    out.append((verb, proc, thread))

            offer("mmap", self._can_mmap())
            offer("write", bool(self.mappings))
            offer("read", bool(self.mappings))
            offer("printf")
            offer("fflush")
            offer("setvbuf", main)
            offer("munmap", bool(proc.maps))
            offer("madvise", bool(proc.maps))
            offer("mprotect", bool(proc.maps))
            fork = self._fork_outcome(proc, thread) if can_create else None
            offer("fork", fork == "ok" or (fork == "forever" and self.blocking))
            offer("vfork", can_create and main and single)
            offer("clone", can_create)
            offer("spawn", can_create)
            offer("open", len(proc.fds) < MAX_FDS)
            offer("malloc", self._alloc_count < MAX_ALLOCS)
            offer("free", bool(proc.allocs))
            offer("atfork", main and len(proc.atfork) < 3 and (
                self.blocking or any(lock not in proc.atfork for lock in LOCKS)))
            offer("repeat", bool(self._repeatable(proc, thread, fork)))
            offer("exec", main)
            offer("exit", main)
            offer("_exit", main)
            offer("wait", main and self._waitable(proc) != [])
            offer("kill", main and self._killable(proc) != [])
            offer("thread", main and len(proc.threads) < MAX_THREADS)
            offer("thread_exit", not main)
            offer("pipe", len(proc.fds) + 2 <= MAX_FDS)
            offer("dup", len(proc.fds) < MAX_FDS)
            offer("dup2", bool(open_high) or len(proc.fds) > 0)
            offer("close", True)
            offer("cloexec", bool(open_high))
            offer("close_range", True)
            offer("writefd", self._writable(proc) != [])
            offer("readfd", self._readable(proc, thread) != [])
            offer("signal", main)
            offer("block", main and single)
            offer("unblock", main and single)
            offer("raise", main)
            offer("lock", self._lockable(proc, thread) != [])
            offer("unlock", bool(self._unlockable(proc, thread)))
        return out

    def _can_mmap(self) -> bool:
        if self.mapping_pool:
            return any(name not in self.mappings for name, *_ in self.mapping_pool)
        return len(self.mappings) < MAX_MAPPINGS

    def _waitable(self, proc: Proc) -> list[str]:
        out = []
        for name in proc.children:
            child = self.procs[name]
            if child.state == "zombie":
                out.append(name)
            elif self.blocking and child.alive and child.frozen:
                out.append(name)  # waits forever: the child never ends
        return out

    def _killable(self, proc: Proc) -> list[str]:
        return [name for name in proc.children if self.procs[name].state != "reaped"]

    def _writable(self, proc: Proc) -> list[int]:
        out = []
        for number, (fid, _) in proc.fds.items():
            f = self.files[fid]
            if f.kind == "w":
                if f.pipe in self.frozen_pipes:
                    continue  # a reader waits forever on it: keep it that way
                out.append(number)
            elif f.kind in ("out", "r", "file", "pidfd"):
                out.append(number)  # stdout, a file; EBADF on a read end, EINVAL on a pidfd
        return out

    def _readable(self, proc: Proc, thread: str) -> list[int]:
        out = []
        for number, (fid, _) in proc.fds.items():
            f = self.files[fid]
            if f.kind in ("null", "w", "out", "file", "pidfd"):
                out.append(number)  # never waits: data, end-of-file, EBADF or EINVAL
            elif f.kind == "r":
                assert f.pipe is not None
                _, writers = self._pipe_ends(f.pipe)
                if self.pipes[f.pipe] > 0 or writers == 0:
                    out.append(number)
                elif self.blocking and thread == "" and self._forever_read(proc, f.pipe):
                    out.append(number)
        return out

    def _forever_read(self, proc: Proc, pipe: int) -> bool:
        """A read that waits forever: every write end is this process's own."""
        holders = {name for fid, f in self.files.items() if f.pipe == pipe and f.kind == "w"
                   for name in self._holders(fid)}
        return holders == {proc.name}

    def _lockable(self, proc: Proc, thread: str) -> list[str]:
        out = []
        for lock in LOCKS:
            owner = proc.locks.get(lock)
            if owner is None:
                out.append(lock)
            elif self.blocking and (owner == thread or owner == GHOST
                                    or proc.threads.get(owner, True)):
                out.append(lock)  # waits forever: its owner will never unlock it
        return out

    def _unlockable(self, proc: Proc, thread: str) -> list[str]:
        return [lock for lock, owner in proc.locks.items()
                if owner == thread and lock not in proc.frozen_locks]

    def next_lines(self, draw: Draw) -> list[str]:
        """Choose a safe next line (two for vfork), apply it here, and return it."""
        moves = self.moves()
        if not moves:
            return []
        offered = list(dict.fromkeys(verb for verb, _, _ in moves))
        weighted = [verb for verb in offered for _ in range(WEIGHTS.get(verb, 2))]
        verb = pick(draw, weighted)
        verb, proc, thread = pick(draw, [m for m in moves if m[0] == verb])
        lines = getattr(self, "_g_" + verb)(draw, proc, thread)
        self.lines.extend(lines)
        return lines

    # -- generators: memory ----------------------------------------------------------------
    def _range(self, draw: Draw, m: MapInfo) -> str:
        kind = pick(draw, ("all", "page", "span"))
        if kind == "all" or m.pages == 1:
            return m.name
        if kind == "page":
            return f"{m.name}[{draw(st.integers(0, m.pages - 1))}p]"
        lo = draw(st.integers(0, m.pages - 1))
        hi = draw(st.integers(lo + 1, m.pages))
        return f"{m.name}[{lo}p:{hi}p]"

    def _pick_mapping(self, draw: Draw, proc: Proc) -> MapInfo:
        """Mostly one the process has; now and then one it lacks (a real SIGSEGV)."""
        if proc.maps and (len(self.mappings) == len(proc.maps)
                          or draw(st.integers(0, 7)) > 0):
            name = pick(draw, sorted(proc.maps))
        else:
            name = pick(draw, sorted(self.mappings))
        return self.mappings[name]

    def _g_mmap(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        if self.mapping_pool:
            free = [spec for spec in self.mapping_pool if spec[0] not in self.mappings]
            name, pages, share, backing = pick(draw, free)
        else:
            name = self.fresh("m")
            pages = pick(draw, MAPPING_PAGES)
            share = pick(draw, ("private", "shared"))
            backing = pick(draw, ("anon", "file"))
        info = MapInfo(name, pages, share, backing)
        self.mappings[name] = info
        proc.maps[name] = info.copy()
        if backing == "file":
            self.paths.add(f"{name}.bin")
        back = f"file={name}.bin" if backing == "file" else "anon"
        return [f"{self.actor_text(proc, thread)}: mmap {name} {pages}p {back} {share}"]

    def _touch(self, proc: Proc, name: str, write: bool) -> None:
        m = proc.maps.get(name)
        if m is None or m.prot == "none" or (write and m.prot != "rw"):
            self._die(proc, signal="SIGSEGV")

    def _g_write(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        m = self._pick_mapping(draw, proc)
        rng = self._range(draw, m)
        value = pick(draw, (None, 0, 7, 255))
        self._touch(proc, m.name, write=True)
        suffix = "" if value is None else f" = {value}"
        return [f"{self.actor_text(proc, thread)}: write {rng}{suffix}"]

    def _g_read(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        m = self._pick_mapping(draw, proc)
        rng = self._range(draw, m)
        self._touch(proc, m.name, write=False)
        return [f"{self.actor_text(proc, thread)}: read {rng}"]

    def _g_munmap(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = pick(draw, sorted(proc.maps))
        del proc.maps[name]
        return [f"{self.actor_text(proc, thread)}: munmap {name}"]

    def _g_madvise(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = pick(draw, sorted(proc.maps))
        advice = pick(draw, ("dontneed", "dontfork", "dofork", "wipeonfork",
                                       "keeponfork"))
        m = proc.maps[name]
        if advice == "dontfork":
            m.dontfork = True
        elif advice == "dofork":
            m.dontfork = False
        elif advice == "wipeonfork" and m.share == "private" and m.backing == "anon":
            m.wipeonfork = True  # (EINVAL on shared and file mappings)
        elif advice == "keeponfork":
            m.wipeonfork = False
        return [f"{self.actor_text(proc, thread)}: madvise {name} {advice}"]

    def _g_mprotect(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = pick(draw, sorted(proc.maps))
        prot = pick(draw, ("ro", "rw", "none"))
        proc.maps[name].prot = prot
        return [f"{self.actor_text(proc, thread)}: mprotect {name} {prot}"]

    # -- generators: processes ---------------------------------------------------------------
    def _child(self, proc: Proc, thread: str, name: str, *, share_memory: bool,
               share_files: bool = False) -> Proc:
        child = Proc(name, proc.name)
        proc.children.append(name)
        if share_files:
            child.fds = proc.fds
        else:
            for number, (fid, cloexec) in proc.fds.items():
                child.fds[number] = (fid, cloexec)
                self.files[fid].refs += 1
        child.disp = dict(proc.disp)
        child.mask = set(proc.mask)
        if not share_memory:
            child.maps = {n: m.copy() for n, m in proc.maps.items() if not m.dontfork}
            for lock, owner in proc.locks.items():
                child.locks[lock] = "" if owner == thread else GHOST
            child.allocs = set(proc.allocs)
            child.atfork = list(proc.atfork)
        self.procs[name] = child
        return child

    def _fork_outcome(self, proc: Proc, thread: str) -> str | None:
        """What libc's fork does about the atfork prepare handlers: "ok"; "forever"
        (a prepare handler waits for a lock that is never released: held by the
        forking thread, an earlier handler of this fork, a thread that is gone or
        stuck); None when it would wait for a live thread to unlock (a race of
        the script's order, never offered)."""
        taken: set[str] = set()
        for lock in reversed(proc.atfork):  # prepare handlers, last registered first
            owner = proc.locks.get(lock)
            if owner is None and lock not in taken:
                taken.add(lock)
            elif lock in taken or owner == thread or owner == GHOST \
                    or proc.threads.get(owner or "", True):
                return "forever"
            else:
                return None
        return "ok"

    def _g_fork(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = self.fresh("c")
        line = f"{self.actor_text(proc, thread)}: fork -> {name}"
        if self._fork_outcome(proc, thread) == "forever":
            for lock in reversed(proc.atfork):  # the handlers before the stuck one lock
                if lock in proc.locks:
                    proc.frozen_locks.add(lock)
                    break
                proc.locks[lock] = thread
            proc.threads[thread] = True
            proc.frozen = proc.frozen or thread == ""
            self.other_names.add(name)  # bound only if the fork ever returned
            return [line]
        self._child(proc, thread, name, share_memory=False)
        child = self.procs[name]
        for lock in proc.atfork:  # parent and child handlers unlock
            child.locks.pop(lock, None)
        return [line]

    def _g_vfork(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = self.fresh("v")
        child = self._child(proc, thread, name, share_memory=True)
        lines = [f"{proc.name}: vfork -> {name}"]
        if draw(st.booleans()):
            code = draw(st.integers(0, 3))
            self._die(child, code=code)
            lines.append(f"{name}: _exit {code}")
        else:
            self._exec(child)
            lines.append(f"{name}: exec probe")
        return lines

    def _exec(self, proc: Proc) -> None:
        proc.threads = {"": False}
        self._unshare_fds(proc)
        proc.allocs = set()
        proc.atfork = []
        for number, (_, cloexec) in list(proc.fds.items()):
            if cloexec:
                self._close(proc, number)
        proc.maps = {}
        proc.locks = {}
        proc.frozen_locks = set()
        proc.disp = {sig: a for sig, a in proc.disp.items() if a == "ignore"}

    def _waiter(self, proc: Proc) -> Proc | None:
        """proc's parent, if its main thread can wait for proc at once."""
        parent = self.procs.get(proc.parent or "")
        if parent is None or not parent.alive or parent.frozen or parent.threads.get("", True):
            return None
        return parent

    def _g_exec(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        kind = draw(st.integers(0, 5))
        if kind == 0:
            return [f"{proc.name}: exec missing"]  # ENOENT: nothing changes but errno
        parent = self._waiter(proc)
        if kind == 1 and parent is not None:
            # a real program ends on its own: its parent waits for it at once
            program = pick(draw, ("/bin/true", "/bin/false"))
            self._exec(proc)
            self._die(proc, code=0 if program == "/bin/true" else 1)
            proc.state = "reaped"
            parent.children.remove(proc.name)
            return [f"{proc.name}: exec {program}", f"{parent.name}: wait {proc.name}"]
        self._exec(proc)
        return [f"{proc.name}: exec probe"]

    def _g_exit(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        code = draw(st.integers(0, 3))
        self._die(proc, code=code)
        return [f"{proc.name}: exit {code}"]

    def _g__exit(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        code = draw(st.integers(0, 3))
        self._die(proc, code=code)
        return [f"{proc.name}: _exit {code}"]

    def _g_wait(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = pick(draw, self._waitable(proc))
        child = self.procs[name]
        if child.state == "zombie":
            child.state = "reaped"
            proc.children.remove(name)
        else:  # a child that never ends: this process waits forever
            proc.threads[""] = True
            proc.frozen = True
        return [f"{proc.name}: wait {name}"]

    def _g_kill(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = pick(draw, self._killable(proc))
        sig = pick(draw, KILL_SIGNALS)
        target = self.procs[name]
        if target.alive:
            self._signal_now(target, sig)
        return [f"{proc.name}: kill {name} {sig}"]

    def _g_thread(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = self.fresh("t")
        self.thread_names.add(name)
        proc.threads[name] = False
        return [f"{proc.name}: thread -> {name}"]

    def _g_thread_exit(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        del proc.threads[thread]
        for lock, owner in proc.locks.items():
            if owner == thread:
                proc.locks[lock] = GHOST
        return [f"{proc.name}/{thread}: exit"]

    # -- generators: files -----------------------------------------------------------------------
    def _pick_fd(self, draw: Draw, numbers: list[int]) -> int:
        return pick(draw, sorted(numbers))

    def _g_pipe(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        cloexec = draw(st.booleans())
        pipe = next(self._ids)
        self.pipes[pipe] = 0
        r, w = self.fresh("r"), self.fresh("w")
        for name, kind in ((r, "r"), (w, "w")):
            number = self._lowest_free(proc)
            self._install(proc, number, self._new_file(kind, pipe), cloexec)
            self.fd_names[name] = number
        flag = " cloexec" if cloexec else ""
        return [f"{self.actor_text(proc, thread)}: pipe{flag} -> {r}, {w}"]

    def _g_dup(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        source = self._pick_fd(draw, list(proc.fds))
        cloexec = draw(st.booleans())
        name = self.fresh("d")
        number = self._lowest_free(proc)
        self._install(proc, number, proc.fds[source][0], cloexec)
        self.fd_names[name] = number
        flag = " cloexec" if cloexec else ""
        return [f"{self.actor_text(proc, thread)}: dup {self.fd_ref(source)}{flag} -> {name}"]

    def _g_dup2(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        source = self._pick_fd(draw, list(proc.fds))
        target = pick(draw, sorted({3, 4, 5, 6, 9, 10} | {n for n in proc.fds
                                                                      if n >= 3}))
        if target != source:
            if target not in proc.fds and len(proc.fds) >= MAX_FDS:
                target = source
            else:
                self._install(proc, target, proc.fds[source][0], False)
        return [f"{self.actor_text(proc, thread)}: dup2 {self.fd_ref(source)} {target}"]

    def _g_close(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        candidates = sorted(n for n in proc.fds if n >= 3) or [7]
        number = pick(draw, candidates + [11])  # 11: mostly EBADF
        if number in proc.fds:
            self._close(proc, number)
        return [f"{self.actor_text(proc, thread)}: close {self.fd_ref(number)}"]

    def _g_cloexec(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        number = self._pick_fd(draw, [n for n in proc.fds if n >= 3])
        on = draw(st.booleans())
        proc.fds[number] = (proc.fds[number][0], on)
        return [f"{self.actor_text(proc, thread)}: cloexec {self.fd_ref(number)} "
                f"{'on' if on else 'off'}"]

    def _g_close_range(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        lo = draw(st.integers(3, 8))
        hi = pick(draw, (None, lo, lo + 1, lo + 4))
        cloexec = draw(st.booleans())
        for number in sorted(proc.fds):
            if number >= lo and (hi is None or number <= hi):
                if cloexec:
                    proc.fds[number] = (proc.fds[number][0], True)
                else:
                    self._close(proc, number)
        flag = " cloexec" if cloexec else ""
        return [f"{self.actor_text(proc, thread)}: close_range {lo} "
                f"{'max' if hi is None else hi}{flag}"]

    def _g_writefd(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        number = self._pick_fd(draw, self._writable(proc))
        text = pick(draw, TEXTS)
        f = self.files[proc.fds[number][0]]
        line = f'{self.actor_text(proc, thread)}: writefd {self.fd_ref(number)} "{text}"'
        if f.kind == "w":
            assert f.pipe is not None
            readers, _ = self._pipe_ends(f.pipe)
            size = len(text.replace("\\n", "\n"))
            if readers == 0:
                self._die(proc, signal="SIGPIPE")  # nobody can read it: SIGPIPE, fatal
            elif self.pipes[f.pipe] + size > PIPE_BUDGET:
                return [f"{self.actor_text(proc, thread)}: fflush"]
            else:
                self.pipes[f.pipe] += size
        return [line]

    def _g_readfd(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        number = self._pick_fd(draw, self._readable(proc, thread))
        f = self.files[proc.fds[number][0]]
        if f.kind == "r":
            assert f.pipe is not None
            _, writers = self._pipe_ends(f.pipe)
            if self.pipes[f.pipe] > 0:
                self.pipes[f.pipe] = 0
            elif writers > 0:  # waits forever (only offered when blocking is asked for)
                proc.threads[thread] = True
                proc.frozen = True
                self.frozen_pipes.add(f.pipe)
        return [f"{self.actor_text(proc, thread)}: readfd {self.fd_ref(number)}"]

    def _g_printf(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        text = pick(draw, TEXTS)
        return [f'{self.actor_text(proc, thread)}: printf "{text}"']

    def _g_fflush(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        return [f"{self.actor_text(proc, thread)}: fflush"]

    def _g_setvbuf(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        mode = pick(draw, ("none", "line", "full"))
        return [f"{proc.name}: setvbuf {mode}"]

    # -- generators: signals -------------------------------------------------------------------
    def _g_signal(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        sig = pick(draw, SIGNALS)
        action = pick(draw, ("ignore", "default", "catch"))
        if action == "default":
            proc.disp.pop(sig, None)
        else:
            proc.disp[sig] = action
        if action == "ignore":
            proc.pending.discard(sig)  # SIG_IGN discards what is pending
        return [f"{proc.name}: signal {sig} {action}"]

    def _g_block(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        sig = pick(draw, SIGNALS)
        proc.mask.add(sig)
        return [f"{proc.name}: block {sig}"]

    def _g_unblock(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        sig = pick(draw, SIGNALS)
        proc.mask.discard(sig)
        self._deliver_pending(proc)
        return [f"{proc.name}: unblock {sig}"]

    def _g_raise(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        sig = pick(draw, KILL_SIGNALS)
        self._signal_now(proc, sig)
        return [f"{proc.name}: raise {sig}"]

    # -- generators: locks -------------------------------------------------------------------
    def _g_lock(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        lock = pick(draw, self._lockable(proc, thread))
        if lock in proc.locks:  # waits forever (blocking was asked for)
            proc.threads[thread] = True
            proc.frozen_locks.add(lock)
            if thread == "":
                proc.frozen = True
        else:
            proc.locks[lock] = thread
        return [f"{self.actor_text(proc, thread)}: lock {lock}"]

    def _g_unlock(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        lock = pick(draw, self._unlockable(proc, thread))
        del proc.locks[lock]
        return [f"{self.actor_text(proc, thread)}: unlock {lock}"]

    # -- generators: more ways to make a process --------------------------------------------
    def _pidfd(self, proc: Proc) -> None:
        """clone(pidfd): a close-on-exec pidfd at the parent's lowest free number."""
        if len(proc.fds) < MAX_FDS:
            self._install(proc, self._lowest_free(proc), self._new_file("pidfd"), True)

    def _g_clone(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = self.fresh("k")
        vm = thread == "" and len(proc.threads) == 1 and draw(st.booleans())
        flags = pick(draw, VFORK_CLONE_FLAGS if vm else CLONE_FLAGS)
        head = f"{self.actor_text(proc, thread)}: clone {flags.replace(',', ', ')} -> {name}"
        parts = set(flags.split(","))
        if flags == "sighand":  # CLONE_SIGHAND needs CLONE_VM: EINVAL, no child
            self.other_names.add(name)
            return [head]
        child = self._child(proc, thread, name, share_memory=vm,
                            share_files="files" in parts)
        if "pidfd" in parts:
            self._pidfd(proc)
        if "clear_sighand" in parts:
            child.disp = {sig: a for sig, a in child.disp.items() if a == "ignore"}
        if not vm:
            return [head]
        if draw(st.booleans()):  # a vfork child: its next line, at once, ends or execs it
            code = draw(st.integers(0, 3))
            self._die(child, code=code)
            return [head, f"{name}: _exit {code}"]
        self._exec(child)
        return [head, f"{name}: exec probe"]

    def _spawn_actions(self, draw: Draw, proc: Proc
                       ) -> tuple[list[str], dict[int, tuple[int, bool]], set[str], set[str] | None]:
        """Draw posix_spawn actions and run them on a copy of ``proc``'s table, in
        order, as the child does: (texts, the child's table, the signals reset to
        default, the mask or None for the caller's).

        Only actions that succeed: a spawn that fails (``missing``, ``chdir=``, a
        ``dup2=`` from an fd not open, ``open=0:`` of a missing file, ``setsid``
        with ``setpgroup``) is left out while its kernel run can be misread as
        blocked: glibc's caller then waits in waitpid for the failed child, which
        the driver does not know, and if that child is slow to finish exiting the
        caller is reported blocked (seen about once in 3,000 fuzzed scenarios).
        """
        table = dict(proc.fds)
        for fid, _ in table.values():
            self.files[fid].refs += 1
        texts: list[str] = []
        default: set[str] = set()
        mask: set[str] | None = None
        for _ in range(draw(st.integers(0, 3))):
            kind = pick(draw, ("close", "dup2", "open", "closefrom", "setsid", "setpgroup",
                               "sigmask", "sigdefault"))
            if kind == "close":  # an fd not open too: glibc ignores the EBADF
                number = pick(draw, sorted(n for n in table if n >= 3) + [9])
                texts.append(f"close={self.fd_ref(number)}")
                if number in table:
                    fid, _ = table.pop(number)
                    self.files[fid].refs -= 1
            elif kind == "dup2":
                source = pick(draw, sorted(table))
                target = draw(st.integers(3, 8))
                texts.append(f"dup2={self.fd_ref(source)}:{target}")
                if source == target:
                    table[target] = (table[target][0], False)
                else:
                    self._swap_slot(table, target, table[source][0])
            elif kind == "open":  # 0 read-only, others write, create, truncate
                path = pick(draw, PATHS)
                number = pick(draw, (0, 3, 4, 5, 8) if path in self.paths else (3, 4, 5, 8))
                texts.append(f"open={number}:{path}")
                self.paths.add(path)
                self._swap_slot(table, number, self._new_file("file"))
            elif kind == "closefrom":
                low = draw(st.integers(3, 8))
                texts.append(f"closefrom={low}")
                for number in [n for n in table if n >= low]:
                    fid, _ = table.pop(number)
                    self.files[fid].refs -= 1
            elif kind in ("setsid", "setpgroup"):
                if not {"setsid", "setpgroup"} & set(texts):  # both: EPERM
                    texts.append(kind)
            else:
                sigs = sorted({pick(draw, SIGNALS) for _ in range(draw(st.integers(1, 2)))})
                texts.append(f"{kind}={'+'.join(sigs)}")
                if kind == "sigmask":
                    mask = set(sigs)
                else:
                    default |= set(sigs)
        return texts, table, default, mask

    def _swap_slot(self, table: dict[int, tuple[int, bool]], number: int, fid: int) -> None:
        if number in table:
            self.files[table[number][0]].refs -= 1
        table[number] = (fid, False)
        self.files[fid].refs += 1

    def _g_spawn(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = self.fresh("s")
        programs = ["probe", "probe"] + (["/bin/true", "/bin/false"] if thread == "" else [])
        program = pick(draw, programs)
        texts, table, default, mask = self._spawn_actions(draw, proc)
        line = " ".join([f"{self.actor_text(proc, thread)}: spawn {program}", *texts,
                         f"-> {name}"])
        child = Proc(name, proc.name)
        proc.children.append(name)
        self.procs[name] = child
        child.fds = table
        child.disp = {sig: a for sig, a in proc.disp.items()
                      if a == "ignore" and sig not in default}
        child.mask = set(proc.mask) if mask is None else mask
        self._exec(child)
        if program == "probe":
            return [line]
        # a real program ends on its own: waited for at once, so no state is a race
        self._die(child, code=0 if program == "/bin/true" else 1)
        child.state = "reaped"
        proc.children.remove(name)
        return [line, f"{proc.name}: wait {name}"]

    # -- generators: files and memory, more -------------------------------------------------
    def _g_open(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = self.fresh("o")
        files = sorted(f"{m.name}.bin" for m in self.mappings.values() if m.backing == "file")
        path = pick(draw, list(PATHS) + files)
        mode = pick(draw, ("", " ro", " wo", " rw"))
        flags = [flag for flag in ("cloexec", "append", "create") if draw(st.booleans())]
        line = (f"{self.actor_text(proc, thread)}: open {path}{mode}"
                f"{''.join(' ' + f for f in flags)} -> {name}")
        if path not in self.paths and "create" not in flags:
            self.other_names.add(name)  # ENOENT
            return [line]
        self.paths.add(path)
        number = self._lowest_free(proc)
        self._install(proc, number, self._new_file("file"), "cloexec" in flags)
        self.fd_names[name] = number
        return [line]

    def _g_malloc(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = self.fresh("a")
        self._alloc_count += 1
        self.other_names.add(name)
        proc.allocs.add(name)
        return [f"{self.actor_text(proc, thread)}: malloc {pick(draw, MALLOC_SIZES)} -> {name}"]

    def _g_free(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        name = pick(draw, sorted(proc.allocs))
        proc.allocs.discard(name)
        return [f"{self.actor_text(proc, thread)}: free {name}"]

    def _g_atfork(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        lock = pick(draw, [lock for lock in LOCKS
                           if self.blocking or lock not in proc.atfork])
        proc.atfork.append(lock)
        return [f"{proc.name}: atfork {lock}"]

    def _repeatable(self, proc: Proc, thread: str, fork: str | None) -> list[str]:
        """Lines that ``repeat`` may run N times: each run leaves the actor able to act."""
        out = ["printf"]
        if any(m.prot == "rw" for m in proc.maps.values()):
            out.append("write")
        if fork == "ok" and self.process_count() + 2 <= self.max_processes:
            out.append("fork")
        return out

    def _g_repeat(self, draw: Draw, proc: Proc, thread: str) -> list[str]:
        what = pick(draw, self._repeatable(proc, thread, self._fork_outcome(proc, thread)))
        actor = self.actor_text(proc, thread)
        if what == "printf":
            return [f'repeat {draw(st.integers(2, 3))}: {actor}: printf "{pick(draw, TEXTS)}"']
        if what == "write":
            name = pick(draw, sorted(n for n, m in proc.maps.items() if m.prot == "rw"))
            return [f"repeat {draw(st.integers(2, 3))}: {actor}: write {name} = "
                    f"{draw(st.integers(0, 255))}"]
        n = draw(st.integers(2, self.max_processes - self.process_count()))
        base = self.fresh("f")
        self.other_names.add(base)
        for i in range(1, n + 1):
            child = self._child(proc, thread, f"{base}_{i}", share_memory=False)
            for lock in proc.atfork:
                child.locks.pop(lock, None)
        return [f"repeat {n}: {actor}: fork -> {base}"]
