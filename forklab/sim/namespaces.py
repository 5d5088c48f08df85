"""Namespaces: which PID, mount, UTS, IPC, network and user namespace a process is in.

A task points at one namespace of each kind (its ``nsproxy``, and its
credentials' user namespace): :class:`Membership`, kept per thread, since
``unshare`` moves only the calling thread. Every creator copies the creating
thread's, so the child is in its creator's namespaces, unless a clone flag
(``newpid``...) makes a new one for it. ``unshare`` moves the caller into new
ones, except for the PID namespace: a process never changes its own
(``Process.pid_ns``), and ``unshare pid`` only decides where its next children
go (``pid_for_children``). exec keeps them all.
Every rule here was settled on the kernel first (tests/kernel_facts/proc_namespaces.c):

- making any namespace but a user one needs CAP_SYS_ADMIN in the caller's user
  namespace (else EPERM); a new user namespace gives the process that is in it
  every capability there, until it execs (its uid is unmapped there: not root);
- a user namespace cannot be made from one the run made (EPERM: the creator's
  ids must be mapped in its own, and no uid_map is ever written there);
- ``unshare user`` in a process with other threads is EINVAL, and so is a new
  thread once the process has ``unshare pid``-ed (its children's namespace is
  no longer its own), or a second ``unshare pid`` / ``clone newpid`` then;
- the first process in a new PID namespace is its init (pid 1): an orphan in
  the namespace goes to it, a signal it has no handler for is dropped (even
  SIGKILL, unless sent from outside the namespace), and when it dies every
  other process in the namespace is killed and no new one can enter (ENOMEM);
- a namespace belongs to the user namespace its creator's credentials are in
  (a new one made by the same call first); an IPC namespace's message queues
  live in a file system of that user namespace, where nobody's ids are mapped
  if the run made it (no uid_map is ever written): ``mq_open`` there is
  EOVERFLOW (tests/kernel_facts/proc_mq_userns.c).

The run's processes start in the namespaces forklab runs in (the "initial"
ones, id 0); whether they may make more is read from the machine when a run
starts (``own_admin``), so that both backends agree as root and as another user.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from forklab.scenario import ops
from forklab.scenario.ops import CLONE_NAMESPACE_FLAGS, NAMESPACE_KINDS
from forklab.sim.syscall import HANDLERS, set_errno

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread

MAIN = ""  # the main thread's key in Process.threads (forklab.sim.tasks.MAIN)

INITIAL = 0
"""The id of every initial namespace: the ones forklab itself is in."""
CAP_SYS_ADMIN = 21


def own_admin() -> bool:
    """Whether forklab's own processes may make namespaces (CAP_SYS_ADMIN in effect)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    except OSError:
        pass
    return False


def user_namespaces_allowed() -> bool:
    """Whether this machine lets anyone make a user namespace (max_user_namespaces > 0)."""
    try:
        with open("/proc/sys/user/max_user_namespaces") as limit:
            return int(limit.read()) > 0
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class Membership:
    """The namespaces one process is in (its own ids, never shared state: frozen).

    ``pid_children``: the PID namespace its next children go to (unshare pid);
    ``admin``: it holds CAP_SYS_ADMIN in its user namespace."""

    ids: tuple[int, ...] = (INITIAL,) * len(NAMESPACE_KINDS)
    pid_children: int = INITIAL
    admin: bool = False

    def of(self, kind: str) -> int:
        return self.ids[NAMESPACE_KINDS.index(kind)]

    def moved(self, new: dict[str, int]) -> Membership:
        return replace(self, ids=tuple(new.get(kind, old)
                                       for kind, old in zip(NAMESPACE_KINDS, self.ids)))


@dataclass
class PidNamespace:
    parent: int  # the PID namespace it was made in (whose processes see into it)
    init: str | None = None  # the process that is its pid 1, once it has one
    closed: bool = False  # its init has died: no process can enter it any more


