"""Sharing told without frame numbers (forklab/real/sharing.py) is never a guess:
as root, every shared_with and libc_*_same value of the catalog and tests/scenarios
is answered both ways, and wherever the answer from pagemap's exclusive and file
bits is not unavailable, it equals the answer from the frame numbers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forklab.lessons import catalog
from forklab.observe import UNAVAILABLE
from forklab.runner import run_scenario
from forklab.scenario.parse import parse_file

HERE = Path(__file__).resolve().parent.parent
FILES = [p for p in sorted((HERE / "scenarios").glob("*.toml")) + catalog()
         if any(word in p.read_text() for word in ("shared_with", "libc_text_same",
                                                   "libc_relro_same"))]

pytestmark = pytest.mark.forklab_real(root=True)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_answer_without_frames_is_the_answer_with_them_or_unavailable(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forklab.real.backend import RealBackend, RealQueries

    seen: list[tuple[str, Any, Any]] = []

    def both_ways(name: str) -> Any:
        original = getattr(RealQueries, name)

        def query(self: RealQueries, *args: Any) -> Any:
            with_frames = original(self, *args)
            self._run.frames_visible = False
            try:
                without = original(self, *args)
            finally:
                self._run.frames_visible = True
            seen.append((f"{name}{args}", with_frames, without))
            return with_frames
        return query

    for name in ("shared_with", "libc_same"):
        monkeypatch.setattr(RealQueries, name, both_ways(name))
    result = run_scenario(RealBackend(), parse_file(path))
    assert result.error is None, result.error
    assert seen, "the scenario read no sharing observable"
    assert all(frames is not UNAVAILABLE for _, frames, _ in seen)
    wrong = [entry for entry in seen if entry[2] is not UNAVAILABLE and entry[2] != entry[1]]
    assert not wrong
