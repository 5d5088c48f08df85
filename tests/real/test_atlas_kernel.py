"""forklab atlas on the kernel: every cell the model computes, the kernel agrees with
(as root and as any other user: nothing of it needs privileges)."""
from __future__ import annotations

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
    ran = [c for row in rows for c in row["cells"].values() if c["kernel"] == "agree"]
    assert len(ran) == sum(c["outcome"] is not None for row in rows
                           for c in row["cells"].values())
