"""Memory facts of the real Linux kernel that forklab's model copies.

Each test runs one ``tests/kernel_facts/mem_*.c`` program (see
``docs/kernel-facts-memory.md`` for the questions and the numbers) and checks
the facts it prints.  Only deterministic facts are asserted: fault counts,
page counts, VmPTE sizes, signals, errno values.  Timings (``mem_cost.c``) are
only checked for being printed.

Facts that compare or classify page frames (zero page, "same PFN", THP,
"did the PFN change") need root, because the kernel hides PFNs in
/proc/PID/pagemap from everyone else; those tests call ``needs_root()``.

Conventions behind the numbers (all programs): 4 KiB pages, mappings at a
fixed address in a region of their own (16 TiB, 512 GiB aligned), so one
mapping of 16 MiB written in full costs 8 PTE tables + 1 PMD table + 1 PUD
table = 40 kB of VmPTE; MADV_NOHUGEPAGE unless THP is the topic.
"""
from __future__ import annotations


import pytest

from kernel_facts.harness import expect, facts, needs_root

# 16 MiB = 4096 pages of 4 KiB
N = "4096"


def stat(prefix: str, present, exclusive, file=0, zero=None) -> dict[str, object]:
    """The ``PREFIX_present/_exclusive/_file[/_zero]`` keys of one pm_stat."""
    want = {
        f"{prefix}_present": present,
        f"{prefix}_exclusive": exclusive,
        f"{prefix}_file": file,
    }
    if zero is not None:
        want[f"{prefix}_zero"] = zero
    return want


# ---------------------------------------------------------------- environment

def test_environment_facts():
    f = facts("mem_common")
    expect(f, {"page_size": 4096})
    if f["pfn_visible"] == "1":
        expect(f, {"read_maps_zero_page": 1, "written_page_is_zero_page": 0})


def _needs_thp() -> None:
    f = facts("mem_common")
    if f["thp_enabled"] not in ("always", "madvise") or f["thp_use_zero_page"] != "1":
        pytest.skip("THP facts need THP enabled (always/madvise) with the huge zero page")
    if f["thp_pmd_size"] != "2097152":
        pytest.skip("THP facts assume 2 MiB PMD-sized huge pages")


# ------------------------------------------------ 1. fresh private anonymous

def test_fresh_write_faults_once_per_page():
    f = facts("mem_zero")
    expect(f, {
        "write_faults": N,
        **stat("write", N, N),
        "write_vmpte_delta_kb": 40,
        "after_munmap_vmpte_delta_kb": 0,
    })


def test_fresh_read_maps_the_zero_page_not_exclusive():
    f = facts("mem_zero")
    expect(f, {
        "read_faults": N,  # one fault per page, no fault-around for anonymous memory
        **stat("read", N, 0),  # zero-page PTEs are never "exclusive"
        "read_vmpte_delta_kb": 40,  # page tables are allocated by reads too
        "read_then_write_faults": N,  # every write to a zero-page PTE faults
        **stat("read_then_write", N, N),
        "read_then_write_vmpte_delta_kb": 40,
    })


def test_fresh_read_zero_page_frames():
    needs_root()
    f = facts("mem_zero")
    expect(f, {"read_zero": N, "read_same_pfn_all": 1, "read_then_write_zero": 0, "write_zero": 0})


# ------------------------------------------- 2./3. what fork() copies (anon)

def test_fork_skips_ptes_of_vma_without_anon_vma():
    f = facts("mem_zero")
    expect(f, {
        # only read (zero pages): no anon_vma, fork copies no PTEs
        **stat("fork_read_child", 0, 0),
        "fork_read_child_vmpte_delta_kb": 0,
        "fork_read_child_read_faults": N,
        **stat("fork_read_child_after_read", N, 0),
        # never touched
        **stat("fork_untouched_child", 0, 0),
        "fork_untouched_child_vmpte_delta_kb": 0,
        # read all + write one page: anon_vma exists, every PTE is copied
        **stat("fork_read_one_write_child", N, 0),
        "fork_read_one_write_child_vmpte_delta_kb": 40,
    })


def test_fork_copied_zero_page_ptes_frames():
    needs_root()
    f = facts("mem_zero")
    expect(f, {
        "fork_read_child_after_read_zero": N,
        "fork_read_one_write_child_zero": 4095,
        "fork_read_one_write_shared_with_parent": N,
    })


