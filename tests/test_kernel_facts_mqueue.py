"""POSIX message queue descriptors on the real kernel (tests/kernel_facts/proc_mqueue.c).

The facts the model of ``mq_open`` follows (forklab/sim/fdops.py, files.MQueue).
"""
from __future__ import annotations

from kernel_facts.harness import expect, facts


def test_a_queue_fd_is_close_on_exec_and_fork_shares_it():
    expect(facts("proc_mqueue"), {
        "open": 0,
        # mq_unlink(3): "The message queue itself is destroyed once any other processes
        # that have the queue open close their descriptors"; the name goes at once
        "unlink": 0, "reopen": "ENOENT",
        # the kernel opens the fd with O_CLOEXEC, whatever the caller's flags
        "cloexec": 1,
        # fork(2): "The child inherits copies of the parent's set of open message queue
        # descriptors ... Corresponding descriptors in the child and the parent refer to
        # the same open message queue description"
        "fork": 1,
        # execve(2): "Any open message queue descriptors are closed"; cleared by hand,
        # the fd survives (it is the close-on-exec flag that closes it)
        "exec": 0, "exec.cleared": 1,
    })


def test_what_the_fd_calls_do_to_a_queue():
    expect(facts("proc_mqueue"), {
        # mq_overview(7): reading the queue's file gives a status line
        "read": "QSIZE:", "lseek": "ok", "lseek.offset": 6, "lseek.end": 80,
        "pread.length": 60, "pread.past_end": 0,
        "write": "EINVAL", "pwrite": "EINVAL", "ftruncate": 0, "mmap": "ENODEV",
    })


def test_no_queue_in_an_ipc_namespace_of_an_unmapped_user_namespace():
    expect(facts("proc_mq_userns"), {
        # the IPC namespace's mqueue file system belongs to its owning user namespace;
        # the VFS makes no inode whose owner is unmapped there (may_create: EOVERFLOW)
        "user_then_ipc": "EOVERFLOW", "user_and_ipc": "EOVERFLOW",
        # credentials(7): an unmapped uid cannot be set either
        "user_then_ipc.setresuid": "EINVAL",
        # the initial IPC namespace's file system maps every id
        "user_only": 0,
        # a uid_map written for the caller's ids makes the same call work
        "mapped": 0,
    })
