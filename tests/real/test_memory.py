"""Memory verbs on the real kernel: what pagemap, VmPTE and the fault counters show.

The numbers are the kernel's (docs/kernel-facts-memory.md has the experiments
that found them); these tests check that the backend reports exactly them,
with forklab's own runtime left out.
"""
from __future__ import annotations

import os

import pytest
from realkit import observations, run_steps, run_with


def test_one_written_page_costs_a_pte_a_pmd_and_a_pud_table():
    (obs,) = observations("parent: mmap heap 16MiB\nparent: write heap[0:1p]")
    assert obs["parent.faults"] == 1
    assert obs["parent.vm_pte"] == 12  # 1 PTE + 1 PMD + 1 PUD table, 4 KiB each
    assert (obs["parent.heap.present"], obs["parent.heap.exclusive"]) == (1, 1)
    assert obs["parent.heap.zero"] == 0


def test_fresh_process_has_no_scenario_page_tables_or_faults():
    (obs,) = observations("parent: mmap heap 16MiB")
    assert obs["parent.vm_pte"] == 0
    assert obs["parent.faults"] == 0 and obs["parent.minflt"] == 0
    assert obs["parent.heap.mapped"] and obs["parent.heap.present"] == 0


def test_writing_16mib_takes_4096_faults_and_40kib_of_tables():
    (obs,) = observations("parent: mmap heap 16MiB\nparent: write heap")
    assert obs["parent.faults"] == 4096
    assert obs["parent.vm_pte"] == 40  # 8 PTE + PMD + PUD
    assert obs["parent.heap.present"] == obs["parent.heap.exclusive"] == 4096


def test_reading_fresh_memory_maps_the_zero_page_everywhere():
    (obs,) = observations("parent: mmap heap 16MiB\nparent: read heap")
    assert obs["parent.faults"] == 4096  # no fault-around for anonymous memory
    assert obs["parent.heap.present"] == obs["parent.heap.zero"] == 4096
    assert obs["parent.heap.exclusive"] == 0
    assert obs["parent.vm_pte"] == 40  # reads allocate page tables too


def test_fork_copies_page_tables_not_pages():
    steps = run_steps("parent: mmap heap 16MiB\nparent: write heap",
                      "parent: fork -> child",
                      "child: read heap",
                      "child: write heap")
    w = next(steps)
    w = next(steps)
    child, parent = w.processes["child"], w.processes["parent"]
    assert child.vm_pte == parent.vm_pte == 40
    assert child.mappings["heap"].present == 4096
    assert child.mappings["heap"].exclusive == parent.mappings["heap"].exclusive == 0
    assert child.faults == 0 and child.minflt == 0
    shared = w.queries.shared_with("child", "heap", "parent")
    assert shared == 4096  # with frame numbers, or told by the exclusive bits without
    w = next(steps)
    assert w.processes["child"].faults == 0  # the copied entries map the pages already
    w = next(steps)
    child, parent = w.processes["child"], w.processes["parent"]
    assert child.faults == 4096  # copy on write, one fault per page
    assert child.minflt == 4096
    assert child.mappings["heap"].exclusive == parent.mappings["heap"].exclusive == 4096
    assert w.queries.shared_with("child", "heap", "parent") == 0
    steps.close()


def test_faults_count_the_last_step_and_minflt_the_whole_life():
    obs = observations("parent: mmap a 1MiB\nparent: write a[0:10p]", "parent: write a",
                       "parent: mmap b 1MiB")
    assert [o["parent.faults"] for o in obs] == [10, 246, 0]
    assert [o["parent.minflt"] for o in obs] == [10, 256, 256]


def test_huge_pages_and_the_huge_zero_page():
    obs = observations("parent: mmap h 8MiB thp\nparent: read h", "parent: write h[0:1p]")
    first, second = obs
    assert first["parent.faults"] == 4  # one per 2 MiB: the huge zero page
    assert first["parent.h.zero"] == first["parent.h.present"] == 2048
    # PUD + PMD, and a PTE table the kernel deposits for every huge entry
    assert first["parent.vm_pte"] == 4 + 4 + 4 * 4
    assert second["parent.faults"] == 1
    if second["parent.h.exclusive"] != 512:  # no huge page free right now
        assert second["parent.h.exclusive"] == 1
    else:
        assert second["parent.h.zero"] == 1536


def test_private_file_mapping_fault_around_and_copy():
    steps = run_steps("parent: mmap f 1MiB file=data.bin\nparent: read f[21p]",
                      "parent: write f[21p] = 7")
    w = next(steps)
    p = w.processes["parent"]
    assert p.faults == 1
    assert p.mappings["f"].present == 16  # fault-around maps the aligned 64 KiB
    assert p.mappings["f"].exclusive == 16  # page-cache pages mapped once
    assert w.queries.byte("parent", "f", 0) == 0  # not present: the file's byte
    w = next(steps)
    assert w.processes["parent"].faults == 1
    assert w.queries.byte("parent", "f", 21 * 4096) == 7
    steps.close()


