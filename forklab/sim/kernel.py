"""The simulated kernel and C library: every verb of the scenario language.

``fork`` is libc's prologue (atfork prepare handlers) + ``clone`` with no
sharing + the epilogue; ``vfork`` is ``clone(vm, vfork)``; ``posix_spawn`` is
``clone(vm, vfork)`` + file actions + ``exec`` in the child. One
:meth:`Kernel.clone` does the copying for all of them, as ``copy_process``
does in Linux. An op that must wait (a held mutex, an empty pipe, a running
child) leaves its thread waiting on a record of what it waits for
(:mod:`forklab.sim.waits`); :meth:`Kernel.settle` tries every waiter again
after every op, so a later op can complete an earlier one.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from forklab.scenario import ops
from forklab.scenario.contract import Standing, check_actor, fd_number, no_such_process
from forklab.scenario.model import Program, Scenario, ScenarioError, SpawnAction
from forklab.scenario.ops import Op
from forklab.scenario.placement import Placement
from forklab.scenario.verbs import Handlers
from forklab.sim import cost
from forklab.sim.files import (
    READ_SIZE,
    DevNull,
    Directory,
    FdTable,
    OpenFile,
    PidFd,
    Pipe,
    RegularFile,
)
from forklab.sim.libc import BUFSIZ, STDOUT_BUFFER, UserMemory
from forklab.sim.memory import AddressSpace, Mapping, PhysicalMemory, SegFault, SharedObject
from forklab.sim.signals import SigHand
from forklab.sim.tasks import MAIN, Numbers, Process, Thread
from forklab.sim.waits import OnAtforkLocks, OnChild, OnMutex, OnPipeData, OnPipeRoom, Wait, Waiting
from forklab.vocabulary import DUMPS_CORE, IGNORED_BY_DEFAULT, PAGE, UNCATCHABLE

HANDLERS = Handlers("the simulator")
"""The simulator's handler for each verb: ``handler(kernel, process, thread, op)``."""


