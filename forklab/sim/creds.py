"""Credentials: user and group ids, supplementary groups and capabilities.

Linux keeps them per task (``struct cred``): a new task gets a copy of its creator's
(``copy_creds``), and ``capset`` changes only the calling thread's. glibc's
``setresuid``, ``setresgid`` and ``setgroups`` make every thread of the process call
the system call (its "setxid" broadcast), so the ids act per process. exec copies
the effective ids to the saved ones and, for a process with a real or effective uid
of 0, makes the bounding set its permitted (and effective) capabilities; with
no_new_privs an exec that would give capabilities back keeps the old permitted set
and makes the effective ids the real ones (``cap_bprm_creds_from_file``). A change
of effective id, or capabilities gained, make the address space not dumpable
(``commit_creds``: fs.suid_dumpable) (tests/kernel_facts/proc_creds.c).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.sim.namespaces import INITIAL
from forklab.sim.syscall import HANDLERS, set_errno
from forklab.vocabulary import CAPABILITIES, capability_names

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@dataclass(frozen=True)
class Creds:
    """One task's credentials (frozen: a change is a new record)."""

    uids: tuple[int, int, int] = (0, 0, 0)  # real, effective, saved
    gids: tuple[int, int, int] = (0, 0, 0)
    groups: tuple[int, ...] = ()  # sorted, as the kernel keeps them
    effective: frozenset[str] = frozenset()
    permitted: frozenset[str] = frozenset()
    inheritable: frozenset[str] = frozenset()
    bounding: frozenset[str] = frozenset()

    def capable(self, capability: str) -> bool:
        return capability in self.effective

    @classmethod
    def own(cls) -> tuple[Creds, bool]:
        """This process's credentials and no_new_privs, from /proc/self/status."""
        fields: dict[str, str] = {}
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    key, _, value = line.partition(":")
                    fields[key] = value.strip()
        except OSError:
            pass

        def ids(key: str, own: int) -> tuple[int, int, int]:
            values = [int(v) for v in fields.get(key, "").split()[:3]]
            return (values[0], values[1], values[2]) if len(values) == 3 else (own,) * 3

        def caps(key: str) -> frozenset[str]:
            return capability_names(int(fields.get(key, "0"), 16))

        return cls(ids("Uid", os.getuid()), ids("Gid", os.getgid()),
                   tuple(sorted(int(g) for g in fields.get("Groups", "").split())),
                   caps("CapEff"), caps("CapPrm"), caps("CapInh"), caps("CapBnd")), \
            fields.get("NoNewPrivs") == "1"


def suid_dumpable() -> int:
    """fs.suid_dumpable: what a process that changed credentials may be (0 by default)."""
    try:
        with open("/proc/sys/fs/suid_dumpable") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


FULL_SET = frozenset(CAPABILITIES)


def capable(thread: Thread, capability: str) -> bool:
    """The kernel's ``capable()``, for what only the initial user namespace grants
    (CAP_SYS_NICE, CAP_SYS_RESOURCE): a task in a user namespace the run made holds
    its capabilities there and below only (cap_capable), never in the initial one."""
    return thread.ns.of("user") == INITIAL and thread.creds.capable(capability)


def in_new_user_namespace(old: Creds) -> Creds:
    """A task that makes a user namespace has every capability there (set_cred_user_ns);
    its ids, unmapped there, stay what the first namespace sees."""
    return replace(old, effective=FULL_SET, permitted=FULL_SET, inheritable=frozenset(),
                   bounding=FULL_SET)


def exec_creds(old: Creds, no_new_privs: bool, mapped: bool = True,
               shared_fs: bool = False) -> Creds:
    """The credentials of the image an exec of a program without set-id bits or file
    capabilities starts with; ``mapped`` False: in a user namespace the run made, where
    no uid is mapped, so uid 0 there is nobody and the exec is not root's.
    ``shared_fs``: another process shares the caller's fs_struct (CLONE_FS), an unsafe
    exec (LSM_UNSAFE_SHARE) that gains no capability
    (tests/kernel_facts/proc_creds_exec_share.c)."""
    real, effective, _ = old.uids
    rgid, egid, _ = old.gids
    root = mapped and (real == 0 or effective == 0)
    permitted = old.bounding | old.inheritable if root else frozenset()
    raise_effective = root and effective == 0
    if no_new_privs and not permitted <= old.permitted:  # LSM_UNSAFE_NO_NEW_PRIVS
        effective, egid = real, rgid
        permitted &= old.permitted
    elif shared_fs:  # cap_bprm_creds_from_file: "no more than they had"
        permitted &= old.permitted
    return replace(old, uids=(real, effective, effective), gids=(rgid, egid, egid),
                   permitted=permitted,
                   effective=permitted if raise_effective else frozenset())


def exec_dumpable(old: Creds, new: Creds, suid: int) -> int:
    """begin_new_exec decides from the old ids; commit_creds then resets it if the
    effective ids changed or capabilities were gained."""
    if old.uids[0] != old.uids[1] or old.gids[0] != old.gids[1] or \
            old.uids[1] != new.uids[1] or old.gids[1] != new.gids[1] or \
            not new.permitted <= old.permitted:
        return suid
    return 1


