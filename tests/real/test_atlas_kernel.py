"""forklab atlas on the kernel: every cell the model computes, the kernel agrees with.
As another user than root, a cell that reads what only root may (a page of a shared
mapping the child never touched) is unavailable, not a disagreement."""
from __future__ import annotations

import os

import pytest

from forklab import atlas
from forklab.real import RealBackend
from forklab.sim import SimBackend


@pytest.mark.forklab_real
def test_the_kernel_agrees_with_every_cell() -> None:
    rows = atlas.atlas(SimBackend(), RealBackend())
    disagree = [(row["id"], m, c.get("kernel_outcome"), c["outcome"])
                for row in rows for m, c in row["cells"].items() if c["kernel"] == "disagree"]
    assert not disagree
    on_kernel = {m.id for m in atlas.METHODS if not m.sim_only}
    computed = [c for row in rows for m, c in row["cells"].items()
                if m in on_kernel and c["outcome"] is not None]
    ran = [c for c in computed if c["kernel"] == "agree"]
    if os.geteuid() == 0:  # root reads everything; another user not a page it never mapped
        assert ran == computed
    assert len(ran) > len(computed) // 2
