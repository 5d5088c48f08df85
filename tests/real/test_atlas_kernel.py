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
    on_kernel = {m.id for m in atlas.METHODS if not m.sim_only}
    computed = [c for row in rows for m, c in row["cells"].items()
                if m in on_kernel and c["outcome"] is not None]
    assert computed and all(c["kernel"] == "agree" for c in computed)
