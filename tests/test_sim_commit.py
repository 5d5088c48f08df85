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


def _accounted(m: Mapping) -> bool:
    return m.accounted_pages() == m.pages


def test_only_private_writable_reserving_mappings_are_charged_at_mmap() -> None:
    assert _accounted(_mapping())
    assert not _accounted(_mapping(prot="ro"))
    assert not _accounted(_mapping(prot="rx"))
    assert not _accounted(_mapping(share="shared"))
    assert not _accounted(_mapping(noreserve=True))


def _mprotect(m: Mapping, prot: str) -> None:
    m.vmas.change(0, m.pages, lambda v: m.protected(v, prot))


def test_mprotect_charges_on_write_and_refunds_only_unwritten_anonymous_memory() -> None:
    m = _mapping(prot="ro")
    _mprotect(m, "rw")
    assert _accounted(m)
    _mprotect(m, "ro")
    assert not _accounted(m)  # no anon_vma: nothing was ever written
    _mprotect(m, "rw")
    m.vmas.give_anon_vma(0, 1)
    _mprotect(m, "none")
    assert _accounted(m)
    noreserve = _mapping(noreserve=True)
    _mprotect(noreserve, "rw")
    assert not _accounted(noreserve)


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
