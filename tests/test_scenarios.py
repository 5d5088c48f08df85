"""Every lesson and every scenario under tests/scenarios passes on the simulator.

The scenarios' expectations are what the kernel was seen to do (the programs in
tests/kernel_facts/ and the real backend); this keeps the model true to them.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from forklab.lessons import catalog
from forklab.runner import run_scenario
from forklab.scenario.parse import parse_file
from forklab.sim import SimBackend

HERE = Path(__file__).resolve().parent
FILES = sorted((HERE / "scenarios").glob("*.toml")) + catalog()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_scenario_holds_on_the_simulator(path: Path) -> None:
    result = run_scenario(SimBackend(), parse_file(path))
    assert result.error is None, str(result.error)
    failed = [(s.step.index, j.text, j.value, j.error) for s in result.steps
              for j in s.expectations if j.ok is False]
    assert not failed, failed
    assert sum(len(s.expectations) for s in result.steps) > 0
