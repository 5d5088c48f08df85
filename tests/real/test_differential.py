"""forklab verify: every lesson and every scenario of tests/scenarios agrees
with the kernel, observable by observable, and every expectation holds on both.

This is the test that keeps the model true: when the kernel and the model
part ways, it fails with the disagreement (step, line, observable, both values).
Like `forklab verify` on a machine it has not calibrated, it first measures
this machine (a quick calibration) and predicts spawn_us with what it found.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from forklab.bench import calibrate
from forklab.lessons import catalog
from forklab.real import RealBackend
from forklab.report import Style
from forklab.scenario.parse import parse_file
from forklab.sim import SimBackend
from forklab.sim.calibration import Calibration
from forklab.verify import Verdict, observable_name, render_text, timing_only, verify_scenario

HERE = Path(__file__).resolve().parent.parent
FILES = sorted((HERE / "scenarios").glob("*.toml")) + catalog()
ROOT_ONLY = {
    "dumpable": "a process that is not dumpable can be read only by root (docs/commands.md)",
    "namespaces": "its steps make UTS, mount, IPC and network namespaces: CAP_SYS_ADMIN",
    "cgroups": "its control groups are made below forklab's own, which only root may write",
    "setpgid-pid-namespace": "a PID namespace needs CAP_SYS_ADMIN",
    "chroot": "its chroots need CAP_SYS_CHROOT",
    "setxid-after-clone": "its threads set root's ids, which only root may keep",
    "mlockall": "mlockall is modelled only where RLIMIT_MEMLOCK does not count: CAP_IPC_LOCK",
}
"""Scenarios whose steps only root can run, with why; another user's run skips them."""


@pytest.fixture(scope="module")
def measured() -> list[Calibration]:
    """The calibrations made so far, the newest last."""
    return [calibrate.quick(lambda _: None)[1]]


def _verified(path: Path, calibration: Calibration, real: RealBackend) -> Verdict:
    return verify_scenario(parse_file(path), str(path), SimBackend(calibration.coefficients),
                           real, calibration.tolerance)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_model_and_kernel_agree(path: Path, measured: list[Calibration]) -> None:
    """When only measured times disagree, even after verify's own repeated runs, the
    machine may have changed since it was measured (a long test session leaves it
    slower or faster than at its start): it is measured again, once, and the
    scenario compared with what the new measurement predicts."""
    if path.stem in ROOT_ONLY and os.geteuid() != 0:
        pytest.skip(f"needs root: {ROOT_ONLY[path.stem]}")
    real = RealBackend()
    verdict = _verified(path, measured[-1], real)
    if not verdict.ok and timing_only(verdict):
        measured.append(calibrate.quick(lambda _: None)[1])
        verdict = _verified(path, measured[-1], real)
    report = render_text([verdict], Style(False), real.capabilities.hidden)
    assert verdict.ok, report
    # a value may be unavailable only where this user cannot see it (root sees all)
    hidden = {observable_name(c.key) for c in verdict.unavailable} - set(real.capabilities.hidden)
    assert not hidden, report