def test_fork_of_written_anon_shares_every_page():
    f = facts("mem_cow")
    expect(f, {
        "parent_write_faults": N,
        **stat("parent_before_fork", N, N),
        **stat("child", N, 0),
        **stat("parent_after_fork", N, 0),
        "parent_vmpte_delta_kb": 40,
        "child_vmpte_delta_kb": 40,  # the child gets its own copy of the tables
        "parent_vmpte_delta_after_fork_kb": 40,
    })


def test_fork_of_written_anon_same_frames():
    needs_root()
    expect(facts("mem_cow"), {"child_shared_with_parent": N, "child_zero": 0})


# ---------------------------------------------------- 4. copy or reuse on write

def test_cow_write_fault_counts():
    f = facts("mem_cow")
    expect(f, {
        "parent_write0_faults": 1,
        "parent_write0_parent_page0_exclusive": 1,
        "parent_write0_child_page0_exclusive": 1,  # the child's old page is now its alone
        "parent_write0_parent_exclusive": 1,
        "parent_write0_child_exclusive": 1,
        "child_write0_faults": 1,  # still write-protected: one fault ...
        "child_write1_faults": 1,
        "child_write_again1_faults": 0,
        "child_exit_status": 0,
        **stat("parent_after_reap", N, N),
        "parent_write2_after_reap_faults": 1,  # still write-protected after the reap
        "parent_rewrite_all_after_reap_faults": 4094,  # all but pages 0 and 2
        "parent_rewrite_all_again_faults": 0,
    })


def test_cow_copy_versus_reuse():
    needs_root()
    f = facts("mem_cow")
    expect(f, {
        "parent_write0_parent_pfn_changed": 1,  # shared page: copied
        "parent_write0_child_pfn_is_old": 1,
        "parent_write0_shared_with": 4095,
        "child_write0_pfn_changed": 0,  # ... but the page is reused, not copied
        "child_write1_child_pfn_changed": 1,  # still shared: the writer copies
        "child_write1_parent_pfn_changed": 0,
        "child_write1_shared_with": 4094,
        "parent_write2_after_reap_pfn_changed": 0,  # sharer gone: reused
        "parent_rewrite_all_after_reap_pfn_changed": 0,
    })


# ------------------------------------------------------ 5. shared anonymous

def test_shared_anon_fork_and_fault_around():
    f = facts("mem_shared")
    expect(f, {
        "parent_write_faults": N,
        **stat("parent", N, N, file=N),  # shmem pages: the "file" bit is set
        "parent_vmpte_delta_kb": 40,
        "parent_rewrite_faults": 0,
        **stat("child", 0, 0),  # fork copies no PTEs of a shared mapping
        "child_vmpte_delta_kb": 0,
        **stat("parent_after_fork", N, N, file=N),
        "child_read1_faults": 1,
        **stat("child_after_read1", 16, 0, file=16),  # fault-around: 16 pages
        "child_after_read1_first_page": 16,
        "child_after_read1_last_page": 31,
        **stat("parent_after_child_read1", N, 4080, file=N),
        "child_read_window_again_faults": 0,
        "child_write1_faults": 1,  # write faults map just the one page
        **stat("child_after_write1", 17, 0, file=17),
        "child_write_faultaround_page_faults": 0,  # shmem PTEs are mapped writable
        "child_vmpte_delta_after_kb": 12,
        "child_write_all_faults": 4079,
        **stat("child_after_write_all", N, 0, file=N),
        "parent_sees_child_write": 1,
    })


def test_shared_anon_frames():
    needs_root()
    f = facts("mem_shared")
    expect(f, {"child_after_read1_shared_with": 16, "child_after_writes_shared_with": 17})


# --------------------------------------------------------- 6. file mappings

