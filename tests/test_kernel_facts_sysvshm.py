"""An attached System V shared memory segment on the real kernel
(tests/kernel_facts/proc_sysvshm.c): the facts the model of ``mmap NAME SIZE sysv``
follows (forklab/sim/sysvshm.py)."""
from __future__ import annotations

import os
import shutil

import pytest
from kernel_facts.harness import expect, facts, run_fact


def test_an_attach_at_a_fixed_address_removed_at_once():
    expect(facts("proc_sysvshm"), {
        "get": 0, "at": 0, "at.address": 1,
        # shmctl(2) IPC_RMID: "The segment will actually be destroyed only after the
        # last process detaches it": removing it right after the attach is allowed
        "rmid": 0, "nattch": 1, "rmid.private": 1,
        # proc(5): the maps pathname of a System V segment, its inode the shmid
        "maps.name": "/SYSV00000000 (deleted)", "maps.inode": 1,
        # shared memory: VM_SHARED, never charged per mapping (no VM_ACCOUNT)
        "smaps.ac": 0, "smaps.sh": 1,
        "toobig": "EINVAL",
    })


def test_fork_vfork_threads_share_it_exec_and_spawn_detach_it():
    expect(facts("proc_sysvshm"), {
        # fork(2)/shmop(2): "After a fork(2), the child inherits the attached shared
        # memory segments"
        "fork.shared": 1, "fork.nattch": 2, "fork.after_exit.nattch": 1,
        "vfork.shared": 1, "thread.shared": 1,
        # shmop(2): "After an execve(2), all attached shared memory segments are
        # detached from the process"
        "exec.attached": 0, "spawn.attached": 0,
        # madvise(2) MADV_DONTFORK applies to it as to any mapping
        "dontfork.child": 0,
    })


def test_munmap_and_mprotect_of_an_attach():
    expect(facts("proc_sysvshm"), {
        # munmap of part leaves the attach; of the rest, detaches it: removed, it is gone
        "munmap.part": 0, "munmap.part.nattch": 1, "munmap.all.gone": 1,
        "mprotect.rw.ro": 0, "mprotect.rw.rw": 0, "mprotect.rw.rx": 0,
        # SHM_RDONLY opens the segment read-only: no VM_MAYWRITE, so write never comes
        "ro.at": 1, "mprotect.ro.rw": "EACCES", "mprotect.ro.rx": 0,
    })


def test_mremap_grows_the_mapping_not_the_object():
    expect(facts("proc_sysvshm"), {
        # the segment (and shared anonymous memory's object) keeps its size: a page of
        # the grown mapping past it has nothing behind it
        "mremap.past": "Bus error", "mremap.anon_shared.past": "Bus error",
    })


def test_a_user_other_than_root_may_make_one():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user")
    got = run_fact("proc_sysvshm", "user",
                   runner=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    expect(got, {"user.get": 0})
