"""Fixtures for every test: nothing here depends on the user's own files; and the
kernel tests under tests/real carry the plugin's marker, so that they skip, with
the reason, where the real backend cannot run (tests/real/test_status.py runs
everywhere: it checks that reason)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from forklab.testing.plugin import MARKER

REAL = Path(__file__).parent / "real"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path
        if (path.is_relative_to(REAL) and path.name != "test_status.py"
                and item.get_closest_marker(MARKER) is None):  # root=True is kept
            item.add_marker(MARKER)


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A calibration made on this machine must not change what the tests' simulator
    predicts, and no test should measure the machine unless it means to: the cache
    directory is one of the tests' own, holding a calibration that is the shipped
    coefficients and spread."""
    from forklab.sim import calibration

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        calibration.save(replace(calibration.SHIPPED, design="full", made=time.time()), {})
        yield
