"""Fixtures for the real-kernel tests: skipped with a reason unless Linux and built."""
from __future__ import annotations

import sys

import pytest


def _status() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, "the real backend needs Linux"
    from forklab.real import real_backend_status

    return real_backend_status()


READY, WHY = _status()


def pytest_collection_modifyitems(config, items):
    if READY:
        return
    skip = pytest.mark.skip(reason=f"real backend unavailable: {WHY}")
    for item in items:
        path = str(item.fspath).replace("\\", "/")
        if "tests/real/" in path and not path.endswith("test_status.py"):
            item.add_marker(skip)
