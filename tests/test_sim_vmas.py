"""The model's VMAs (forklab/sim/vmas.py) and the calls on ranges that use them.

The numbers are the kernel's, from tests/kernel_facts/mem_ranges.c; the
scenarios tests/scenarios/vma-split-merge.toml and mlock-ranges.toml run the
same cases on the kernel. What only the simulator can set is tested here:
the RLIMIT_MEMLOCK of its processes.
"""
from __future__ import annotations

from scenario_text import scenario_text

from forklab.scenario.parse import parse_text
from forklab.sim.kernel import Kernel
from forklab.sim.snapshot import snapshot
from forklab.sim.vmas import Vma, Vmas


def _starts(vmas: Vmas) -> list[tuple[int, int, str]]:
    return [(v.start, v.end, v.prot) for v in vmas.list]


def test_a_change_splits_only_where_flags_change_and_merges_back() -> None:
    vmas = Vmas(Vma(0, 16, "rw"))
    vmas.change(2, 4, lambda v: Vma(v.start, v.end, "ro"))
    assert _starts(vmas) == [(0, 2, "rw"), (2, 4, "ro"), (4, 16, "rw")]
    vmas.change(0, 16, lambda v: Vma(v.start, v.end, "ro"))
    assert _starts(vmas) == [(0, 16, "ro")]


def test_unmap_leaves_a_hole_that_runs_show() -> None:
    vmas = Vmas(Vma(0, 16, "rw"))
    vmas.unmap(4, 6)
    assert [(a, b, v is None) for a, b, v in vmas.runs(0, 16)] == [
        (0, 4, False), (4, 6, True), (6, 16, False)]
    assert vmas.first_hole(0, 4) is None and vmas.first_hole(2, 8) == 4
    assert vmas.mapped() == 14


def test_forked_pieces_keep_their_split_lose_the_lock_and_do_not_merge() -> None:
    vmas = Vmas(Vma(0, 16, "rw"))
    vmas.give_anon_vma(0, 16)
    vmas.change(4, 8, lambda v: Vma(v.start, v.end, "rw", locked=True,
                                    anon_vma=v.anon_vma))
    child = vmas.forked()
    assert len(child) == 3 and not any(v.locked for v in child.list)
    assert len({v.anon_vma for v in child.list}) == 3


def _run(*steps: str, limit: int | None) -> list[dict[str, object]]:
    sc = parse_text(scenario_text(*steps))
    kernel = Kernel(sc, memlock_limit=limit)
    out = []
    for step in sc.steps:
        for op in step.ops:
            kernel.apply(op)
        world = snapshot(kernel)
        p = world.processes["parent"]
        out.append({"errno": p.errno, "locked": world.queries.locked("parent", "heap"),
                    "present": p.mappings["heap"].present})
    return out


def test_rlimit_memlock_counts_pages_locked_already_once() -> None:
    steps = _run("parent: mmap heap 16p\nparent: mlock heap[:8p]", "parent: mlock heap[:4p]",
                 "parent: mlock heap[4p:5p]", "parent: mlock heap[:4p]", limit=4)
    assert steps[0] == {"errno": "ENOMEM", "locked": 0, "present": 0}
    assert steps[1] == {"errno": "ENOMEM", "locked": 4, "present": 4}  # errno stays
    assert steps[2]["locked"] == 4
    assert steps[3]["locked"] == 4


def test_a_zero_limit_is_eperm_and_no_limit_locks_anything() -> None:
    assert _run("parent: mmap heap 16p\nparent: mlock heap", limit=0)[0]["errno"] == "EPERM"
    assert _run("parent: mmap heap 16p\nparent: mlock heap", limit=None)[0] == {
        "errno": None, "locked": 16, "present": 16}


def test_a_vma_with_a_close_hook_is_never_merged_away_whole() -> None:
    # the merge.sysv.* facts of tests/kernel_facts/mem_edges.c
    def ro(v: Vma) -> Vma:
        return Vma(v.start, v.end, "ro")

    whole = Vmas(Vma(0, 3, "rw"), removable=False)
    whole.change(0, 1, ro)
    whole.change(2, 3, ro)
    whole.change(1, 2, ro)
    assert _starts(whole) == [(0, 1, "ro"), (1, 2, "ro"), (2, 3, "ro")]
    part = Vmas(Vma(0, 4, "rw"), removable=False)
    part.change(2, 4, ro)
    part.change(1, 2, ro)  # a part of [0, 2): the boundary moves
    assert _starts(part) == [(0, 1, "rw"), (1, 4, "ro")]
    assert not whole.copy().removable and not whole.forked().removable
