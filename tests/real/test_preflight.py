"""The real backend's memory preflight counts what a scenario can really cost
(huge pages, page tables, processes, file copies) against what this process
may really use (MemAvailable, or its cgroup's limit), and refuses, before
anything runs, what does not fit."""
from __future__ import annotations

import os

import pytest
from scenario_text import scenario_text

from forklab.real import procfs
from forklab.real.backend import PROCESS_COST, RealBackend, estimate_memory
from forklab.scenario.model import ScenarioError
from forklab.scenario.parse import parse_text

MiB = 1 << 20


def _estimate(script: str) -> tuple[int, int]:
    return estimate_memory(parse_text(scenario_text(script)))


def test_a_write_to_memory_advised_hugepage_costs_a_whole_huge_page():
    plain, _ = _estimate("parent: mmap m 64MiB\nparent: write m[0:1p]")
    huge, _ = _estimate("parent: mmap m 64MiB\nparent: madvise m hugepage\n"
                        "parent: write m[0:1p]")
    assert plain < MiB and huge >= 2 * MiB  # 512 times the page written


def test_every_fork_costs_a_process_and_the_page_tables_it_copies():
    one, _ = _estimate("parent: mmap m 1GiB\nparent: write m\nparent: fork -> c")
    ten, _ = _estimate("parent: mmap m 1GiB\nparent: write m\n"
                       "repeat 10: parent: fork -> c")
    assert ten - one == 9 * (PROCESS_COST + (1 << 30) // 512)


def test_a_cat_may_copy_every_file_into_another():
    alone = _estimate("parent: mmap f 8MiB file=a.bin")
    copied = _estimate("parent: mmap f 8MiB file=a.bin\n"
                       "parent: spawn /bin/cat open=0:a.bin open=1:b.bin -> c")
    assert copied[1] - alone[1] == 8 * MiB and copied[0] - alone[0] >= 8 * MiB


def _tree(root, path: str, files: dict[str, str]) -> None:
    where = os.path.join(root, path)
    os.makedirs(where, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(where, name), "w") as f:
            f.write(text)


def test_the_cgroup_limit_is_the_smallest_room_on_the_way_up(tmp_path):
    _tree(tmp_path, "a", {"memory.max": "1000000000\n", "memory.current": "100000000\n"})
    _tree(tmp_path, "a/b", {"memory.max": "max\n", "memory.current": "50000000\n"})
    assert procfs.cgroup_memory_left("0::/a/b\n", str(tmp_path)) == 900_000_000
    assert procfs.cgroup_memory_left("0::/\n", str(tmp_path)) is None
    # cgroup v1: the memory hierarchy, "no limit" written as a huge number
    _tree(tmp_path, "memory/x", {"memory.limit_in_bytes": "300000000\n",
                                 "memory.usage_in_bytes": "100000000\n"})
    _tree(tmp_path, "memory", {"memory.limit_in_bytes": "9223372036854771712\n",
                               "memory.usage_in_bytes": "5\n"})
    assert procfs.cgroup_memory_left("4:memory:/x\n1:cpu:/\n", str(tmp_path)) == 200_000_000


def test_a_scenario_past_the_cgroup_limit_is_refused_before_it_runs(monkeypatch):
    monkeypatch.setattr(procfs, "cgroup_memory_left", lambda: 64 * MiB)
    text = scenario_text("parent: mmap m 1GiB\nparent: fork -> c\nparent: write m")
    first_op = text.splitlines().index("parent: mmap m 1GiB") + 1
    scenario = parse_text(text)
    with RealBackend().start(scenario) as run, pytest.raises(
            ScenarioError, match="the memory limit of forklab's cgroup") as err:
        for op in scenario.steps[0].ops:
            run.apply(op)
    assert err.value.where is not None and err.value.where.line == first_op


def test_mappings_past_the_real_region_are_refused_before_anything_runs(tmp_path):
    # the simulator's region is a whole user address space; a real process has 16-80 TiB
    text = scenario_text("parent: mmap a 60TiB noreserve\nparent: mmap b 8TiB noreserve")
    scenario = parse_text(text)
    with pytest.raises(ScenarioError, match="mapping 'b' would end at 84.0 TiB") as err:
        RealBackend(scratch_parent=str(tmp_path)).start(scenario)
    b_line = text.splitlines().index("parent: mmap b 8TiB noreserve") + 1
    assert err.value.where is not None and err.value.where.line == b_line
    assert list(tmp_path.iterdir()) == []  # no scratch directory, no process