def test_private_file_mapping():
    f = facts("mem_file")
    expect(f, {
        "file_page_is_large_folio": 0,
        "priv_read21_faults": 1,
        **stat("priv_read21", 16, 16, file=16),  # page-cache pages mapped once: exclusive
        "priv_read21_first_page": 16,
        "priv_read21_last_page": 31,
        "priv_read_window_again_faults": 0,
        "priv_read255_faults": 1,
        "priv_read255_first_page": 240,
        "priv_read255_last_page": 255,
        "priv_vmpte_delta_kb": 12,
        **stat("priv_fork_after_read_child", 0, 0),  # no anon_vma: nothing copied
        "priv_fork_after_read_child_vmpte_delta_kb": 0,
        "priv_write21_faults": 1,
        "priv_write21_keeps_file_data": 1,
        "priv_write21_file_unchanged": 1,
        **stat("priv_write21_page", 1, 1, file=0),  # now a private anonymous page
        "priv_write100_faults": 1,  # no fault-around on write faults
        **stat("priv_after_writes", 33, 33, file=31),
        **stat("priv_fork_after_write_child", 33, 0, file=31),  # anon_vma: all copied
        "priv_fork_after_write_child_vmpte_delta_kb": 12,
        **stat("priv_fork_after_write_parent", 33, 0, file=31),
        "priv_child_write22_faults": 1,
        "priv_child_write21_faults": 1,
    })


def test_private_file_mapping_frames():
    needs_root()
    expect(facts("mem_file"), {
        "priv_write21_pfn_changed": 1,
        "priv_fork_after_write_shared_with": 33,
        "priv_child_write22_pfn_changed": 1,
        "priv_child_write21_pfn_changed": 1,
    })


def test_fault_around_window_placement():
    # 16 pages (64 KiB); aligned on the virtual address, not the file offset;
    # starts at max(aligned start, VMA start) and runs 16 pages from there
    expect(facts("mem_file"), {
        "off1_read21_faults": 1,
        "off1_read21_first_page": 16,
        "off1_read21_last_page": 31,
        "vma3_read0_faults": 1,
        "vma3_read0_first_page": 0,
        "vma3_read0_last_page": 15,
        "vma3_read60_faults": 1,
        "vma3_read60_first_page": 45,
        "vma3_read60_last_page": 60,
        # the window stops at the end of the 2 MiB page-table range ...
        "pmd_cross_read7_faults": 1,
        "pmd_cross_read7_first_page": 0,
        "pmd_cross_read7_last_page": 7,
        "pmd_cross_read8_faults": 1,
        "pmd_cross_read8_first_page": 8,
        "pmd_cross_read8_last_page": 23,
        # ... and at the end of the file; past it an access is SIGBUS (7)
        "eof_read0_faults": 1,
        "eof_read0_present": 5,
        "eof_read0_first_page": 0,
        "eof_read0_last_page": 4,
        "eof_read5_signal": 7,
    })


def test_shared_file_mapping():
    f = facts("mem_file")
    expect(f, {
        "shared_read21_faults": 1,
        **stat("shared_read21", 16, 16, file=16),
        "shared_read21_first_page": 16,
        "shared_read21_last_page": 31,
        "shared_write21_faults": 1,  # read-only PTE until written (page_mkwrite)
        "shared_write21_rewrite_faults": 0,
        "shared_write22_faults": 1,  # fault-around PTEs are read-only too
        "shared_write100_faults": 1,
        **stat("shared_after_writes", 17, 17, file=17),
        "shared_write_reaches_file": 1,
        **stat("shared_fork_child", 0, 0),
        "shared_fork_child_vmpte_delta_kb": 0,
        "shared_child_read21_faults": 1,
        **stat("shared_child_after_read21", 16, 0, file=16),
        "shared_child_write21_faults": 1,
        "shared_child_write23_faults": 1,
        "shared_child_write200_faults": 1,
        **stat("shared_child_after_writes", 17, 1, file=17),
    })


def test_shared_file_mapping_frames():
    needs_root()
    expect(facts("mem_file"), {
        "shared_write21_pfn_changed": 0,
        "shared_child_after_read21_shared_with": 16,
    })


# ----------------------------------------------------------------- 7. madvise

