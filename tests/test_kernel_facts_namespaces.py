"""Namespaces on the real kernel (tests/kernel_facts/proc_namespaces.c).

The facts the model of ``unshare``, the ``clone`` namespace flags and
``P.same_ns(KIND, Q)`` follows (forklab/sim/namespaces.py). Expected values
are the man pages' words, quoted; where the program runs as root, it also
runs as nobody, who may make only a user namespace.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from kernel_facts.harness import expect, facts, needs_linux_cc, run_fact

KINDS = ("pid", "mnt", "uts", "ipc", "net", "user")


def _root() -> None:
    if os.geteuid() != 0:
        pytest.skip("making a namespace other than a user one needs CAP_SYS_ADMIN")


def test_every_creator_puts_the_new_one_in_the_callers_namespaces():
    # fork(2): the child is a duplicate of the parent (namespaces are not among the
    # exceptions); execve(2) does not list them among what it resets;
    # pthreads(7): threads share "the same ... namespaces" of the process.
    _root()
    expect(facts("proc_namespaces"), {
        f"{creator}.{kind}": "same"
        for creator in ("fork", "vfork", "spawn", "thread", "exec")
        for kind in KINDS if kind != "pid"})


def test_unshare_and_clone_make_new_namespaces():
    # unshare(2): "Unshare the <kind> namespace, so that the calling process has a
    # private copy"; clone(2): "create the process in a new <kind> namespace".
    _root()
    want: dict[str, object] = {}
    for kind in KINDS:
        want[f"unshare.{kind}"] = 0
        want[f"clone.{kind}"] = "new"
        # unshare(2) CLONE_NEWPID: "the calling process is not moved into the new namespace"
        want[f"unshare.{kind}.moved"] = 0 if kind == "pid" else 1
    expect(facts("proc_namespaces"), want)


def test_the_pid_namespace_rules():
    _root()
    expect(facts("proc_namespaces"), {
        # pid_namespaces(7): "The first process created in a new namespace ... has the PID 1"
        "clone.pid.getpid": 1,
        # getppid(2): "If the caller's parent is in a different PID namespace ... returns 0"
        "clone.pid.getppid": 0,
        # unshare(2): "The first child created by the calling process will have the process
        # ID 1 and will assume the role of init(1) in the new namespace"
        "fork.pid": "new", "fork.pid.in_children_ns": 1,
        # pid_namespaces(7): "a subsequent fork(2) fails with ENOMEM" once init terminated
        "fork.pid.again": "ENOMEM",
        # clone(2) EINVAL: "CLONE_THREAD was specified ..., but the current process
        # previously called unshare(2) with the CLONE_NEWPID flag"
        "unshare.pid.then_thread": "EINVAL",
        # pid_namespaces(7): an orphaned child "will be reparented to init";
        # "If the init process of a PID namespace terminates, the kernel terminates all
        # of the processes in the namespace via a SIGKILL signal"
        "pidns.orphan_parent": 1, "pidns.orphan_killed_with_init": 1,
    })


def test_user_namespace_rules():
    _root()
    expect(facts("proc_namespaces"), {
        # unshare(2) EINVAL: "CLONE_NEWUSER was specified in flags and the caller is
        # multithreaded"
        "unshare.user.threaded": "EINVAL", "unshare.uts.threaded": 0,
        # user_namespaces(7): the first process in a new user namespace "has a complete
        # set of capabilities" in it ...
        "user_then.uts": 0, "user_then.fork_ipc": 0,
        # ... with an unmapped uid shown as the overflow uid (65534) ...
        "user_then.getuid": 65534,
        # ... and execve(2) recomputes them: its uid is not 0 there, so they are gone
        "user_then.exec_ipc": "EPERM",
        # forklab's clone flag mixes: none is refused
        "mix.newpid_vm_sighand": 0, "mix.newuser_vm_sighand": 0, "mix.newpid_files": 0,
        "mix.newuser_files": 0, "mix.all": 0,
    })


def test_nobody_may_make_only_a_user_namespace():
    # user_namespaces(7): "creating a user namespace requires no privilege"; every
    # other kind needs CAP_SYS_ADMIN (EPERM) in the caller's user namespace.
    needs_linux_cc()
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("running as nobody needs root and setpriv")
    if Path("/proc/sys/user/max_user_namespaces").read_text().strip() == "0":
        pytest.skip("user namespaces are disabled on this machine")
    got = run_fact("proc_namespaces", runner=[setpriv, "--reuid=65534", "--regid=65534",
                                              "--clear-groups"])
    want: dict[str, object] = {f"unshare.{k}": "EPERM" for k in KINDS if k != "user"}
    want.update({f"clone.{k}": "EPERM" for k in KINDS if k != "user"})
    want.update({"unshare.user": 0, "clone.user": "new", "user_then.uts": 0,
                 "mix.newuser_files": 0, "mix.newpid_files": "EPERM", "mix.all": 0})
    expect(got, want)
