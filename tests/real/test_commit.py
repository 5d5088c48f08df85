"""commit and committed on the kernel: read from smaps's VmFlags, for the scenario's
mappings only, and only when asked."""
from __future__ import annotations

from realkit import run_with

from forklab.real import procfs


def test_commit_counts_only_the_scenarios_accounted_mappings():
    steps = run_with("parent: mmap heap 2MiB\nparent: mmap shm 2MiB shared\n"
                     "parent: mmap nr 2MiB noreserve",
                     "parent: fork -> child\nparent: munmap heap")
    run, world = next(steps)
    q = world.queries
    assert q.committed("parent", "heap") == 2 << 20
    assert q.committed("parent", "shm") == 0 and q.committed("parent", "nr") == 0
    assert q.commit("parent") == 2 << 20
    # the probe's own runtime has accounted mappings too (its data, its stacks):
    # commit leaves them out
    pid = run.driver.procs["parent"].pid
    runtime = sum(end - start for start, end in procfs.accounted(pid) or ())
    assert runtime > q.commit("parent")
    run, world = next(steps)
    q = world.queries
    assert q.commit("child") == 2 << 20 and q.commit("parent") == 0
    assert q.committed("parent", "heap") == 0


def test_smaps_reader_finds_a_private_writable_mapping_of_our_own():
    import ctypes
    import mmap
    import os

    m = mmap.mmap(-1, 1 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = ctypes.c_char.from_buffer(m)
    address = ctypes.addressof(view)
    del view
    try:
        spans = procfs.accounted(os.getpid()) or []
        assert any(start <= address < end for start, end in spans)
    finally:
        m.close()