def test_dontneed_frees_only_fully_covered_pte_tables():
    f = facts("mem_madvise")
    expect(f, {
        "written_vmpte_delta_kb": 40,
        **stat("dontneed_all", 0, 0),
        "dontneed_all_vmpte_delta_kb": 8,  # 8 PTE tables freed, PMD + PUD stay
        "dontneed_all_read_faults": N,
        **stat("dontneed_all_read", N, 0),
        "dontneed_all_read_vmpte_delta_kb": 40,
        "dontneed_all_write_faults": N,
        "dontneed_all_data_zeroed": 1,
        "partial_1m_present": 3840,
        "partial_1m_vmpte_delta_kb": 40,
        "partial_2nd_half_present": 3584,
        "partial_2nd_half_vmpte_delta_kb": 40,  # empty, but never covered at once
        "partial_whole_empty_table_vmpte_delta_kb": 36,
        "partial_aligned_2m_present": 3072,
        "partial_aligned_2m_vmpte_delta_kb": 32,
        "partial_unaligned_2m_present": 2560,
        "partial_unaligned_2m_vmpte_delta_kb": 32,
        "partial_unaligned_4m_present": 1536,
        "partial_unaligned_4m_vmpte_delta_kb": 28,
        "partial_munmap_vmpte_delta_kb": 0,
        "dontneed_shared_present": 0,
        "dontneed_shared_data_kept": 1,
        "dontneed_private_file_data_is_file": 1,
    })


def test_dontneed_then_read_gives_zero_pages():
    needs_root()
    expect(facts("mem_madvise"), {"dontneed_all_read_zero": N})


def test_dontfork_and_dofork():
    f = facts("mem_madvise")
    expect(f, {
        "dontfork_errno": 0,
        "dontfork_child_in_maps": 0,
        "dontfork_child_present": 0,
        "dontfork_child_vmpte_delta_kb": 0,
        "dontfork_child_read_signal": 11,
        "dontfork_child_write_signal": 11,
        **stat("dontfork_parent_after", N, N),
        "dofork_errno": 0,
        "dofork_child_in_maps": 1,
        "dofork_child_present": N,
        "dofork_child_write_faults": 1,
        "dofork_child_signal": 0,
        "dontfork_shared_anon_errno": 0,
    })


def test_wipeonfork_and_keeponfork():
    f = facts("mem_madvise")
    expect(f, {
        "wipeonfork_errno": 0,
        "wipeonfork_child_in_maps": 1,
        **stat("wipeonfork_child", 0, 0),
        "wipeonfork_child_vmpte_delta_kb": 0,
        "wipeonfork_child_read_faults": N,
        **stat("wipeonfork_child_read", N, 0),
        "wipeonfork_child_write_faults": N,
        **stat("wipeonfork_parent", N, N),
        "wipeonfork_child_signal": 0,
        "wipeonfork_parent_data_kept": 1,
        "keeponfork_errno": 0,
        "keeponfork_child_present": N,
        "einval": 22,
        "wipeonfork_shared_anon_errno": 22,
        "wipeonfork_private_file_errno": 22,
        "wipeonfork_shared_file_errno": 22,
        "keeponfork_shared_anon_errno": 0,  # only WIPEONFORK checks the mapping
        "keeponfork_private_file_errno": 0,
        "keeponfork_shared_file_errno": 0,
    })


def test_wipeonfork_frames():
    needs_root()
    expect(facts("mem_madvise"), {
        "wipeonfork_child_read_zero": N,
        "dofork_shared_with": N,
        "keeponfork_shared_with": N,
    })


# ---------------------------------------------------------------- 8. mprotect

def test_mprotect_refusals_are_not_minor_faults():
    f = facts("mem_mprotect")
    expect(f, {
        "sigsegv": 11,
        "ro_fresh_write_signal": 11,
        "ro_fresh_write_faults": 0,
        "ro_fresh_read_faults": 1,
        **stat("ro_fresh_after_read", 1, 0),
        "ro_zero_write_signal": 11,
        "ro_zero_write_faults": 0,
        **stat("ro_written", N, N),
        "ro_written_write_signal": 11,
        "ro_written_write_faults": 0,
        "ro_written_read_faults": 0,
        **stat("none", N, N),  # PROT_NONE pages stay present in pagemap
        "none_read_signal": 11,
        "none_read_faults": 0,
        "none_write_signal": 11,
        "none_write_faults": 0,
    })


def test_mprotect_restore_write_costs():
    f = facts("mem_mprotect")
    expect(f, {
        "rw_again_write_faults": 0,  # exclusive anon pages get write back at once
        "none_rw_again_write_faults": 0,
        "forked_rw_again_write_faults": N,  # shared with a child: copy on write
        "reaped_exclusive": N,
        "reaped_rw_again_write_faults": N,  # fork cleared "anon exclusive" for good
        "reaped_written_rw_again_write_faults": 0,
        "zero_rw_again_write_faults": N,
    })


