"""Kernel facts behind the memory model's edges (tests/kernel_facts/mem_edges.c).

Which split VMAs merge again (forklab/sim/vmas.py), the fault-around window of
a VMA that starts inside an aligned window (forklab/sim/memory.py), the
overcommit heuristic (forklab/sim/overcommit.py) and write permission of a
shared mapping of a read-only fd (forklab/sim/mman.py).
"""
from __future__ import annotations

import errno

import pytest

from kernel_facts.harness import expect, facts, needs_root

ENOMEM, EACCES = errno.ENOMEM, errno.EACCES


def test_a_vma_with_a_close_hook_merges_only_by_moving_a_boundary() -> None:
    # shared anonymous memory merges back as private memory does
    expect(facts("mem_edges"), {
        "merge.anon.mlock_all": 1, "merge.anon.mlock_part": 2,
        "merge.anon.mprotect_back": 1, "merge.anon.mprotect_shift": 2,
        "merge.anon.mprotect_both": 1,
    })
    # a System V segment (shm_vm_ops has close): a whole VMA the call changes is never
    # merged away; a part of one is, as the neighbour grows over it
    expect(facts("mem_edges"), {
        "merge.sysv.mlock_all": 2, "merge.sysv.mlock_part": 2,
        "merge.sysv.mprotect_back": 3, "merge.sysv.mprotect_shift": 2,
        "merge.sysv.mprotect_both": 3,
    })


def test_the_fault_around_window_starts_at_a_split_vma_and_stops_at_the_page_table() -> None:
    expect(facts("mem_edges"), {
        # VMA from page 34: the window runs 16 pages from there, not from 32
        "around.split34_read43.present": 16, "around.split34_read43.first": 34,
        "around.split34_read43.last": 49,
        "around.split34_read34.present": 16, "around.split34_read34.first": 34,
        # from page 500 it would run to 515, but the page table ends at 512
        "around.split500_read500.present": 12, "around.split500_read500.last": 511,
    })


def test_overcommit_heuristic_judges_each_call_against_ram_and_swap() -> None:
    got = facts("mem_edges")
    if got.get("commit.mode") != "0":
        pytest.skip(f"vm.overcommit_memory is {got.get('commit.mode')}, the facts are mode 0's")
    expect(got, {
        "commit.private_rw_total": 0, "commit.private_rw_over": ENOMEM,
        "commit.private_rw_over_noreserve": 0, "commit.private_ro_over": 0,
        # shared memory is charged for its object, whatever the protection
        "commit.shared_over": ENOMEM, "commit.shared_ro_over": ENOMEM,
        "commit.shared_over_noreserve": 0,
        "commit.sysv_over": ENOMEM, "commit.sysv_over_noreserve": 0,
        "commit.mprotect_rw_over": ENOMEM, "commit.mprotect_rw_total": 0,
        "commit.second_total": 0,
        # mremap asks for the new pages; fork asks again for each charged VMA whole
        "commit.mremap_grow_over": ENOMEM, "commit.mremap_grow_total_less_one": 0,
        "commit.mremap_grow_to_over": 0, "commit.fork_over": ENOMEM,
    })


def test_a_read_only_fd_gives_a_shared_mapping_no_write_permission() -> None:
    expect(facts("mem_edges"), {
        "fdro.shared_rw": EACCES, "fdro.private_rw": 0, "fdro.private_mprotect_rw": 0,
        "fdro.shared_mprotect_rw": EACCES, "fdro.shared_mprotect_part_rw": EACCES,
    })


def test_a_page_cache_miss_is_a_major_fault_but_on_tmpfs() -> None:
    got = facts("mem_edges")
    if got.get("sparse.tmpfs") == "1":
        expect(got, {"sparse.write_minflt": 1, "sparse.write_majflt": 0})
    else:
        expect(got, {"sparse.write_minflt": 0, "sparse.write_majflt": 1})


def test_attaching_a_segment_for_execution_needs_cap_ipc_owner_over_its_ipc_namespace() -> None:
    # the segment is 0600: nobody may execute it but by CAP_IPC_OWNER in the user
    # namespace that owns the IPC namespace (ipcperms)
    needs_root()
    got = facts("mem_edges")
    expect(got, {"shmexec.root.rw": 0, "shmexec.root.ro": 0, "shmexec.root.rx": 0,
                 "shmexec.nobody.rw": 0, "shmexec.nobody.ro": 0, "shmexec.nobody.rx": EACCES})
    if got.get("shmexec.userns.rw") == "-1":
        pytest.skip("this machine lets nobody make a user namespace")
    expect(got, {"shmexec.userns.rw": 0, "shmexec.userns.ro": 0, "shmexec.userns.rx": EACCES,
                 "shmexec.userns_ipc.rw": 0, "shmexec.userns_ipc.ro": 0,
                 "shmexec.userns_ipc.rx": 0})


def test_a_locked_private_vma_made_writable_is_populated_for_writing() -> None:
    # mprotect_fixup: a private VM_LOCKED VMA that becomes writable is populated with
    # write faults at once (copy-on-write broken now, not at the first store)
    expect(facts("mem_edges"), {
        "lockedro.anon.mprotect_faults": 4, "lockedro.file.mprotect_faults": 4,
        "lockedro.file.anon_after": 4,
        "unlocked.anon.mprotect_faults": 0, "unlocked.file.mprotect_faults": 0,
        "unlocked.file.anon_after": 0,
    })
