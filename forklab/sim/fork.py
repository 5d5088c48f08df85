"""Creating tasks: one ``clone``, as Linux's ``copy_process``, and the calls built on it.

:func:`clone` makes every new task: it shares or copies the address space
(``copy_mm``), the fd table (``copy_files``), the signal handlers
(``copy_sighand``), the cwd and umask (``copy_fs``) as the flags say, and
starts a new thread group with nothing pending (``copy_signal``) unless the
``thread`` flag joins the caller's. ``fork`` is libc's prologue (the atfork
prepare handlers, which may wait for a lock) + ``clone`` with nothing shared +
the epilogue; ``vfork`` is
``clone(vm, vfork)``; ``thread`` (pthread_create) is ``clone(thread)``;
posix_spawn (:mod:`forklab.sim.spawn`) and the what-if creators
(:mod:`forklab.sim.whatif`) go through it too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim import (
    altstack,
    cgroups,
    cost,
    creds,
    exit_signals,
    mman,
    namespaces,
    sched_prctl,
    sysvsem,
)
from forklab.sim.files import FdTable, OpenFile, PidFd
from forklab.sim.fs_struct import FsStruct
from forklab.sim.libc import UserMemory
from forklab.sim.memory import AddressSpace
from forklab.sim.rlimits import fd_limit
from forklab.sim.signals import SigHand
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.sim.tasks import MAIN, Process, Thread
from forklab.sim.waits import OnAtforkLocks

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel

SHARING = frozenset({"vm", "files", "sighand"})
"""What a new thread shares with its process (``pthread_create``'s clone flags)."""


def clone(k: Kernel, parent: Process, thread: Thread, name: str, flags: frozenset[str],
          files: FdTable | None = None, sighand: SigHand | None = None,
          fs: FsStruct | None = None, exit_signal: str | None = exit_signals.CHILD
          ) -> Process | None:
    """``copy_process``: share what the flags say, copy the rest.

    Flags: ``vm``, ``files``, ``sighand``, ``fs``, ``sysvsem``, ``vfork``, ``pidfd``,
    ``clear_sighand``, the namespace flags ``newpid``... (the scenario language's;
    :mod:`forklab.sim.namespaces`), ``thread`` (a new thread
    ``name`` of the caller's process, with a TLS block of its own, as
    pthread_create's CLONE_SETTLS gives it) and ``blank`` (an empty address
    space: the what-if creators, which copy nothing of the caller's memory and pass
    the child's ``files``, ``sighand`` and ``fs``). ``exit_signal``: what the new process's
    parent is sent when it ends (:mod:`forklab.sim.exit_signals`). Returns the process the
    new task is in, or None when the call fails.
    """
    if ("sighand" in flags and "vm" not in flags) or \
            ("clear_sighand" in flags and "sighand" in flags):
        clone_failed(k, parent, thread, name, "EINVAL")
        return None
    ns = namespaces.for_child(k, thread, flags)
    if isinstance(ns, str):
        clone_failed(k, parent, thread, name, ns)
        return None
    if not flags & {"vm", "blank", "thread"} and mman.dup_mmap_refused(k, parent):
        clone_failed(k, parent, thread, name, "ENOMEM")
        return None
    if "pidfd" in flags and parent.files.lowest_free(fd_limit(parent)) is None:
        clone_failed(k, parent, thread, name, "EMFILE")  # the pidfd's fd comes first
        return None
    task = new_thread(k, MAIN if "thread" not in flags else name,
                      tls=None if "thread" in flags else thread.tls)
    task.mask, task.ns = set(thread.mask), ns
    task.attrs = sched_prctl.inherited(k, thread.attrs, flags)
    task.creds = thread.creds  # copy_creds; the what-if creators too: a fresh process
    # that could leave its maker's identity behind would be a way out of it
    if task.ns.of("user") != thread.ns.of("user"):  # CLONE_NEWUSER
        task.creds = creds.in_new_user_namespace(task.creds)
    task.altstack = altstack.inherited(thread, flags)
    task.semundo = sysvsem.for_child(thread, flags)
    if "thread" not in flags:  # on its creator's descriptor, or a copy of it
        task.descriptor_tid = thread.libc_tid
    if "thread" in flags:
        parent.threads[name] = task
        return parent
    child = Process(name, next(k._pids), copy_mm(k, parent, flags),
                    copy_files(k, parent, flags, files), copy_sighand(parent, flags, sighand),
                    {MAIN: task}, copy_fs(parent, flags, fs), parent=parent.name,
                    parent_thread=thread.name, sibling=next(k._order), pgrp=parent.pgrp,
                    session=parent.session, pid_ns=ns.of("pid"), cgroup=parent.cgroup,
                    rlimits=dict(parent.rlimits))
    # copy_signal: a new thread group, with nothing pending (Process.shared_pending)
    exit_signals.made(child, parent, exit_signal)
    k.processes[name] = child
    namespaces.joined(k, child)
    parent.children.append(name)
    if "pidfd" in flags:
        number = parent.files.lowest_free(fd_limit(parent))
        assert number is not None
        # O_RDWR, as the kernel opens a pidfd: write(2) on it is EINVAL, not EBADF
        parent.files.install(number, OpenFile(PidFd(name), True, True), cloexec=True)
    if "vfork" in flags:  # only the calling thread waits (wait_for_vfork_done)
        thread.suspended = True
        child.vfork_parent, child.vfork_thread = parent.name, thread
    return child


def new_thread(k: Kernel, name: str, tls: int | None = None) -> Thread:
    """A task with a new thread id; a new TLS block unless it runs on ``tls``."""
    return Thread(name, next(k._tids), next(k._tls) if tls is None else tls,
                  attrs=k.machine.first, creds=k.machine.creds)


def copy_mm(k: Kernel, parent: Process, flags: frozenset[str]) -> AddressSpace:
    """The child's memory: the parent's itself (``vm``), an empty one (``blank``), or
    what ``dup_mmap`` copies, with a copy of libc's state in it."""
    if "blank" in flags:
        return AddressSpace(k.memory, UserMemory())
    assert parent.mm is not None
    if "vm" in flags:
        return parent.mm
    return parent.mm.fork_copy(parent.mm.user.copy())


def copy_files(k: Kernel, parent: Process, flags: frozenset[str],
               given: FdTable | None = None) -> FdTable:
    """The child's fd table: the one made for it, the parent's (``files``), or a copy
    made by the model's fd-table copy (``Rules.copy_files``)."""
    if given is not None:
        return given
    return parent.files if "files" in flags else k.rules.copy_files(parent.files)


def copy_sighand(parent: Process, flags: frozenset[str],
                 given: SigHand | None = None) -> SigHand:
    """The child's handlers: the ones made for it, the parent's (``sighand``), or a copy;
    ``clear_sighand`` resets the caught ones to default."""
    if given is not None:
        return given
    sighand = parent.sighand if "sighand" in flags else parent.sighand.copy()
    if "clear_sighand" in flags:
        sighand.reset_caught()
    return sighand


def copy_fs(parent: Process, flags: frozenset[str], given: FsStruct | None = None) -> FsStruct:
    """The child's cwd and umask: the ones made for it, the parent's (``fs``), or a copy."""
    if given is not None:
        return given
    return parent.fs if "fs" in flags else parent.fs.copy()


def clone_failed(k: Kernel, proc: Process, thread: Thread, name: str, errno: str) -> None:
    set_errno(proc, thread, errno)
    k.names.failed[name] = errno


def fork_stats(proc: Process) -> cost.ForkStats:
    """What a creating call made by ``proc`` copies or sets up, for the cost model."""
    assert proc.mm is not None
    return cost.ForkStats.of(proc.mm, fds=len(proc.files.fds), threads=len(proc.threads))


@HANDLERS.handles(ops.Fork)
def op_fork(k: Kernel, proc: Process, thread: Thread, op: ops.Fork) -> None:
    """libc fork: atfork prepare (may wait for a lock), clone, then the epilogue."""
    assert proc.mm is not None
    prepare = tuple(reversed(proc.mm.user.atfork))  # last registered first
    k.block(proc, thread, op, OnAtforkLocks(op.binds[0], prepare))


def fork_after_prepare(k: Kernel, proc: Process, thread: Thread,
                       wait: OnAtforkLocks) -> OnAtforkLocks | None:
    """The rest of libc fork, once the prepare handlers may take their locks."""
    assert proc.mm is not None
    user = proc.mm.user
    prepare = wait.locks
    while prepare:  # each handler locks in turn, keeping what it took while it waits
        mutex = user.mutex(prepare[0])  # (held by this thread too, a lock registered
        # twice waits for good; an errorcheck one returns EDEADLK and fork goes on)
        if not mutex.relock(thread.libc_tid) and not mutex.take(thread.tid, thread.libc_tid):
            return OnAtforkLocks(wait.child, prepare)
        prepare = prepare[1:]
    stats = fork_stats(proc)
    child = clone(k, proc, thread, wait.child, frozenset())
    if child is None:  # (a PID namespace whose init is gone: ENOMEM)
        for lock in user.atfork:  # the parent's handlers run; there is no child
            user.unlock(lock, thread.libc_tid)
        return None
    assert child.mm is not None
    child.main.descriptor_tid = None  # glibc's fork: the child's descriptor gets its tid
    for lock in user.atfork:  # parent and child handlers, in registration order (an
        user.unlock(lock, thread.libc_tid)  # errorcheck mutex stays locked in the child:
        child.mm.user.unlock(lock, child.main.libc_tid)  # its parent's thread holds it)
    child.spawn_us = k.spawn_cost("fork", stats)
    return None


@HANDLERS.handles(ops.Vfork)
def op_vfork(k: Kernel, proc: Process, thread: Thread, op: ops.Vfork) -> None:
    stats = fork_stats(proc)
    child = clone(k, proc, thread, op.binds[0], frozenset({"vm", "vfork"}))
    if child is None:  # (a PID namespace whose init is gone: ENOMEM)
        return
    child.spawn_us = k.spawn_cost("vfork", stats)


@HANDLERS.handles(ops.Clone)
def op_clone(k: Kernel, proc: Process, thread: Thread, op: ops.Clone) -> None:
    flags = op.flags
    stats = fork_stats(proc)
    refused = cgroups.refusal(thread) if op.cgroup is not None else None
    if refused is not None:
        clone_failed(k, proc, thread, op.binds[0], refused)
        return
    child = clone(k, proc, thread, op.binds[0], flags, exit_signal=op.exit_signal)
    if child is not None:
        child.spawn_us = k.spawn_cost("vfork" if "vm" in flags else "fork", stats)
        if op.cgroup is not None:
            child.cgroup = op.cgroup


@HANDLERS.handles(ops.Thread)
def op_thread(k: Kernel, proc: Process, thread: Thread, op: ops.Thread) -> None:
    assert proc.mm is not None
    proc.mm.user.threads_made = True
    clone(k, proc, thread, op.binds[0], SHARING | {"thread"})