def test_mprotect_restore_write_shared():
    f = facts("mem_mprotect")
    expect(f, {
        "shmem_read_faults": 2048,  # half the pages; shmem holes: one fault each, no fault-around
        "shmem_rw_again_write_faults": 0,  # no writenotify: every entry writable again
        "shmem_none_rw_again_write_faults": 0,
        "shmem_ro_read_rw_write_faults": 0,  # mapped read-only, made writable by mprotect
    })
    if f["file_on_tmpfs"] != "0":
        pytest.skip("a tmpfs file is shared memory: no write notification")
    expect(f, {
        "shared_file_dirty_rw_again_write_faults": 0,  # dirty: the fs was told already
        "shared_file_clean_rw_again_write_faults": 2048,  # clean: must fault (page_mkwrite)
        "shared_file_none_rw_again_write_faults": 0,  # all dirty by now, through PROT_NONE too
    })


def test_mprotect_restore_write_frames():
    needs_root()
    expect(facts("mem_mprotect"), {
        "ro_fresh_after_read_zero": 1,
        "rw_again_pfn_changed": 0,
        "forked_rw_again_pfn_changed": N,
        "forked_shared_with": 0,
        "reaped_rw_again_pfn_changed": 0,
        "reaped_written_rw_again_pfn_changed": 0,
    })


# ----------------------------------------------------- 9. page-table accounting

def test_page_table_accounting():
    f = facts("mem_pte")
    if f["five_level_paging"] != "0":
        pytest.skip("numbers are for 4-level paging")
    expect(f, {
        "mapped_untouched_delta_kb": 0,
        "one_page_delta_kb": 12,  # PTE + PMD + PUD table
        "one_full_pte_table_delta_kb": 12,
        "second_2m_delta_kb": 16,
        "one_page_munmap_delta_kb": 0,
        "three_2m_ranges_delta_kb": 20,
        "three_2m_ranges_munmap_delta_kb": 0,
        "two_slots_delta_kb": 20,
        "two_slots_munmap_second_delta_kb": 12,
        "two_slots_munmap_both_delta_kb": 0,
        "two_512g_regions_delta_kb": 24,
        "two_512g_regions_munmap_delta_kb": 0,
        "three_gib_mode": "one_page_per_2m",
        "three_gib_faults": 1536,
        "three_gib_delta_kb": 6160,  # 1536 PTE + 3 PMD + 1 PUD tables
        "three_gib_present": 1536,
        "three_gib_munmap_delta_kb": 0,
        "partial_written_delta_kb": 40,
        "munmap_512k_inside_table_delta_kb": 40,
        "munmap_aligned_2m_delta_kb": 36,
        "munmap_unaligned_2m_delta_kb": 36,
        "munmap_tail_delta_kb": 20,
        "munmap_rest_delta_kb": 0,
        "dontneed_all_delta_kb": 8,
        "dontneed_munmap_delta_kb": 0,
    })


# --------------------------------------------------------------------- 10. THP

def test_thp_first_touch():
    _needs_thp()
    f = facts("mem_thp")
    expect(f, {
        "write1_faults": 1,
        **stat("write1", 512, 512),
        "write1_vmpte_delta_kb": 12,  # PUD + PMD + the deposited PTE table
        "write_rest_of_2m_faults": 0,
        "write_all_faults": 1,
        "write_all_vmpte_delta_kb": 16,
        "read1_faults": 1,
        # the huge zero page is not an anonymous folio: pagemap sets "file"
        **stat("read1", 512, 0, file=512),
        "read1_vmpte_delta_kb": 12,
        "read_all_faults": 1,
        **stat("read_all", 1024, 0, file=1024),
        "read_all_vmpte_delta_kb": 16,
        "read_then_write1_faults": 1,  # a whole new THP replaces the huge zero page
        **stat("read_then_write1", 512, 512),
        "read_then_write1_vmpte_delta_kb": 16,
    })


def test_thp_first_touch_frames():
    _needs_thp()
    needs_root()
    expect(facts("mem_thp"), {
        "write1_zero": 0,
        "write1_thp_pages": 512,
        "write1_contiguous": 1,
        "read1_zero": 512,
        "read1_contiguous": 1,
        "read_all_zero": 1024,
        "read_then_write1_zero": 0,
        "read_then_write1_thp_pages": 512,
    })


