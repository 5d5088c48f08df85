"""The model's rules are its injection points: a Kernel given other rules runs them,
and the kernel's own are the defaults."""
from __future__ import annotations

from scenario_text import scenario_text

from forklab.scenario.parse import parse_text
from forklab.sim.files import FdTable
from forklab.sim.kernel import Kernel
from forklab.sim.memory import COPY, REUSE, WriteFault, decide_write_fault
from forklab.sim.rules import KERNEL, Rules
from forklab.sim.snapshot import snapshot

FORK = ("parent: mmap heap 2p", "parent: write heap = 1", "parent: pipe cloexec -> r, w",
        "parent: fork -> child")


def _scenario(*lines: str) -> str:
    return scenario_text("\n".join(lines))


FORK_THEN_WRITE = _scenario(*FORK, "child: write heap[0p] = 7")
FORK_THEN_EXEC = _scenario(*FORK, "child: exec probe")


def _run(text: str, rules: Rules = KERNEL) -> Kernel:
    kernel = Kernel(parse_text(text, "t.toml"), rules=rules)
    for op in kernel.scenario.ops:
        kernel.apply(op)
    return kernel


def test_the_write_fault_rule_decides_and_sees_the_fault() -> None:
    seen: list[WriteFault] = []

    def always_reuse(fault: WriteFault) -> str:
        seen.append(fault)
        return REUSE

    world = snapshot(_run(FORK_THEN_WRITE, Rules(write_fault=always_reuse)))
    assert seen == [WriteFault("child", "heap", 0, 1, shared=False, anon=True, mapcount=2)]
    assert decide_write_fault(seen[0]) == COPY  # the kernel copies this one ...
    assert world.queries.byte("parent", "heap", 0) == 7  # ... reusing it wrote the parent's
    kernel_world = snapshot(_run(FORK_THEN_WRITE))
    assert kernel_world.queries.byte("parent", "heap", 0) == 1


def test_the_fd_table_rules_make_the_childs_table_and_run_at_exec() -> None:
    def nothing_inherited(parent: FdTable) -> FdTable:
        return FdTable()

    def keep_everything(table: FdTable) -> None:
        pass

    kernel = _run(FORK_THEN_WRITE, Rules(copy_files=nothing_inherited))
    assert kernel.processes["child"].files.numbers() == []
    assert _run(FORK_THEN_EXEC).processes["child"].files.numbers() == [0, 1, 2]
    kept = _run(FORK_THEN_EXEC, Rules(close_on_exec=keep_everything))
    assert kept.processes["child"].files.numbers() == [0, 1, 2, 3, 4]