class Kernel:
    """Every process of one scenario, and the objects they point at."""

    def __init__(self, scenario: Scenario,
                 coefficients: dict[str, cost.Coefficients] = cost.DEFAULTS) -> None:
        self.scenario = scenario
        self.coefficients = coefficients  # what the cost model predicts spawn_us with
        self.memory = PhysicalMemory()
        self.processes: dict[str, Process] = {}
        self.files: dict[str, RegularFile] = {}
        self.caches: dict[str, SharedObject] = {}  # page cache of scratch files
        self.fd_names: dict[str, int] = {}
        self.templates: dict[str, tuple[Program, tuple[SpawnAction, ...]]] = {}
        self.blanks: dict[str, Process] = {}
        self.failed: dict[str, str] = {}  # names whose creating call failed -> errno
        self.now = 0.0
        self._pids = Numbers(100)
        self._tids = Numbers(1000)
        self._tls = Numbers(1)
        self._order = Numbers()
        self.addresses = Placement.of(scenario.ops).addresses
        self.stdout = Pipe(collector=True)
        self.stderr = Pipe(collector=True)
        self._start_first(scenario.first)

    def copy(self) -> Kernel:
        """A kernel that goes on from this one's state and shares nothing that changes.

        What the model shares stays shared in the copy (a vfork child's mm, an
        open file in two fd tables, a page cache); what never changes (the
        scenario, its ops, programs, frozen records) is not copied at all. Each
        class says how it is copied, in its ``__deepcopy__``.
        """
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Kernel:
        new = copy.copy(self)
        memo[id(self)] = new
        for name in ("memory", "processes", "files", "caches", "blanks", "stdout", "stderr",
                     "_pids", "_tids", "_tls", "_order"):
            setattr(new, name, copy.deepcopy(getattr(self, name), memo))
        new.fd_names, new.templates = dict(self.fd_names), dict(self.templates)
        new.failed, new.addresses = dict(self.failed), dict(self.addresses)
        return new

    # -- the world a scenario starts in ---------------------------------------

    def _start_first(self, name: str) -> None:
        files = FdTable()
        files.install(0, OpenFile(DevNull(), readable=True, writable=False))
        files.install(1, OpenFile(self.stdout, readable=False, writable=True, end="w"))
        files.install(2, OpenFile(self.stderr, readable=False, writable=True, end="w"))
        thread = self._thread(MAIN)
        mm = AddressSpace(self.memory, UserMemory())
        self.processes[name] = Process(name, next(self._pids), mm, files, SigHand(),
                                       {MAIN: thread})

    def _thread(self, name: str, tls: int | None = None) -> Thread:
        return Thread(name, next(self._tids), next(self._tls) if tls is None else tls)

    # -- running ops -------------------------------------------------------------

    def apply(self, op: Op) -> None:
        proc, thread = self._actor(op)
        handler: Callable[[Kernel, Process, Thread, Op], None] = HANDLERS.by_op[type(op)]
        handler(self, proc, thread, op)
        self.settle()
        self._let_timed_programs_end(proc, thread, op)

    def _actor(self, op: Op) -> tuple[Process, Thread]:
        proc = self.processes.get(op.actor.process)
        if proc is None:
            raise no_such_process(op.actor.process, self.failed, op.where)
        thread = proc.threads.get(op.actor.thread or MAIN)
        waiting = thread.waiting if thread is not None else None
        check_actor(op, Standing(
            ended=proc.state if proc.ended else None,
            program=str(proc.program) if proc.program is not None else None,
            thread_gone=thread is None,
            suspended=thread is not None and thread.suspended,
            blocked_in=waiting.op.text.strip() if waiting is not None else None,
            blocked_line=waiting.op.where.line if waiting is not None else None,
            blocked_for=waiting.what if waiting is not None else None))
        assert thread is not None
        return proc, thread

    def _block(self, proc: Process, thread: Thread, op: Op, wait: Wait) -> None:
        """Try the op now; if it cannot finish, the thread waits, holding what is left."""
        left = self._attempt(proc, thread, wait)
        if left is not None:
            thread.waiting = Waiting(op, left, next(self._order))

    def _attempt(self, proc: Process, thread: Thread, wait: Wait) -> Wait | None:
        """Take a blocked op as far as it can go: None once it has completed, else
        what it still waits for."""
        match wait:
            case OnMutex():
                return self._take_mutex(proc, thread, wait)
            case OnAtforkLocks():
                return self._fork_after_prepare(proc, thread, wait)
            case OnChild():
                return self._reap(proc, thread, wait)
            case OnPipeData():
                return self._pipe_read(proc, wait)
            case OnPipeRoom():
                return self._pipe_put(proc, thread, wait)

    def settle(self) -> None:
        """Retry waiting ops and let programs run until nothing changes."""
        progress = True
        while progress:
            progress = False
            waiters = sorted(
                ((t.waiting.order, p, t) for p in self.processes.values() if not p.ended
                 for t in p.threads.values() if t.waiting is not None),
                key=lambda item: item[0],
            )
            for _, proc, thread in waiters:
                waiting = thread.waiting
                if waiting is not None and not proc.ended:
                    left = self._attempt(proc, thread, waiting.on)
                    if left is None:
                        thread.waiting = None
                        progress = True
                    elif left != waiting.on:  # part of the op is done (some bytes, a lock)
                        thread.waiting = Waiting(waiting.op, left, waiting.order)
            for proc in list(self.processes.values()):
                if not proc.ended and proc.program is not None and not proc.blocked:
                    progress |= self._run_program(proc)

    def _set_errno(self, proc: Process, thread: Thread, errno: str) -> None:
        if proc.mm is not None:
            proc.mm.user.errno[thread.tls] = errno

    # -- memory --------------------------------------------------------------

    @HANDLERS.handles(ops.Mmap)
    def op_mmap(self, proc: Process, thread: Thread, op: ops.Mmap) -> None:
        assert proc.mm is not None
        pages = op.size // PAGE
        obj = None
        if op.backing == "file":
            assert op.path is not None
            obj = self._file_cache(op.path, op.size)
        elif op.share == "shared":
            obj = SharedObject(self.memory, pages, populated=False)
        mapping = Mapping(
            op.name, self.addresses[op.name], pages, share=op.share, prot=op.prot,
            obj=obj, file_backed=op.backing == "file", thp=op.thp, noreserve=op.noreserve)
        mapping.charge_at_mmap()
        proc.mm.mmap(mapping)

    def _file_cache(self, path: str, size: int) -> SharedObject:
        """The page cache of the file behind `mmap file=PATH`.

        The backend makes the file SIZE bytes of zeros, written with write(2) (so
        in the page cache), unless it is that long already; making it truncates
        it first, which takes every page of it from every mapping of it.
        """
        file = self.files.get(path)
        if file is None:
            file = self.files[path] = RegularFile(path)
        cache = self.caches.get(path)
        if cache is None:
            cache = self.caches[path] = SharedObject(self.memory, size // PAGE,
                                                     populated=False, file=file)
        cache.resize(size // PAGE)
        if len(file.data) < size:
            self._truncate(file, 0)
            file.data.extend(bytes(size))
        cache.frames(0, min(cache.pages.size, -(-len(file.data) // PAGE)))
        return cache

    def _truncate(self, file: RegularFile, size: int) -> None:
        """Cut a file to size bytes (O_TRUNC): its pages past the new end leave the page
        cache and every mapping (a later touch there is SIGBUS)."""
        del file.data[size:]
        file.written = {p for p in file.written if p * PAGE < size}
        cache = self.caches.get(file.path)
        if cache is None or cache.file is not file:
            return
        first = -(-size // PAGE)
        spaces = {id(p.mm): p.mm for p in self.processes.values() if p.mm is not None}
        for mm in spaces.values():
            mm.truncated(cache, first)
        cache.truncate(first)

    @HANDLERS.handles(ops.Munmap)
    def op_munmap(self, proc: Process, thread: Thread, op: ops.Munmap) -> None:
        assert proc.mm is not None
        if op.name in proc.mm.mappings:
            proc.mm.munmap(op.name)
        # munmap of a range with nothing mapped succeeds, as in the kernel

    def _touch(self, proc: Process, thread: Thread, op: ops.Write | ops.Read) -> None:
        assert proc.mm is not None
        rng = op.range
        mapping = proc.mm.mappings.get(rng.mapping)
        if mapping is None:
            self._fault_kill(proc)
            return
        lo, hi = (x // PAGE for x in rng.bounds(mapping.size))
        try:
            if isinstance(op, ops.Write):
                faults = proc.mm.write(rng.mapping, lo, hi, op.value)
            else:
                faults = proc.mm.read(rng.mapping, lo, hi)
        except SegFault as fault:
            proc.faults += fault.faults
            proc.minflt += fault.faults
            self._fault_kill(proc, fault.signal)
            return
        proc.faults += faults
        proc.minflt += faults

    @HANDLERS.handles(ops.Write)
    def op_write(self, proc: Process, thread: Thread, op: ops.Write) -> None:
        self._touch(proc, thread, op)

    @HANDLERS.handles(ops.Read)
    def op_read(self, proc: Process, thread: Thread, op: ops.Read) -> None:
        self._touch(proc, thread, op)

    def _fault_kill(self, proc: Process, signal: str = "SIGSEGV") -> None:
        """A bad access: SIGSEGV (or SIGBUS past a file's end) is forced (blocked or
        ignored, it still kills)."""
        self._die(proc, signal=signal)

    @HANDLERS.handles(ops.Madvise)
    def op_madvise(self, proc: Process, thread: Thread, op: ops.Madvise) -> None:
        assert proc.mm is not None
        m = proc.mm.mappings.get(op.name)
        if m is None:
            self._set_errno(proc, thread, "ENOMEM")
            return
        advice = op.advice
        if advice == "wipeonfork" and m.obj is not None:
            # madvise_vma_behavior: WIPEONFORK only on private anonymous memory (no
            # vm_file, not VM_SHARED); KEEPONFORK just clears the flag, on any mapping
            self._set_errno(proc, thread, "EINVAL")
        elif advice == "dontneed":
            proc.mm.dontneed(m.name)
        elif advice in ("dontfork", "dofork"):
            m.dontfork = advice == "dontfork"
        elif advice in ("wipeonfork", "keeponfork"):
            m.wipeonfork = advice == "wipeonfork"
        elif advice in ("hugepage", "nohugepage"):
            m.thp = advice == "hugepage"

    @HANDLERS.handles(ops.Mprotect)
    def op_mprotect(self, proc: Process, thread: Thread, op: ops.Mprotect) -> None:
        assert proc.mm is not None
        m = proc.mm.mappings.get(op.name)
        if m is None:
            self._set_errno(proc, thread, "ENOMEM")
        else:
            m.charge_at_mprotect(op.prot)
            proc.mm.mprotect(m.name, op.prot)

    # -- processes -------------------------------------------------------------

    def clone(self, parent: Process, thread: Thread, name: str,
              flags: frozenset[str]) -> Process | None:
        """``copy_process``: share what the flags say, copy the rest."""
        if ("sighand" in flags and "vm" not in flags) or \
                ("clear_sighand" in flags and "sighand" in flags):
            self._clone_failed(parent, thread, name, "EINVAL")
            return None
        assert parent.mm is not None
        if "vm" in flags:
            mm = parent.mm
            child_thread = Thread(MAIN, next(self._tids), thread.tls)  # no new TLS
        else:
            mm = parent.mm.fork_copy(parent.mm.user.copy())
            child_thread = Thread(MAIN, next(self._tids), thread.tls)
        child_thread.mask = set(thread.mask)
        files = parent.files if "files" in flags else parent.files.copy()
        sighand = parent.sighand if "sighand" in flags else parent.sighand.copy()
        if "clear_sighand" in flags:
            sighand.reset_caught()
        child = Process(name, next(self._pids), mm, files, sighand, {MAIN: child_thread},
                        parent=parent.name)
        self.processes[name] = child
        parent.children.append(name)
        if "pidfd" in flags:
            number = parent.files.lowest_free()
            if number is not None:
                # O_RDWR, as the kernel opens a pidfd: write(2) on it is EINVAL, not EBADF
                parent.files.install(number, OpenFile(PidFd(name), True, True), cloexec=True)
        if "vfork" in flags:  # only the calling thread waits (wait_for_vfork_done)
            thread.suspended = True
            child.vfork_parent, child.vfork_thread = parent.name, thread
        return child

    def _clone_failed(self, proc: Process, thread: Thread, name: str, errno: str) -> None:
        self._set_errno(proc, thread, errno)
        self.failed[name] = errno

    @staticmethod
    def _fork_stats(proc: Process) -> cost.ForkStats:
        """What a creating call made by ``proc`` copies or sets up, for the cost model."""
        assert proc.mm is not None
        return cost.ForkStats.of(proc.mm, fds=len(proc.files.fds), threads=len(proc.threads))

    @HANDLERS.handles(ops.Fork)
    def op_fork(self, proc: Process, thread: Thread, op: ops.Fork) -> None:
        """libc fork: atfork prepare (may wait for a lock), clone, then the epilogue."""
        assert proc.mm is not None
        prepare = tuple(reversed(proc.mm.user.atfork))  # last registered first
        self._block(proc, thread, op, OnAtforkLocks(op.binds[0], prepare))

    def _fork_after_prepare(self, proc: Process, thread: Thread,
                            wait: OnAtforkLocks) -> OnAtforkLocks | None:
        assert proc.mm is not None
        user = proc.mm.user
        prepare = wait.locks
        while prepare:  # each handler locks in turn, keeping what it took while it waits
            mutex = user.mutex(prepare[0])
            if mutex.owner is not None:  # (held by this thread too: a lock registered twice)
                return OnAtforkLocks(wait.child, prepare)
            mutex.owner = thread.tid
            prepare = prepare[1:]
        stats = self._fork_stats(proc)
        child = self.clone(proc, thread, wait.child, frozenset())
        assert child is not None and child.mm is not None
        for lock in user.atfork:  # parent and child handlers, in registration order
            user.mutex(lock).owner = None
            child.mm.user.mutex(lock).owner = None
        child.spawn_us = cost.predict("fork", stats, self.coefficients)
        return None

    @HANDLERS.handles(ops.Vfork)
    def op_vfork(self, proc: Process, thread: Thread, op: ops.Vfork) -> None:
        assert proc.mm is not None
        stats = self._fork_stats(proc)
        child = self.clone(proc, thread, op.binds[0], frozenset({"vm", "vfork"}))
        assert child is not None
        child.spawn_us = cost.predict("vfork", stats, self.coefficients)

    @HANDLERS.handles(ops.Clone)
    def op_clone(self, proc: Process, thread: Thread, op: ops.Clone) -> None:
        assert proc.mm is not None
        flags = op.flags
        stats = self._fork_stats(proc)
        child = self.clone(proc, thread, op.binds[0], flags)
        if child is not None:
            child.spawn_us = cost.predict("vfork" if "vm" in flags else "fork", stats,
                                           self.coefficients)

    @HANDLERS.handles(ops.Exec)
    def op_exec(self, proc: Process, thread: Thread, op: ops.Exec) -> None:
        self._exec(proc, thread, op.program)

    def _exec(self, proc: Process, thread: Thread, program: Program) -> bool:
        """execve: a fresh image, or ENOENT for a missing program. True if it ran."""
        if program.kind == "missing":
            self._set_errno(proc, thread, "ENOENT")
            return False
        for other in list(proc.threads.values()):  # de_thread: only the caller survives
            if other is not thread:
                del proc.threads[other.name]
        thread.name, thread.waiting = MAIN, None
        proc.threads = {MAIN: thread}
        self._leave_mm(proc)
        proc.files = proc.files.copy() if self._files_shared(proc) else proc.files
        proc.files.close_on_exec()
        if self._sighand_shared(proc):
            proc.sighand = proc.sighand.copy()
        proc.sighand.reset_caught()
        thread.tls = next(self._tls)
        if program.kind == "probe":
            proc.mm = AddressSpace(self.memory, UserMemory())
        else:
            proc.mm = None
            proc.program = program
            if program.path == "/bin/sleep":
                proc.program_until = self.now + float(program.args[0])
        self._release_vfork_parent(proc)
        return True

    def _files_shared(self, proc: Process) -> bool:
        return any(p.files is proc.files for p in self.processes.values()
                   if p is not proc and not p.ended)

    def _sighand_shared(self, proc: Process) -> bool:
        return any(p.sighand is proc.sighand for p in self.processes.values()
                   if p is not proc and not p.ended)

    def _leave_mm(self, proc: Process) -> None:
        """Drop proc's hold on its mm; the last user releases every mapping."""
        mm, proc.mm = proc.mm, None
        if mm is None:
            return
        if not any(p.mm is mm for p in self.processes.values() if not p.ended):
            mm.release()

    def _release_vfork_parent(self, proc: Process) -> None:
        if proc.vfork_parent is not None and proc.vfork_thread is not None:
            parent, waiter = self.processes[proc.vfork_parent], proc.vfork_thread
            if waiter.suspended:
                waiter.suspended = False
                self._deliver(parent)
            proc.vfork_parent, proc.vfork_thread = None, None

    @HANDLERS.handles(ops.Exit)
    def op_exit(self, proc: Process, thread: Thread, op: ops.Exit) -> None:
        """libc exit(): flush stdio and leave every stream unbuffered, then end.

        The unbuffering shows only where the memory is shared: a parent whose
        vfork child called exit() finds its own stdout unbuffered afterwards.
        """
        assert proc.mm is not None
        self._write_stdout(proc, thread, proc.mm.user.stdout.flush())
        proc.mm.user.stdout.unbuffer()
        self._die(proc, code=op.code)

    @HANDLERS.handles(ops.SysExit)
    def op__exit(self, proc: Process, thread: Thread, op: ops.SysExit) -> None:
        self._die(proc, code=op.code)

    @HANDLERS.handles(ops.ThreadExit)
    def op_thread_exit(self, proc: Process, thread: Thread, op: ops.ThreadExit) -> None:
        del proc.threads[thread.name]

    def _die(self, proc: Process, code: int | None = None, signal: str | None = None) -> None:
        """The process ends: threads, fds and memory go; the parent is told."""
        if proc.ended:
            return
        proc.exit_code, proc.term_signal = (None, signal) if signal else (code, None)
        proc.threads = {}
        files, proc.files = proc.files, FdTable()
        if not any(p.files is files for p in self.processes.values()
                   if p is not proc and not p.ended):
            files.close_all()
        self._leave_mm(proc)
        proc.program = None
        proc.state = "zombie"
        self._release_vfork_parent(proc)
        for child_name in proc.children:  # orphans: init (or forklab, the subreaper) reaps
            child = self.processes[child_name]
            child.parent = None
            if child.state == "zombie":
                child.state = "reaped"
        proc.children = []
        parent = self.processes.get(proc.parent) if proc.parent else None
        if parent is None or parent.ended:
            proc.state = "reaped"
            return
        if parent.sighand.get("SIGCHLD") == "ignore":
            proc.state = "reaped"  # SIGCHLD ignored: the kernel reaps at once
            parent.children.remove(proc.name)  # still its parent's child, as one reaped by wait
            return
        self._send(parent, "SIGCHLD")

    @HANDLERS.handles(ops.Wait)
    def op_wait(self, proc: Process, thread: Thread, op: ops.Wait) -> None:
        """waitpid: only a child not yet reaped can be waited for; any other is ECHILD
        (one already reaped, by an earlier wait or by the kernel, included)."""
        name = op.child
        child = self.processes.get(name)
        if child is None or name not in proc.children:
            self._set_errno(proc, thread, "ECHILD")
            return
        self._block(proc, thread, op, OnChild(name))

    def _reap(self, proc: Process, thread: Thread, wait: OnChild) -> OnChild | None:
        if wait.child not in proc.children:
            self._set_errno(proc, thread, "ECHILD")
            return None
        child = self.processes[wait.child]
        if child.state != "zombie":
            return wait
        child.state = "reaped"
        proc.children.remove(child.name)
        return None

    @HANDLERS.handles(ops.Kill)
    def op_kill(self, proc: Process, thread: Thread, op: ops.Kill) -> None:
        target = self.processes.get(op.target)
        if target is None or target.state == "reaped":
            self._set_errno(proc, thread, "ESRCH")
            return
        self._send(target, op.signal)

    @HANDLERS.handles(ops.Thread)
    def op_thread(self, proc: Process, thread: Thread, op: ops.Thread) -> None:
        name = op.binds[0]
        new = self._thread(name)
        new.mask = set(thread.mask)
        proc.threads[name] = new

    # -- spawn -----------------------------------------------------------------

    @HANDLERS.handles(ops.Spawn)
    def op_spawn(self, proc: Process, thread: Thread, op: ops.Spawn) -> None:
        """glibc posix_spawn: clone(vm, vfork), then in the child reset handlers,
        apply the file actions, set the mask, exec; a failure is reported back
        and the child reaped, so no child remains."""
        assert proc.mm is not None
        stats = self._fork_stats(proc)
        self._spawn(proc, thread, op.binds[0], op.program, op.actions,
                    cost.predict("spawn", stats, self.coefficients))

    def _spawn(self, proc: Process, thread: Thread, name: str, program: Program,
               actions: tuple[SpawnAction, ...], spawn_us: float) -> Process | None:
        child = self.clone(proc, thread, name, frozenset({"vm", "vfork"}))
        assert child is not None
        child.spawn_us = spawn_us
        child.sighand.reset_caught()
        mask = set(thread.mask)
        for action in actions:
            if action.kind == "sigdefault":
                for sig in action.signals:
                    child.sighand.set(sig, "default")
            elif action.kind == "sigmask":
                mask = set(action.signals - UNCATCHABLE)
        error = None
        kinds = {action.kind for action in actions}
        if {"setsid", "setpgroup"} <= kinds:
            # glibc sets both before the file actions; a session leader cannot change
            # its group, nor a group leader make a session: EPERM either way
            error = "EPERM"
        for action in actions if error is None else ():  # in the child, in order
            if action.kind in ("close", "open") and \
                    self._fd_number(action.fd if action.kind == "close" else action.num) \
                    not in child.files.fds:
                # glibc closes the fd first (open= too) and ignores EBADF, but the child
                # shares the caller's memory and thread pointer: its errno is left EBADF
                self._set_errno(proc, thread, "EBADF")
            error = self._file_action(child, child, action)
            if error:
                break
        child.main.mask = mask
        if error is None and program.kind == "missing":
            error = "ENOENT"
        if error is not None:
            self._set_errno(proc, thread, error)
            child.files.close_all()
            self._leave_mm(child)
            self._release_vfork_parent(child)
            del self.processes[name]
            proc.children.remove(name)
            self.failed[name] = error
            return None
        self._exec(child, child.main, program)
        return child

    def _file_action(self, owner: Process, target: Process, action: SpawnAction) -> str | None:
        """One posix_spawn file action (or a `configure` of a blank process)."""
        files = target.files
        if action.kind == "close":
            files.close(self._fd_number(action.fd))
        elif action.kind == "dup2":
            src = owner.files.fds.get(self._fd_number(action.fd)) if owner is not target \
                else files.fds.get(self._fd_number(action.fd))
            if src is None:
                return "EBADF"
            assert action.num is not None
            if owner is target and self._fd_number(action.fd) == action.num:
                files.fds[action.num].cloexec = False
            else:
                files.install(action.num, src.file)
        elif action.kind == "open":
            assert action.num is not None and action.path is not None
            write = action.num != 0
            file = self._open_file(action.path, write=write, create=write, truncate=write,
                                   read=not write)  # O_RDONLY, or O_WRONLY|O_CREAT|O_TRUNC
            if isinstance(file, str):
                return file
            files.install(action.num, file)
        elif action.kind == "closefrom":
            assert action.num is not None
            for number in [n for n in files.numbers() if n >= action.num]:
                files.close(number)
        elif action.kind == "chdir":
            assert action.path is not None
            kind, _ = self._resolve(action.path)
            if kind != "dir":
                return {"file": "ENOTDIR", "missing": "ENOENT"}.get(kind, kind)
        return None

    def _resolve(self, path: str) -> tuple[str, RegularFile | None]:
        """Walk a scratch path as the kernel's lookup does: ("file", f), ("dir", None) or
        ("missing", None), or ("ENOENT" | "ENOTDIR", None) when a leading component is
        missing or is a regular file (a path through a file is ENOTDIR, not ENOENT)."""
        parts = path.split("/")
        dirs = self._directories()
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in self.files:
                return "ENOTDIR", None
            if prefix not in dirs:
                return "ENOENT", None
        if path in self.files:
            return "file", self.files[path]
        return ("dir" if path in dirs else "missing"), None

    def _directories(self) -> set[str]:
        dirs = {"."}
        for path in self.files:
            parts = path.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return dirs

    def _fd_number(self, ref: int | str | None) -> int:
        return fd_number(ref, self.fd_names)

    # -- what-if APIs -------------------------------------------------------------

    @HANDLERS.handles(ops.SpawnTemplate)
    def op_spawn_template(self, proc: Process, thread: Thread, op: ops.SpawnTemplate) -> None:
        self.templates[op.binds[0]] = (op.program, op.actions)

    @HANDLERS.handles(ops.SpawnFrom)
    def op_spawn_from(self, proc: Process, thread: Thread, op: ops.SpawnFrom) -> None:
        program, actions = self.templates[op.template]
        self._spawn(proc, thread, op.binds[0], program, actions,
                    cost.predict("spawn_template", cost.ForkStats.empty(),
                                 self.coefficients))

    @HANDLERS.handles(ops.PidfdEmpty)
    def op_pidfd_empty(self, proc: Process, thread: Thread, op: ops.PidfdEmpty) -> None:
        """A blank process: no memory, no fds, default signals, not yet running."""
        blank = Process(op.binds[0], 0, None, FdTable(), SigHand(),
                        {MAIN: self._thread(MAIN)}, parent=proc.name)
        self.blanks[op.binds[0]] = blank
        number = proc.files.lowest_free()
        if number is not None:
            proc.files.install(number, OpenFile(PidFd(op.binds[0]), True, True), cloexec=True)
            self.fd_names[op.binds[0]] = number

    @HANDLERS.handles(ops.Configure)
    def op_configure(self, proc: Process, thread: Thread, op: ops.Configure) -> None:
        blank = self.blanks[op.blank]
        action: SpawnAction = op.action
        if action.kind == "sigmask":
            blank.main.mask = set(action.signals - UNCATCHABLE)
        elif action.kind == "sigdefault":
            pass  # a blank process has every signal at its default already
        else:
            error = self._file_action(proc, blank, action)
            if error:
                self._set_errno(proc, thread, error)

    @HANDLERS.handles(ops.PidfdExec)
    def op_pidfd_exec(self, proc: Process, thread: Thread, op: ops.PidfdExec) -> None:
        blank = self.blanks.pop(op.blank)
        name = op.binds[0]
        program: Program = op.program
        if program.kind == "missing":
            self._set_errno(proc, thread, "ENOENT")
            self.failed[name] = "ENOENT"
            blank.files.close_all()
            return
        child = Process(name, next(self._pids), AddressSpace(self.memory, UserMemory()),
                        blank.files, blank.sighand, {MAIN: blank.main}, parent=proc.name)
        child.spawn_us = cost.predict("blank", cost.ForkStats.empty(), self.coefficients)
        self.processes[name] = child
        proc.children.append(name)
        self._exec(child, child.main, program)

    @HANDLERS.handles(ops.CreateProcess)
    def op_create_process(self, proc: Process, thread: Thread, op: ops.CreateProcess) -> None:
        """CreateProcess style: the child inherits exactly the fds listed."""
        name = op.binds[0]
        files = FdTable()
        for ref in op.inherit:
            slot = proc.files.fds.get(self._fd_number(ref))
            if slot is None:
                self._set_errno(proc, thread, "EBADF")
                self.failed[name] = "EBADF"
                files.close_all()
                return
            files.install(self._fd_number(ref), slot.file)
        program: Program = op.program
        if program.kind == "missing":
            self._set_errno(proc, thread, "ENOENT")
            self.failed[name] = "ENOENT"
            files.close_all()
            return
        child = Process(name, next(self._pids), AddressSpace(self.memory, UserMemory()),
                        files, SigHand(), {MAIN: self._thread(MAIN)}, parent=proc.name)
        child.spawn_us = cost.predict("blank", cost.ForkStats.empty(), self.coefficients)
        self.processes[name] = child
        proc.children.append(name)
        self._exec(child, child.main, program)

    # -- files -------------------------------------------------------------------

    def _open_file(self, path: str, write: bool, create: bool, truncate: bool = False,
                   read: bool = True, append: bool = False) -> OpenFile | str:
        """Open a scratch path; an errno name on failure."""
        if path == "/dev/null":
            return OpenFile(DevNull(), readable=read, writable=write)
        kind, file = self._resolve(path)
        if kind == "dir":  # a directory opens read-only, and O_CREAT on one is EISDIR too
            return "EISDIR" if write or create else OpenFile(Directory(path), read, False)
        if kind == "missing":
            if not create:
                return "ENOENT"
            self.files[path] = file = RegularFile(path)
        if file is None:
            return kind  # ENOENT or ENOTDIR from a leading component
        if truncate:
            self._truncate(file, 0)
        return OpenFile(file, readable=read, writable=write, append=append)

    def _install_lowest(self, proc: Process, thread: Thread, file: OpenFile,
                        cloexec: bool, start: int = 0) -> int | None:
        number = proc.files.lowest_free(start)
        if number is None:
            self._set_errno(proc, thread, "EMFILE")
            return None
        proc.files.install(number, file, cloexec)
        return number

    @HANDLERS.handles(ops.Open)
    def op_open(self, proc: Process, thread: Thread, op: ops.Open) -> None:
        mode = op.mode
        file = self._open_file(op.path, write=mode in ("wo", "rw"), create=op.create,
                               read=mode in ("ro", "rw"), append=op.append)
        if isinstance(file, str):
            self._set_errno(proc, thread, file)
            self.failed[op.binds[0]] = file
            return
        number = self._install_lowest(proc, thread, file, op.cloexec)
        if number is not None:
            self.fd_names[op.binds[0]] = number

    @HANDLERS.handles(ops.Pipe)
    def op_pipe(self, proc: Process, thread: Thread, op: ops.Pipe) -> None:
        pipe = Pipe()
        read_end = OpenFile(pipe, readable=True, writable=False, end="r")
        write_end = OpenFile(pipe, readable=False, writable=True, end="w")
        r = self._install_lowest(proc, thread, read_end, op.cloexec)
        w = self._install_lowest(proc, thread, write_end, op.cloexec)
        if r is not None and w is not None:
            self.fd_names[op.binds[0]], self.fd_names[op.binds[1]] = r, w

    def _slot(self, proc: Process, thread: Thread, ref: int | str):
        slot = proc.files.fds.get(self._fd_number(ref))
        if slot is None:
            self._set_errno(proc, thread, "EBADF")
        return slot

    @HANDLERS.handles(ops.Dup)
    def op_dup(self, proc: Process, thread: Thread, op: ops.Dup) -> None:
        slot = self._slot(proc, thread, op.fd)
        if slot is not None:
            number = self._install_lowest(proc, thread, slot.file, op.cloexec)
            if number is not None:
                self.fd_names[op.binds[0]] = number

    @HANDLERS.handles(ops.Dup2)
    def op_dup2(self, proc: Process, thread: Thread, op: ops.Dup2) -> None:
        slot = self._slot(proc, thread, op.fd)
        if slot is not None and self._fd_number(op.fd) != op.num:
            proc.files.install(op.num, slot.file, cloexec=False)

    @HANDLERS.handles(ops.Close)
    def op_close(self, proc: Process, thread: Thread, op: ops.Close) -> None:
        if not proc.files.close(self._fd_number(op.fd)):
            self._set_errno(proc, thread, "EBADF")

    @HANDLERS.handles(ops.Cloexec)
    def op_cloexec(self, proc: Process, thread: Thread, op: ops.Cloexec) -> None:
        slot = self._slot(proc, thread, op.fd)
        if slot is not None:
            slot.cloexec = op.on

    @HANDLERS.handles(ops.CloseRange)
    def op_close_range(self, proc: Process, thread: Thread, op: ops.CloseRange) -> None:
        lo, hi = op.lo, op.hi
        if hi is not None and hi < lo:
            self._set_errno(proc, thread, "EINVAL")
            return
        for number in proc.files.numbers():
            if number >= lo and (hi is None or number <= hi):
                if op.cloexec:
                    proc.files.fds[number].cloexec = True
                else:
                    proc.files.close(number)

    @HANDLERS.handles(ops.Writefd)
    def op_writefd(self, proc: Process, thread: Thread, op: ops.Writefd) -> None:
        slot = self._slot(proc, thread, op.fd)
        if slot is None:
            return
        obj = slot.file.obj
        if slot.file.writable and isinstance(obj, Pipe) and not obj.collector:
            self._block(proc, thread, op, OnPipeRoom(obj, op.data.encode()))
        else:
            self._write(proc, thread, slot.file, op.data)

    def _pipe_put(self, proc: Process, thread: Thread, wait: OnPipeRoom) -> OnPipeRoom | None:
        """write(2) to a pipe: what fits goes in at once; the writer waits for a reader
        to make room for the rest. With no reader left: SIGPIPE, and EPIPE if nothing
        was written."""
        pipe, data, done = wait.pipe, wait.data, wait.done
        if pipe.readers == 0:
            self._send(proc, "SIGPIPE", thread)
            if not proc.ended and done == 0:
                self._set_errno(proc, thread, "EPIPE")
            return None
        done += pipe.put(data[done:], merge=not wait.started)
        return None if done == len(data) else OnPipeRoom(pipe, data, done, started=True)

    def _write(self, proc: Process, thread: Thread, file: OpenFile, text: str) -> None:
        """write(2) of text to an open file; EPIPE and SIGPIPE on a pipe nobody reads."""
        if not file.writable:
            self._set_errno(proc, thread, "EBADF")
            return
        obj = file.obj
        if isinstance(obj, Pipe):
            if obj.readers == 0 and not obj.collector:
                self._send(proc, "SIGPIPE", thread)
                if not proc.ended:
                    self._set_errno(proc, thread, "EPIPE")
                return
            obj.write(text)
        elif isinstance(obj, RegularFile):
            data = text.encode()
            at = len(obj.data) if file.append else file.offset
            if len(obj.data) < at:
                obj.data.extend(bytes(at - len(obj.data)))
            obj.data[at:at + len(data)] = data
            file.offset = at + len(data)
            if data:
                obj.written.update(range(at // PAGE, (at + len(data) - 1) // PAGE + 1))
                cache = self.caches.get(obj.path)
                if cache is not None and cache.file is obj:
                    cache.file_written(at, len(data))
        elif isinstance(obj, PidFd):
            self._set_errno(proc, thread, "EINVAL")

    @HANDLERS.handles(ops.Readfd)
    def op_readfd(self, proc: Process, thread: Thread, op: ops.Readfd) -> None:
        slot = self._slot(proc, thread, op.fd)
        if slot is None:
            return
        file = slot.file
        if not file.readable:
            self._set_errno(proc, thread, "EBADF")
            return
        obj = file.obj
        if isinstance(obj, Pipe):
            self._block(proc, thread, op, OnPipeData(obj))
        elif isinstance(obj, RegularFile):
            data = bytes(obj.data[file.offset:file.offset + READ_SIZE])
            file.offset += len(data)
            proc.last_read = data.decode(errors="replace")
        elif isinstance(obj, DevNull):
            proc.last_read = ""
        elif isinstance(obj, Directory):
            self._set_errno(proc, thread, "EISDIR")
        else:
            self._set_errno(proc, thread, "EINVAL")

    @staticmethod
    def _pipe_read(proc: Process, wait: OnPipeData) -> OnPipeData | None:
        pipe = wait.pipe
        if pipe.bufs:
            proc.last_read = pipe.take(READ_SIZE).decode(errors="replace")
            return None
        if pipe.writers == 0:
            proc.last_read = ""
            return None
        return wait

    def _stdio_allocates(self, proc: Process, thread: Thread) -> bool:
        """Before a stdio call that may allocate stdout's buffer: glibc fstat()s fd 1 to
        size it (st_blksize, 4096 here); with fd 1 closed fstat fails, leaving errno
        EBADF and a BUFSIZ buffer (tests/scenarios/stdout-closed.toml). True if the
        buffer is not allocated yet."""
        assert proc.mm is not None
        stdio = proc.mm.user.stdout
        stdio.alloc_size = STDOUT_BUFFER if 1 in proc.files.fds else BUFSIZ
        return stdio.size == 0

    def _stdio_allocated(self, proc: Process, thread: Thread, before: bool) -> None:
        assert proc.mm is not None
        if before and proc.mm.user.stdout.size and 1 not in proc.files.fds:
            self._set_errno(proc, thread, "EBADF")

    @HANDLERS.handles(ops.Printf)
    def op_printf(self, proc: Process, thread: Thread, op: ops.Printf) -> None:
        assert proc.mm is not None
        fresh = self._stdio_allocates(proc, thread)
        chunks = proc.mm.user.stdout.put(op.data)
        self._stdio_allocated(proc, thread, fresh)
        for chunk in chunks:
            self._write_stdout(proc, thread, chunk)

    @HANDLERS.handles(ops.Fflush)
    def op_fflush(self, proc: Process, thread: Thread, op: ops.Fflush) -> None:
        assert proc.mm is not None
        self._write_stdout(proc, thread, proc.mm.user.stdout.flush())

    @HANDLERS.handles(ops.Setvbuf)
    def op_setvbuf(self, proc: Process, thread: Thread, op: ops.Setvbuf) -> None:
        assert proc.mm is not None
        fresh = self._stdio_allocates(proc, thread)
        out = proc.mm.user.stdout.setvbuf(op.mode)
        self._stdio_allocated(proc, thread, fresh)
        self._write_stdout(proc, thread, out)

    def _write_stdout(self, proc: Process, thread: Thread, text: str) -> None:
        """stdio writes its buffer to whatever fd 1 is now."""
        if not text:
            return
        slot = proc.files.fds.get(1)
        if slot is None:
            self._set_errno(proc, thread, "EBADF")
            return
        self._write(proc, thread, slot.file, text)

    # -- threads and locks ---------------------------------------------------------

    @HANDLERS.handles(ops.Lock)
    def op_lock(self, proc: Process, thread: Thread, op: ops.Lock) -> None:
        self._block(proc, thread, op, OnMutex(op.name))

    @staticmethod
    def _take_mutex(proc: Process, thread: Thread, wait: OnMutex) -> OnMutex | None:
        assert proc.mm is not None
        mutex = proc.mm.user.mutex(wait.name)
        if mutex.owner is not None:
            return wait
        mutex.owner = thread.tid
        return None

    @HANDLERS.handles(ops.Unlock)
    def op_unlock(self, proc: Process, thread: Thread, op: ops.Unlock) -> None:
        assert proc.mm is not None
        proc.mm.user.mutex(op.name).owner = None  # a normal mutex checks no owner

    @HANDLERS.handles(ops.Atfork)
    def op_atfork(self, proc: Process, thread: Thread, op: ops.Atfork) -> None:
        assert proc.mm is not None
        proc.mm.user.atfork.append(op.name)

    @HANDLERS.handles(ops.Malloc)
    def op_malloc(self, proc: Process, thread: Thread, op: ops.Malloc) -> None:
        assert proc.mm is not None
        proc.mm.user.allocations[op.binds[0]] = op.size

    @HANDLERS.handles(ops.Free)
    def op_free(self, proc: Process, thread: Thread, op: ops.Free) -> None:
        assert proc.mm is not None
        if op.name not in proc.mm.user.allocations:
            raise ScenarioError(
                f"'{op.name}' is not an allocation in {proc.name}'s memory "
                "(freed already, or made before an exec)", op.where)
        del proc.mm.user.allocations[op.name]

    # -- signals -----------------------------------------------------------------

    @HANDLERS.handles(ops.Signal)
    def op_signal(self, proc: Process, thread: Thread, op: ops.Signal) -> None:
        sig, action = op.signal, op.action
        if sig in UNCATCHABLE:
            self._set_errno(proc, thread, "EINVAL")
            return
        proc.sighand.set(sig, action)
        if proc.sighand.discards(sig):  # setting SIG_IGN discards what is pending
            proc.shared_pending.discard(sig)
            for t in proc.threads.values():
                t.pending.discard(sig)

    @HANDLERS.handles(ops.Block)
    def op_block(self, proc: Process, thread: Thread, op: ops.Block) -> None:
        if op.signal not in UNCATCHABLE:
            thread.mask.add(op.signal)

    @HANDLERS.handles(ops.Unblock)
    def op_unblock(self, proc: Process, thread: Thread, op: ops.Unblock) -> None:
        thread.mask.discard(op.signal)
        self._deliver(proc)

    @HANDLERS.handles(ops.Raise)
    def op_raise(self, proc: Process, thread: Thread, op: ops.Raise) -> None:
        self._send(proc, op.signal, thread)

    def _send(self, proc: Process, sig: str, thread: Thread | None = None) -> None:
        """Generate a signal (to a thread, or to the process) and deliver what can be."""
        if proc.ended:
            return
        target = thread or proc.main
        if sig not in target.mask and proc.sighand.discards(sig) and sig != "SIGKILL":
            return
        if thread is not None:
            thread.pending.add(sig)
        else:
            proc.shared_pending.add(sig)
        self._deliver(proc)

    def _deliver(self, proc: Process) -> None:
        """Act on every pending signal that some thread does not block."""
        if proc.ended:
            return
        for thread in list(proc.threads.values()):
            for pending in (thread.pending, proc.shared_pending):
                for sig in sorted(pending):
                    if sig in thread.mask and sig not in UNCATCHABLE:
                        continue
                    # a thread in vfork waits killably; a signal sent to the process
                    # goes to its main thread, and waits with it if it is in vfork
                    waits = thread.suspended or (pending is proc.shared_pending
                                                 and proc.suspended)
                    if waits and not self._kills_at_once(proc, sig):
                        continue
                    pending.discard(sig)
                    if self._fatal(proc, sig):
                        self._die(proc, signal=sig)
                        return

    @classmethod
    def _kills_at_once(cls, proc: Process, sig: str) -> bool:
        """What wakes a killable wait: SIGKILL, or a default action that only
        terminates (a core-dumping default waits until the vfork child lets go)."""
        return sig == "SIGKILL" or (cls._fatal(proc, sig) and sig not in DUMPS_CORE)

    @staticmethod
    def _fatal(proc: Process, sig: str) -> bool:
        action = proc.sighand.get(sig)
        return sig == "SIGKILL" or (action == "default" and sig not in IGNORED_BY_DEFAULT)

    # -- time and programs ---------------------------------------------------------

    @HANDLERS.handles(ops.Sleep)
    def op_sleep(self, proc: Process, thread: Thread, op: ops.Sleep) -> None:
        self.now += op.seconds

    def _let_timed_programs_end(self, proc: Process, thread: Thread, op: Op) -> None:
        """An op that only a timed program's end can finish waits for it.

        A `readfd` or `wait` just issued that some `/bin/sleep` could end by
        ending (the child waited for, a holder of the pipe, or a `/bin/cat` that
        such a sleeper keeps going) is not waiting forever: on the kernel the
        sleep runs out and the op completes (forklab's real driver waits for it
        before calling an op blocked). Time passes until no such sleeper is left.
        Only the op being applied waits like this: an op already blocked is
        finished by a later `sleep` (tests/scenarios/timed-programs.toml).
        """
        if isinstance(op, ops.Wait):
            child: str | None = op.child
            fd = None
        elif isinstance(op, ops.Readfd):
            child, fd = None, self._fd_number(op.fd)
        else:
            return
        while thread.waiting is not None and thread.waiting.op is op and not proc.ended:
            sleepers = self._sleepers_that_may_end(proc, child, fd, depth=4)
            if not sleepers:
                return
            self.now = max(self.now, min(p.program_until or 0.0 for p in sleepers))
            self.settle()

    def _sleepers_that_may_end(self, proc: Process, child: str | None, fd: int | None,
                               depth: int) -> list[Process]:
        """The timed programs whose end could end proc's wait for `child` or read of `fd`."""
        if depth <= 0:
            return []
        programs = [p for p in self.processes.values()
                    if not p.ended and p.program is not None and p is not proc]
        if child is not None:
            targets = [p for p in programs if p.name == child]
        else:
            slot = proc.files.fds.get(fd) if fd is not None else None
            if slot is None or not isinstance(slot.file.obj, Pipe):
                return []
            pipe = slot.file.obj
            targets = [p for p in programs
                       if any(s.file.obj is pipe for s in p.files.fds.values())]
        found: list[Process] = []
        for target in targets:
            if target.program_until is not None:
                found.append(target)
            elif self.program_stalled(target):  # cat ends once its stdin can end
                found += self._sleepers_that_may_end(target, None, 0, depth - 1)
        return found

    def _run_program(self, proc: Process) -> bool:
        """Let an exec'd program run as far as it can; True if anything changed."""
        program = proc.program
        assert program is not None
        if program.path == "/bin/true":
            self._die(proc, code=0)
        elif program.path == "/bin/false":
            self._die(proc, code=1)
        elif program.path == "/bin/sleep":
            if proc.program_until is not None and self.now + 1e-9 >= proc.program_until:
                self._die(proc, code=0)
            else:
                return False
        elif program.path == "/bin/cat":
            return self._run_cat(proc)
        return True

    def program_stalled(self, proc: Process) -> bool:
        """Whether an exec'd program waits for input that has not come (cat on a pipe)."""
        if proc.ended or proc.program is None or proc.program.path != "/bin/cat":
            return False
        src = proc.files.fds.get(0)
        return src is not None and isinstance(src.file.obj, Pipe) and not src.file.obj.bufs \
            and src.file.obj.writers > 0

    def _run_cat(self, proc: Process) -> bool:
        src, dst = proc.files.fds.get(0), proc.files.fds.get(1)
        if src is None or not src.file.readable or dst is None or not dst.file.writable:
            self._die(proc, code=1)
            return True
        obj = src.file.obj
        if isinstance(obj, Pipe):
            if obj.bufs:
                text = obj.take(sum(len(buf[0]) for buf in obj.bufs)).decode(errors="replace")
                self._write(proc, proc.main, dst.file, text)
                return True
            if obj.writers > 0:
                return False
        elif isinstance(obj, RegularFile):
            text = obj.data[src.file.offset:].decode(errors="replace")
            src.file.offset = len(obj.data)
            if text:
                self._write(proc, proc.main, dst.file, text)
        elif isinstance(obj, Directory):  # cat: -: Is a directory
            self._die(proc, code=1)
            return True
        if not proc.ended:
            self._die(proc, code=0)
        return True
