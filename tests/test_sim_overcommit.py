"""The overcommit policy the model reads from the machine (forklab/sim/overcommit.py).

tests/kernel_facts/mem_edges.c settles mode 0 on this machine and
tests/scenarios/memory-edges.toml runs it on the kernel; what only the
simulator can set is another machine's policy and size, tested here.
"""
from __future__ import annotations

from scenario_text import scenario_text

from forklab.scenario.parse import parse_text
from forklab.sim.kernel import Kernel
from forklab.sim.overcommit import ALWAYS, HEURISTIC, NEVER, Overcommit
from forklab.sim.snapshot import snapshot


def _errnos(policy: Overcommit, *lines: str) -> list[str | None]:
    sc = parse_text(scenario_text(*lines))
    kernel = Kernel(sc)
    kernel.overcommit = policy
    out = []
    for step in sc.steps:
        for op in step.ops:
            kernel.apply(op)
        out.append(snapshot(kernel).processes["parent"].errno)
    return out


def test_mode_0_refuses_one_call_over_ram_and_swap_and_counts_each_call_alone() -> None:
    small = Overcommit(HEURISTIC, total_pages=64)
    assert _errnos(small, "parent: mmap a 64p\nparent: mmap b 64p", "parent: mmap c 65p",
                   "parent: mmap d 65p noreserve\nparent: mmap e 65p rx") == [
        None, "ENOMEM", "ENOMEM"]  # errno stays: d and e do not set it
    assert _errnos(small, "parent: mmap d 65p noreserve", "parent: mmap e 65p shared ro",
                   "parent: mmap f 65p shared noreserve") == [None, "ENOMEM", "ENOMEM"]


def test_mprotect_asks_for_each_vma_piece_and_stops_at_the_first_refused() -> None:
    small = Overcommit(HEURISTIC, total_pages=8)
    sc = parse_text(scenario_text(
        "parent: mmap a 20p ro\nparent: mprotect a[0p:4p] rw\nparent: mprotect a[8p:] none"
        "\nparent: mprotect a rw"))
    kernel = Kernel(sc)
    kernel.overcommit = small
    for op in sc.steps[0].ops:
        kernel.apply(op)
    parent = snapshot(kernel).processes["parent"]
    # [4p, 8p) is charged (4 pages) and joins [0p, 4p); [8p, 20p) would be 12: refused
    assert parent.errno == "ENOMEM" and parent.mappings["a"].vmas == 2
    assert kernel.processes["parent"].mm.mappings["a"].accounted_pages() == 8


def test_mremap_asks_for_the_new_pages_and_fork_for_each_charged_vma_whole() -> None:
    small = Overcommit(HEURISTIC, total_pages=8)
    assert _errnos(small, "parent: mmap a 8p\nparent: mremap a 9p",
                   "parent: mmap b 1p\nparent: mremap b 10p") == [None, "ENOMEM"]
    sc = parse_text(scenario_text(
        "parent: mmap a 8p\nparent: mremap a 9p\nparent: madvise a dontfork"
        "\nparent: fork -> c\nparent: madvise a dofork\nparent: fork -> d"))
    kernel = Kernel(sc)
    kernel.overcommit = small
    for op in sc.steps[0].ops:
        kernel.apply(op)
    # a is 9 pages: a fork that does not copy it succeeds, one that does is refused
    assert "c" in kernel.processes and "d" not in kernel.processes
    assert snapshot(kernel).processes["parent"].errno == "ENOMEM"


def test_mode_1_never_refuses() -> None:
    assert _errnos(Overcommit(ALWAYS, total_pages=8), "parent: mmap a 1T",
                   "parent: mmap b 1T shared\nparent: mmap c 1T ro\nparent: mprotect c rw") == [
        None, None]


def test_mode_2_charges_noreserve_mappings_as_any_other() -> None:
    for mode, committed in ((NEVER, 4), (HEURISTIC, 0)):
        sc = parse_text(scenario_text("parent: mmap a 4p noreserve"))
        kernel = Kernel(sc)
        kernel.overcommit = Overcommit(mode, total_pages=1 << 30)
        kernel.apply(sc.steps[0].ops[0])
        assert kernel.processes["parent"].mm.mappings["a"].accounted_pages() == committed
