"""forklab verify: every lesson and every scenario of tests/scenarios agrees
with the kernel, observable by observable, and every expectation holds on both.

This is the test that keeps the model true: when the kernel and the model
part ways, it fails with the disagreement (step, line, observable, both values).
Like `forklab verify` on a machine it has not calibrated, it first measures
this machine (a quick calibration) and predicts spawn_us with what it found.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from forklab.bench import calibrate
from forklab.lessons import catalog
from forklab.real import RealBackend
from forklab.report import Style
from forklab.scenario.parse import parse_file
from forklab.sim import SimBackend
from forklab.sim.calibration import Calibration
from forklab.verify import observable_name, render_text, verify_scenario

HERE = Path(__file__).resolve().parent.parent
FILES = sorted((HERE / "scenarios").glob("*.toml")) + catalog()


@pytest.fixture(scope="module")
def measured() -> Calibration:
    return calibrate.quick(lambda _: None)[1]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_model_and_kernel_agree(path: Path, measured: Calibration) -> None:
    real = RealBackend()
    verdict = verify_scenario(parse_file(path), str(path), SimBackend(measured.coefficients),
                              real, measured.tolerance)
    report = render_text([verdict], Style(False), real.capabilities.hidden)
    assert verdict.ok, report
    # a value may be unavailable only where this user cannot see it (root sees all)
    hidden = {observable_name(c.key) for c in verdict.unavailable} - set(real.capabilities.hidden)
    assert not hidden, report
