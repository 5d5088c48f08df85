"""A run keeps what it judges small, and bounds what its expressions may build:
a 3 KB file of huge expectations can take neither gigabytes nor minutes."""
from __future__ import annotations

import json

from scenario_text import StepText, scenario_text

from forklab import cli
from forklab.runner import KEPT_LENGTH, Summary, run_scenario, summarised
from forklab.scenario.expr import MAX_RUN_TOTAL
from forklab.scenario.parse import parse_text
from forklab.sim.backend import SimBackend


def _scenario(expectations: list[str]) -> str:
    return scenario_text(StepText("parent: fflush", tuple(expectations)), sid="big")


def test_a_long_value_is_kept_as_a_summary_that_compares_by_content():
    big = summarised(list(range(KEPT_LENGTH + 1)))
    assert isinstance(big, Summary) and big.length == KEPT_LENGTH + 1
    assert big == summarised(list(range(KEPT_LENGTH + 1)))
    assert big != summarised([*range(KEPT_LENGTH), -1])  # same start, same length
    assert summarised({3, 1, 2} | set(range(10, 2000))) == \
        summarised(set(range(10, 2000)) | {1, 2, 3})
    assert "list of 1001 items: [0, 1, 2" in str(big)
    assert summarised([1, 2, 3]) == [1, 2, 3]  # short values stay as they are


def test_huge_results_are_summarised_in_the_result():
    result = run_scenario(SimBackend(), parse_text(_scenario(["[7]*1000000"] * 3)))
    values = [j.value for j in result.steps[0].expectations]
    assert all(isinstance(v, Summary) and v.length == 1_000_000 for v in values)
    assert values[0] == values[1] == values[2]


def test_the_expressions_of_a_run_share_one_budget():
    per = 1_000_000
    count = MAX_RUN_TOTAL // per + 5
    result = run_scenario(SimBackend(), parse_text(_scenario([f"[0]*{per}"] * count)))
    judged = result.steps[0].expectations
    errors = [j.error for j in judged if j.error]
    assert len(judged) == count and errors, "the budget was never reached"
    assert all("expressions build more than" in e for e in errors)
    assert isinstance(judged[0].value, Summary)  # the first ones ran


def test_json_of_huge_results_stays_small(tmp_path, capsys):
    path = tmp_path / "big.toml"
    path.write_text(_scenario(["[0]*1000000"] * 20))
    assert cli.main(["run", "--json", str(path)]) == 1  # lists are not True
    out = capsys.readouterr().out
    json.loads(out)
    assert len(out) < 200_000


def test_a_long_run_keeps_one_world_and_no_memory_of_ended_processes():
    """1,000 one-op steps once took 45 s and 1.7 GB: every step's World (each with a
    copy of the model kernel) was kept, and every process ever made showed every
    mapping name. A run keeps the last World only, and an ended process shows no
    memory (benchmarks/bench_long_run.py measures the time and the peak)."""
    lines = []
    for i in range(0, 200, 4):
        lines += [f"parent: mmap m{i} 4p", f"parent: write m{i}", f"parent: fork -> c{i}",
                  f"c{i}: exit 0"]
    steps = "".join(f'[[step]]\ndo = "{line}"\n' for line in lines)
    result = run_scenario(SimBackend(), parse_text(f'id = "long"\ntitle = "t"\nsummary = "s"\n'
                                                   f"{steps}"))
    assert result.error is None and len(result.steps) == 200
    assert [s.world is not None for s in result.steps] == [False] * 199 + [True]
    last = result.steps[-1].observations
    assert last["c0.state"] == "zombie"
    assert not [key for key in last if key.startswith("c0.") and key.count(".") == 2]
    assert sum(key.startswith("parent.m") and key.count(".") == 2 for key in last) >= 50