def test_thp_fork_and_cow():
    _needs_thp()
    f = facts("mem_thp")
    expect(f, {
        "fork_parent_write_faults": 2,
        **stat("fork_child", 1024, 0),
        "fork_child_vmpte_delta_kb": 16,
        **stat("fork_parent", 1024, 0),
        "child_write1_faults": 1,  # PMD split + copy of one 4 KiB page
        **stat("child_write1_child", 1024, 1),
        "child_write1_child_vmpte_delta_kb": 16,  # the deposited table is used
        # pagemap repeats the head page's "exclusive" for all 512 PMD entries
        **stat("child_write1_parent", 1024, 512),
        "child_write1_parent_vmpte_delta_kb": 16,
        "child_write_rest_of_2m_faults": 511,
        "parent_write_2nd_faults": 1,
        **stat("parent_write_2nd_parent", 512, 1),
        "parent_write_2nd_parent_vmpte_delta_kb": 16,
        "parent_write_2nd_child_exclusive": 512,
    })


def test_thp_fork_and_cow_frames():
    _needs_thp()
    needs_root()
    expect(facts("mem_thp"), {
        "fork_parent_thp_pages": 1024,
        "fork_child_thp_pages": 1024,
        "fork_shared_with": 1024,
        "child_write1_child_thp_pages": 1023,
        "child_write1_pfn_changed": 1,
        "child_write1_shared_with": 1023,
        "child_write1_parent_mapcount1": 1,  # the truth per page: only page 0
        "child_write1_child_mapcount1": 1,
        "child_write_rest_shared_with": 512,
        "child_write_rest_child_thp_pages": 512,
        "parent_write_2nd_parent_thp_pages": 511,
        "parent_write_2nd_shared_with": 511,
        "parent_write_2nd_child_mapcount1": 1,
    })


# -------------------------------------------------------------------- 11. cost

def test_cost_program_runs():
    f = facts("mem_cost", "quick")
    keys = [
        "fork_0mib_us", "vfork_0mib_us", "posix_spawn_0mib_us",
        "fork_1_maps_written_us", "fork_1_maps_untouched_us",
        "fork_100_maps_written_us", "fork_100_maps_untouched_us",
    ]
    for key in keys:
        assert float(f[key]) > 0, key


def test_mlockall_current_future_and_creators():
    """tests/kernel_facts/proc_mlockall.c: MCL_CURRENT locks (VmFlags "lo") and
    populates the mappings there are; MCL_FUTURE those made later, populated at once;
    munlockall unlocks both and leaves the pages resident. A fork child's copies are
    not locked, nor what it maps later; a vfork child and a thread share the memory,
    and what they map is locked; a new image (execve) maps unlocked. No flag: EINVAL."""
    f = facts("proc_mlockall")
    expect(f, {"current.rc": 0, "current.before_locked": 1, "current.before_rss_kb": 8,
               "current.after_locked": 0, "current.after_rss_kb": 0,
               "future.rc": 0, "future.before_locked": 0, "future.before_rss_kb": 0,
               "future.after_locked": 1, "future.after_rss_kb": 8,
               "both.before_locked": 1, "both.after_locked": 1,
               "fork.inherited_locked": 0, "fork.inherited_rss_kb": 8,
               "fork.after_locked": 0, "fork.after_rss_kb": 0,
               "vfork.after_locked": 1, "vfork.after_rss_kb": 8,
               "thread.after_locked": 1, "thread.after_rss_kb": 8,
               "exec.after_locked": 0, "exec.after_rss_kb": 0,
               "unlocked.before_locked": 0, "unlocked.before_rss_kb": 8,
               "unlocked.after_locked": 0, "unlocked.after_rss_kb": 0,
               "none.rc": "EINVAL"})


def test_mlockall_under_rlimit_memlock():
    """uid 65534: a limit of 0 is EPERM; MCL_CURRENT is ENOMEM when the whole address
    space (total_vm) is above the limit; MCL_FUTURE alone succeeds, and then a mapping
    that would take the locked pages past the limit fails with EAGAIN."""
    f = facts("proc_mlockall")
    if "unpriv.current" not in f:
        pytest.skip("the unprivileged part runs as root only (it drops to uid 65534)")
    expect(f, {"unpriv.zero_limit": "EPERM", "unpriv.current": "ENOMEM", "unpriv.future": 0,
               "unpriv.map_to_limit": 0, "unpriv.map_past_limit": "EAGAIN"})