def _mapped(thread: Thread) -> bool:
    """Whether the thread's ids are mapped in its user namespace: only in the first."""
    return thread.ns.of("user") == INITIAL


def on_exec(k: Kernel, proc: Process, thread: Thread) -> int:
    """exec's new credentials for the thread; returns the new image's dumpable flag.
    commit_creds also clears the parent-death signal when the effective ids change or
    capabilities are gained (tests/kernel_facts/proc_creds_exec_share.c)."""
    old = thread.creds
    shared_fs = any(p.fs is proc.fs for p in k.processes.values()
                    if p is not proc and not p.ended)
    thread.creds = exec_creds(old, thread.attrs.no_new_privs, _mapped(thread), shared_fs)
    if old.uids[1] != thread.creds.uids[1] or old.gids[1] != thread.creds.gids[1] or \
            not thread.creds.permitted <= old.permitted:
        thread.pdeathsig = None
    return exec_dumpable(old, thread.creds, k.machine.suid_dumpable)


def _setxid(k: Kernel, proc: Process, thread: Thread, capability: str,
            allowed: bool) -> bool:
    """Whether the call may go on (else EPERM): privileged, or only ids it has."""
    if thread.creds.capable(capability) or allowed:
        return True
    set_errno(proc, thread, "EPERM")
    return False


def _with_uids(creds: Creds, uids: tuple[int, int, int]) -> Creds:
    """setresuid's capability rules (``cap_emulate_setxuid``)."""
    effective, permitted = creds.effective, creds.permitted
    if 0 in creds.uids and 0 not in uids:
        effective = permitted = frozenset()
    if creds.uids[1] == 0 and uids[1] != 0:
        effective = frozenset()
    elif creds.uids[1] != 0 and uids[1] == 0:
        effective = permitted
    return replace(creds, uids=uids, effective=effective, permitted=permitted)


def _unmapped(proc: Process, thread: Thread, errno: str) -> bool:
    """In a user namespace the run made no id is mapped: set*id is EINVAL (make_kuid
    fails), setgroups EPERM (no gid_map written)."""
    if _mapped(thread):
        return False
    set_errno(proc, thread, errno)
    return True


def _broadcast(proc: Process, thread: Thread) -> list[Thread]:
    """The threads glibc's setxid broadcast reaches: the caller, and each thread whose
    own descriptor names it (glibc signals the thread ids its descriptors hold, with
    tgkill on the caller's pid). A raw clone child's main thread runs on (a copy of)
    its creator's descriptor, whose id is no thread of this process: it keeps its
    ids (tests/scenarios/setxid-after-clone.toml)."""
    return [task for task in proc.threads.values()
            if task is thread or task.descriptor_tid is None]


@HANDLERS.handles(ops.Setresuid)
def op_setresuid(k: Kernel, proc: Process, thread: Thread, op: ops.Setresuid) -> None:
    old = thread.creds
    if _unmapped(proc, thread, "EINVAL") or \
            not _setxid(k, proc, thread, "CAP_SETUID", set(op.ids) <= set(old.uids)):
        return
    for task in _broadcast(proc, thread):  # glibc: every thread makes the call
        task.creds = _with_uids(task.creds, op.ids)
    if op.ids[1] != old.uids[1] and proc.mm is not None:
        proc.mm.dumpable = k.machine.suid_dumpable


@HANDLERS.handles(ops.Setresgid)
def op_setresgid(k: Kernel, proc: Process, thread: Thread, op: ops.Setresgid) -> None:
    old = thread.creds
    if _unmapped(proc, thread, "EINVAL") or \
            not _setxid(k, proc, thread, "CAP_SETGID", set(op.ids) <= set(old.gids)):
        return
    for task in _broadcast(proc, thread):
        task.creds = replace(task.creds, gids=op.ids)
    if op.ids[1] != old.gids[1] and proc.mm is not None:
        proc.mm.dumpable = k.machine.suid_dumpable


@HANDLERS.handles(ops.Setgroups)
def op_setgroups(k: Kernel, proc: Process, thread: Thread, op: ops.Setgroups) -> None:
    if _unmapped(proc, thread, "EPERM") or not _setxid(k, proc, thread, "CAP_SETGID", False):
        return
    for task in _broadcast(proc, thread):
        task.creds = replace(task.creds, groups=tuple(sorted(op.groups)))


@HANDLERS.handles(ops.Capdrop)
def op_capdrop(k: Kernel, proc: Process, thread: Thread, op: ops.Capdrop) -> None:
    """PR_CAPBSET_DROP needs CAP_SETPCAP; capset may always drop (the calling thread's)."""
    creds = thread.creds
    if op.bounding:
        if not creds.capable("CAP_SETPCAP"):
            set_errno(proc, thread, "EPERM")
            return
        creds = replace(creds, bounding=creds.bounding - {op.capability})
    gone = {op.capability}
    thread.creds = replace(creds, effective=creds.effective - gone,
                           permitted=creds.permitted - gone,
                           inheritable=creds.inheritable - gone)
