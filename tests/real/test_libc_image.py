"""libc_text_same and libc_relro_same on the kernel: glibc's mappings found in
/proc/PID/maps, frames compared through pagemap (frame numbers as root, the
exclusive and file bits without: the answers are the same)."""
from __future__ import annotations

import os

from realkit import run_with

from forklab.real import procfs


def test_libc_parts_are_the_text_and_the_relro_below_the_data():
    parts = procfs.libc_parts(os.getpid())
    assert parts is not None
    (t0, t1), (r0, r1) = parts["text"], parts["relro"]
    assert t0 < t1 <= r0 < r1
    perms = {(lo, hi): p for lo, hi, p in procfs.maps(os.getpid()) or ()}
    assert perms[(t0, t1)] == "r-xp" and perms[(r0, r1)] == "r--p"
    assert any(lo == r1 and p == "rw-p" for (lo, _), p in perms.items())


def test_fork_shares_relro_frames_and_exec_does_not():
    steps = run_with("parent: fork -> child", "child: exec probe")
    _, world = next(steps)
    q = world.queries
    assert q.libc_same("child", "parent", "text") is True
    assert q.libc_same("child", "parent", "relro") is True
    run, world = next(steps)
    q = world.queries
    assert q.libc_same("child", "parent", "text") is True
    assert q.libc_same("child", "parent", "relro") is False
    # the relro pages are present in both, so False is a real difference
    pids = [run.driver.procs[n].pid for n in ("parent", "child")]
    relro = [procfs.frames(pid, *procfs.libc_parts(pid)["relro"]) for pid in pids]
    assert all(all(f is not None for f in frames) for frames in relro)