def test_shared_file_mapping_writes_reach_the_file_and_fork_copies_nothing():
    steps = run_steps("parent: mmap s 1MiB file=s.bin shared\nparent: write s[1p] = 9",
                      "parent: fork -> child", "child: read s[1p]")
    w = next(steps)
    assert w.processes["parent"].mappings["s"].present == 1
    w = next(steps)
    assert w.processes["child"].mappings["s"].present == 0  # fork leaves shared mappings out
    assert w.processes["child"].vm_pte == 0
    assert w.queries.byte("child", "s", 4096) == 9  # from the file, without a fault
    assert w.processes["child"].mappings["s"].present == 0  # observing did not fault
    w = next(steps)
    assert w.processes["child"].mappings["s"].present == 16
    assert w.queries.byte("child", "s", 4096) == 9
    steps.close()


def test_byte_never_faults_and_sees_what_a_read_would():
    steps = run_steps("parent: mmap heap 1MiB\nparent: write heap[3p] = 200")
    w = next(steps)
    q = w.queries
    assert q.byte("parent", "heap", 3 * 4096) == 200
    assert q.byte("parent", "heap", 5 * 4096) == 0  # not present: anonymous reads 0
    assert q.byte("parent", "heap", 1 << 30) is None  # outside the mapping
    assert w.processes["parent"].mappings["heap"].present == 1
    steps.close()


def test_munmap_then_touch_is_sigsegv():
    obs = observations("parent: mmap heap 1MiB\nparent: write heap\nparent: munmap heap",
                       "parent: fork -> child\nchild: write heap[0:1p]")
    assert obs[0]["parent.heap.mapped"] is False
    assert obs[0]["parent.vm_pte"] == 0  # every table of the region is freed
    assert obs[1]["child.state"] == "zombie"
    assert obs[1]["child.term_signal"] == "SIGSEGV"


def test_mprotect_read_only_write_is_sigsegv_without_a_fault_counted():
    obs = observations("parent: mmap heap 1MiB\nparent: write heap\nparent: mprotect heap ro",
                       "parent: fork -> child", "child: read heap", "child: write heap[0:1p]")
    assert obs[2]["child.faults"] == 0 and obs[2]["child.state"] == "running"
    assert obs[3]["child.term_signal"] == "SIGSEGV"
    assert obs[3]["child.minflt"] == 0


def test_madvise_dontneed_dontfork_wipeonfork():
    obs = observations(
        "parent: mmap a 16MiB\nparent: mmap b 16MiB\nparent: mmap c 16MiB\n"
        "parent: write a\nparent: write b\nparent: write c",
        "parent: madvise a dontneed\nparent: madvise b dontfork\nparent: madvise c wipeonfork",
        "parent: fork -> child")
    assert obs[0]["parent.vm_pte"] == 4 + 3 * 36
    assert obs[1]["parent.a.present"] == 0
    assert obs[1]["parent.vm_pte"] == 4 + 4 + 2 * 36  # the 8 PTE tables of a are freed
    assert obs[2]["child.a.mapped"] and obs[2]["child.a.present"] == 0
    assert obs[2]["child.b.mapped"] is False
    assert obs[2]["child.c.mapped"] and obs[2]["child.c.present"] == 0
    # a's PMD table survived DONTNEED in the parent, so fork builds that level
    # (PUD + PMD) for the child even though it copies no entry
    assert obs[2]["child.vm_pte"] == 8


@pytest.mark.forklab_real(root=True)
def test_zero_page_count_agrees_with_kpageflags():
    """PAGEMAP_SCAN's zero-page category and kpageflags' KPF_ZERO_PAGE agree."""
    from forklab.real._native import ffi, lib

    script = ("parent: mmap a 8MiB\nparent: mmap h 8MiB thp\nparent: read a\nparent: read h\n"
              "parent: write a[0:3p]\nparent: write h[0:1p]")
    for run, w in run_with(script):
        pid = run.driver.procs["parent"].pid
        pm = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
        kpf = os.open("/proc/kpageflags", os.O_RDONLY)
        try:
            counts = ffi.new("struct fl_counts *")
            for name in ("a", "h"):
                assert lib.fl_scan(pm, kpf, run.addresses[name], 2048, counts) == 0
                assert counts.zero_scan == counts.zero_kpf
                assert counts.present == 2048
        finally:
            os.close(pm)
            os.close(kpf)
        assert w.processes["parent"].mappings["a"].zero == 2045


RUNTIME_CHURN = [
    "parent: malloc 100MiB -> a\nparent: printf \"x\"\nparent: setvbuf line",
    "parent: thread -> t1\nparent/t1: malloc 1MiB -> b\nparent: atfork m",
    "parent: fork -> child\nchild: thread -> t2\nchild: malloc 300MiB -> c\nchild/t2: free b",
    "parent: free a\nparent: spawn /bin/true -> s\nparent: pipe -> r, w",
    "parent: spawn probe dup2=r:0 open=1:out.txt closefrom=3 -> p\np: malloc 1GiB -> d",
    "parent: vfork -> v\nv: malloc 10MiB -> e\nv: exec probe\nv: thread -> t3",
    "parent: clone vm -> cv\ncv: malloc 5MiB -> f\nparent: clone none -> cn",
    "parent: exec probe\nparent: fflush",
]


def test_forklab_s_own_page_tables_never_show_in_vm_pte():
    """vm_pte counts the scenario's mappings only: heaps, stacks, threads, spawn
    helpers and exec'd images of forklab's runtime cost nothing there."""
    for obs in observations(*RUNTIME_CHURN):
        for key, value in obs.items():
            if key.endswith(".vm_pte"):
                assert value == 0, key
