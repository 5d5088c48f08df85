"""The model's commit charge (VM_ACCOUNT), and the on-demand observables over it.

The rules are the kernel's, seen in smaps's VmFlags (tests/scenarios/commit-charge.toml
runs each of them on the kernel).
"""
from __future__ import annotations

from scenario_text import scenario_text

from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend
from forklab.sim.memory import Mapping


def _mapping(**kw: object) -> Mapping:
    m = Mapping("m", 1 << 30, 16, **kw)  # type: ignore[arg-type]
    m.charge_at_mmap()
    return m


def test_only_private_writable_reserving_mappings_are_charged_at_mmap() -> None:
    assert _mapping().accounted
    assert not _mapping(prot="ro").accounted
    assert not _mapping(prot="rx").accounted
    assert not _mapping(share="shared").accounted
    assert not _mapping(noreserve=True).accounted


def test_mprotect_charges_on_write_and_refunds_only_unwritten_anonymous_memory() -> None:
    m = _mapping(prot="ro")
    m.charge_at_mprotect("rw")
    assert m.accounted
    m.charge_at_mprotect("ro")
    assert not m.accounted  # no anon_vma: nothing was ever written
    m.charge_at_mprotect("rw")
    m.anon_vma = True
    m.charge_at_mprotect("none")
    assert m.accounted
    noreserve = _mapping(noreserve=True)
    noreserve.charge_at_mprotect("rw")
    assert not noreserve.accounted


def _run(*steps: str) -> list[dict[str, int]]:
    """commit and committed after each step, asked the way an expression asks."""
    sc = parse_text(scenario_text(*steps, sid="c"))
    out = []
    with SimBackend().start(sc) as run:
        for step in sc.steps:
            for op in step.ops:
                run.apply(op)
            q = run.observe().queries
            out.append({"parent": q.commit("parent"), "heap": q.committed("parent", "heap"),
                        "child": q.commit("child") if "child" in run.kernel.processes else -1})
    return out


def test_fork_charges_the_child_again_and_exec_takes_it_away() -> None:
    steps = _run("parent: mmap heap 1MiB", "parent: fork -> child", "child: exec probe")
    assert steps[0] == {"parent": 1 << 20, "heap": 1 << 20, "child": -1}
    assert steps[1]["child"] == 1 << 20 and steps[1]["parent"] == 1 << 20
    assert steps[2]["child"] == 0
