"""A source checkout works like the install: after `pip install .` the checkout
holds the extension and the programs too, so forklab started from it (python -m
forklab, forklab serve) runs scenarios on the kernel (docs/commands.md)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (CHECKOUT / "setup.py").is_file(), reason="not run from a checkout")
def test_forklab_started_from_the_checkout_runs_on_the_kernel():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "forklab", "run", "--backend", "real",
         "tests/scenarios/free-after-delayed-fork.toml"],
        cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[real]" in done.stdout and "1 of 1 expectations held" in done.stdout