@dataclass
class Namespaces:
    """The run's namespaces: ids handed out, and each new PID namespace's init."""

    admin: bool  # whether the first process may make namespaces
    users_allowed: bool
    next_id: int = INITIAL + 1
    pid: dict[int, PidNamespace] = field(default_factory=dict)
    ipc_owner: dict[int, int] = field(default_factory=dict)  # IPC ns -> its user ns

    def __deepcopy__(self, memo: dict[int, Any]) -> Namespaces:
        new = copy.copy(self)
        new.pid = {n: replace(p) for n, p in self.pid.items()}
        new.ipc_owner = dict(self.ipc_owner)
        return new

    def first(self) -> Membership:
        return Membership(admin=self.admin)

    def new_ids(self, kinds: frozenset[str], pid_parent: int) -> dict[str, int]:
        out = {}
        for kind in NAMESPACE_KINDS:
            if kind in kinds:
                out[kind] = self.next_id
                if kind == "pid":
                    self.pid[self.next_id] = PidNamespace(pid_parent)
                self.next_id += 1
        return out

    def within(self, pidns: int, ancestor: int) -> bool:
        """Whether PID namespace pidns is ancestor or one of its descendants."""
        while pidns != ancestor:
            if pidns == INITIAL:
                return False
            pidns = self.pid[pidns].parent
        return True


def _refusal(k: Kernel, ns: Membership, kinds: frozenset[str]) -> str | None:
    """The errno of making these namespaces now, or None: they can be made."""
    if "pid" in kinds and ns.pid_children != ns.of("pid"):
        return "EINVAL"  # its children's PID namespace is already not its own
    if "user" in kinds and not k.namespaces.users_allowed:
        return "ENOSPC"
    if "user" in kinds and ns.of("user") != INITIAL:
        return "EPERM"  # create_user_ns: the creator's ids unmapped where it is
    if kinds - {"user"} and not (ns.admin or "user" in kinds):
        return "EPERM"
    return None


def _enter(k: Kernel, ns: Membership, kinds: frozenset[str]) -> Membership:
    """ns with new namespaces of these kinds (pid: as a new process's own)."""
    new = k.namespaces.new_ids(kinds, ns.of("pid"))
    moved = ns.moved(new)
    if "ipc" in new:  # copy_creds (or unshare's new cred) comes before the nsproxy
        k.namespaces.ipc_owner[new["ipc"]] = moved.of("user")
    if "pid" in new:
        moved = replace(moved, pid_children=new["pid"])
    if "user" in new:
        moved = replace(moved, admin=True)
    return moved


@HANDLERS.handles(ops.Unshare)
def op_unshare(k: Kernel, proc: Process, thread: Thread, op: ops.Unshare) -> None:
    """Only the calling thread moves (a task's nsproxy is its own); /proc/PID/ns and
    ``same_ns`` show the main thread's."""
    kinds = op.kinds
    errno = "EINVAL" if "user" in kinds and len(proc.threads) > 1 \
        else _refusal(k, thread.ns, kinds)
    if errno is not None:
        set_errno(proc, thread, errno)
        return
    entered = _enter(k, thread.ns, kinds)
    if "pid" in kinds:  # the caller stays in its own; only its children go there
        entered = entered.moved({"pid": thread.ns.of("pid")})
    thread.ns = entered
    if "ipc" in kinds:
        from forklab.sim.sysvsem import left_ipc_namespace  # sysvsem reads INITIAL here
        left_ipc_namespace(k, thread)
    if "user" in kinds:
        from forklab.sim.creds import in_new_user_namespace  # creds reads INITIAL here
        thread.creds = in_new_user_namespace(thread.creds)


def for_child(k: Kernel, thread: Thread, flags: frozenset[str]) -> Membership | str:
    """The namespaces of a task that thread creates (flag ``thread``: a thread of its
    process), or the errno of its creation, in the order copy_process checks."""
    ns = thread.ns
    kinds = frozenset(CLONE_NAMESPACE_FLAGS[f] for f in flags if f in CLONE_NAMESPACE_FLAGS)
    if "thread" in flags:
        return ns if ns.pid_children == ns.of("pid") else "EINVAL"
    if kinds:
        errno = _refusal(k, ns, kinds)
        if errno is not None:
            return errno
        if "ipc" in kinds and "sysvsem" in flags:
            return "EINVAL"  # an undo list cannot span two IPC namespaces
        ns = _enter(k, ns, kinds)
    target = k.namespaces.pid.get(ns.pid_children)
    if target is not None and target.closed:
        return "ENOMEM"  # its init is gone
    return ns.moved({"pid": ns.pid_children})


