"""Kernel facts behind the calls on part of a mapping (tests/kernel_facts/mem_ranges.c).

How mprotect, madvise and munmap of a range split a VMA and when the pieces
merge again, what mlock faults in and locks, what a fork child keeps of it,
RLIMIT_MEMLOCK, and MADV_FREE without memory pressure: what the simulator's
forklab/sim/vmas.py and forklab/sim/mman.py copy.
"""
from __future__ import annotations

import errno

from kernel_facts.harness import expect, facts, needs_root

ENOMEM, EINVAL, EPERM = errno.ENOMEM, errno.EINVAL, errno.EPERM


def test_a_range_splits_the_vma_and_the_same_flags_merge_it_back() -> None:
    expect(facts("mem_ranges"), {
        "fresh_vmas": 1,
        "mprotect_range_vmas": 3, "mprotect_back_vmas": 1,
        "mprotect_head_vmas": 2, "mprotect_adjacent_same_vmas": 2,
        "written_mprotect_range_vmas": 3, "written_mprotect_back_vmas": 1,
        "dontfork_range_vmas": 3, "dofork_back_vmas": 1, "hugepage_range_vmas": 3,
        "dontneed_range_vmas": 1, "dontneed_range_present": 14,
    })


def test_a_fork_childs_pieces_do_not_merge_back() -> None:
    expect(facts("mem_ranges"), {
        "child_written_mprotect_back_vmas": 3, "parent_after_fork_back_vmas": 1,
    })


def test_unmapping_a_range_keeps_the_rest_and_calls_over_the_hole() -> None:
    expect(facts("mem_ranges"), {
        "munmap_range_vmas": 2, "munmap_range_present": 14,
        # mprotect changes the VMA before the hole, not the one after, and fails
        "mprotect_over_hole_rc": ENOMEM, "mprotect_over_hole_vmas": 2,
        "mprotect_over_hole_head_writable": 0, "mprotect_over_hole_tail_writable": 1,
        # madvise goes past the hole (it split the VMA after it) and fails
        "madvise_over_hole_rc": ENOMEM, "madvise_over_hole_vmas": 3,
        "munmap_hole_again_rc": 0, "munmap_all_vmas": 1, "unmapped_vmas": 0,
    })


def test_mlock_faults_in_and_locks_the_range() -> None:
    expect(facts("mem_ranges"), {
        "mlock_fresh_rc": 0, "mlock_fresh_faults": 4, "mlock_fresh_present": 4,
        "mlock_fresh_locked_pages": 4, "mlock_fresh_locked_kb": 16, "mlock_fresh_vmas": 3,
        "mlock_again_faults": 0, "write_locked_faults": 0,
        "munlock_faults": 0, "munlock_part_locked_pages": 2, "munlock_part_vmas": 3,
        "munlock_all_vmas": 1, "munlock_all_present": 4,
        "mlock_ro_faults": 16, "mlock_shared_faults": 16, "mlock_shared_present": 16,
        # PROT_NONE: VM_LOCKED is set, faulting in fails
        "mlock_none_rc": ENOMEM, "mlock_none_faults": 0, "mlock_none_present": 0,
        "mlock_none_locked_pages": 16, "mlock_none_locked_kb": 0,
        # a hole: the VMA before it is locked, nothing faulted in
        "mlock_hole_rc": ENOMEM, "mlock_hole_faults": 0, "mlock_hole_locked_pages": 4,
        "mlock_hole_locked_kb": 0, "mlock_hole_vmas": 2,
        "dontneed_locked_rc": EINVAL, "free_locked_rc": EINVAL,
        "dontneed_across_locked_rc": EINVAL, "dontneed_across_locked_present": 4,
    })


def test_mlock_populates_with_write_faults_and_read_only_with_the_zero_page() -> None:
    needs_root()
    expect(facts("mem_ranges"), {"mlock_fresh_zero": 0, "mlock_ro_zero": 16})


def test_a_fork_child_does_not_inherit_the_lock() -> None:
    expect(facts("mem_ranges"), {
        "child_locked_pages": 0, "child_locked_kb": 0, "child_vmas": 3, "child_present": 4,
    })


def test_rlimit_memlock() -> None:
    needs_root()  # dropping to nobody
    expect(facts("mem_ranges"), {
        "nobody_mlock_over_rc": ENOMEM, "nobody_mlock_over_present": 0,
        "nobody_mlock_over_locked_pages": 0,
        "nobody_mlock_under_rc": 0, "nobody_mlock_more_rc": ENOMEM,
        "nobody_mlock_again_rc": 0,  # pages locked already do not count twice
        "nobody_zero_limit_rc": EPERM,
        "root_zero_limit_rc": 0,  # CAP_IPC_LOCK: no limit
    })


def test_madv_free_keeps_the_pages_without_pressure() -> None:
    expect(facts("mem_ranges"), {
        "free_rc": 0, "free_present": 16, "free_vmas": 1, "free_byte0": 7,
        "free_write_faults": 0, "free_shared_rc": EINVAL,
        "free_fresh_rc": 0, "free_fresh_present": 0,
    })


def test_mremap_grows_in_place_into_free_room_and_shrinks() -> None:
    expect(facts("mem_ranges"), {
        "mremap_grow_in_place": 1, "mremap_grow_vmas": 1, "mremap_grow_present": 16,
        "mremap_shrink": 1, "mremap_shrink_present": 8,
        # the next mapping 2 GiB on: up to its start in place, past it ENOMEM
        "mremap_into_next_rc": ENOMEM, "mremap_to_next_start": 1,
        # the old size over several VMAs: EFAULT to grow; shrinking just unmaps
        "mremap_split_grow_rc": errno.EFAULT, "mremap_split_shrink": 1,
        "mremap_split_shrink_vmas": 2, "mremap_first_unmapped_rc": errno.EFAULT,
        # a locked mapping's new pages are faulted in
        "mremap_locked_grow": 1, "mremap_locked_grow_faults": 16,
        "mremap_locked_grow_present": 32,
    })