def joined(k: Kernel, child: Process) -> None:
    """A new process is in its PID namespace: the first one there is its init."""
    target = k.namespaces.pid.get(child.pid_ns)
    if target is not None and target.init is None:
        target.init = child.name


def after_exec(thread: Thread) -> None:
    """execve recomputes capabilities: in a user namespace the run made, the uid is
    unmapped (not root there), so CAP_SYS_ADMIN is gone."""
    if thread.ns.of("user") != INITIAL:
        thread.ns = replace(thread.ns, admin=False)


def ids_mapped_for_ipc(k: Kernel, thread: Thread) -> bool:
    """Whether thread's ids are mapped in the user namespace that owns its IPC
    namespace (there its message queues' inodes are made): only in the initial one."""
    return k.namespaces.ipc_owner.get(thread.ns.of("ipc"), INITIAL) == INITIAL


def init_of(k: Kernel, proc: Process) -> str | None:
    """The init of proc's PID namespace, if that is one the run made."""
    target = k.namespaces.pid.get(proc.pid_ns)
    return target.init if target is not None else None


def is_init(k: Kernel, proc: Process) -> bool:
    return proc.pid_ns != INITIAL and init_of(k, proc) == proc.name


def drops(k: Kernel, target: Process, sig: str, sender: Process | None,
          blocked: bool) -> bool:
    """A PID namespace's init ignores a signal it has no handler for (SIGNAL_UNKILLABLE),
    unless SIGKILL or SIGSTOP comes from outside its namespace (an ancestor's); a
    blocked one is queued all the same (``discards`` says what becomes of it)."""
    if blocked or not is_init(k, target) or target.sighand.get(sig) != "default":
        return False
    from_outside = sender is not None and sender.pid_ns != target.pid_ns
    return not (from_outside and sig in ("SIGKILL", "SIGSTOP"))


def discards(k: Kernel, proc: Process, sig: str) -> bool:
    """Whether the init of a PID namespace drops a pending signal as it is delivered: any
    with the default action but SIGKILL and SIGSTOP (get_signal's SIGNAL_UNKILLABLE)."""
    return is_init(k, proc) and proc.sighand.get(sig) == "default" and \
        sig not in ("SIGKILL", "SIGSTOP")


def sees(k: Kernel, sender: Process, target: Process) -> bool:
    """Whether target's pid is one sender can name: its PID namespace is sender's own or
    one made below it (a pidfd of any other is EINVAL to pidfd_send_signal)."""
    return k.namespaces.within(target.pid_ns, sender.pid_ns)


def reaper(k: Kernel, proc: Process) -> str | None:
    """Who takes proc's orphans: the init of its PID namespace if the run made it and it
    lives on (None: init, or forklab, the subreaper, outside the run)."""
    init = init_of(k, proc)
    if init is None or init == proc.name or k.processes[init].ended:
        return None
    return init


def members(k: Kernel, init: Process) -> list[Process]:
    """The live processes of the PID namespace init is pid 1 of, init aside: its death
    kills them (zap_pid_namespace)."""
    k.namespaces.pid[init.pid_ns].closed = True
    return [p for p in k.processes.values()
            if p is not init and not p.ended and p.pid_ns == init.pid_ns]


def same(proc: Process, kind: str, other: Process, thread: str | None = None) -> bool | None:
    """Whether proc's main thread (or its thread ``thread``) and other's main thread are
    in the same namespace of this kind (what /proc/PID/ns shows of a main thread); None
    if either has ended or lost that thread."""
    mine, theirs = proc.threads.get(thread or MAIN), other.threads.get(MAIN)
    if proc.ended or other.ended or mine is None or theirs is None:
        return None
    return mine.ns.of(kind) == theirs.ns.of(kind)
