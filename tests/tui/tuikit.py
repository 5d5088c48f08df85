"""Helpers for the lesson player's tests: fixture lessons and fake kernels."""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from forklab.backend import Capabilities
from forklab.observe import UNAVAILABLE, World
from forklab.sim import SimBackend
from forklab.sim.backend import SimRun

LESSONS = Path(__file__).parent / "lessons"


def lesson_files(*names: str) -> list[Path]:
    if not names:
        return sorted(LESSONS.glob("*.toml"))
    return [LESSONS / f"{name}.toml" for name in names]


class ModelAsKernel:
    """A 'kernel' that is the model itself: everything agrees."""

    name = "real"
    capabilities = Capabilities(sim_only_verbs=False)

    def start(self, scenario: Any) -> SimRun:
        return SimBackend().start(scenario)


class _LyingRun(SimRun):
    def observe(self) -> World:
        world = super().observe()
        processes = {name: dataclasses.replace(p, faults=p.faults + 1)
                     for name, p in world.processes.items()}
        return dataclasses.replace(world, processes=processes, queries=_NoFrames(world.queries))


class _NoFrames:
    """Queries like a kernel without root: frame sharing is unavailable."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def shared_with(self, *args: Any) -> Any:
        return UNAVAILABLE

    def byte(self, *args: Any) -> Any:
        return self.inner.byte(*args)

    def same_file(self, *args: Any) -> Any:
        return self.inner.same_file(*args)


class LyingKernel:
    """A 'kernel' that counts one fault too many and hides frame numbers."""

    name = "real"
    capabilities = Capabilities(sim_only_verbs=False)

    def start(self, scenario: Any) -> SimRun:
        return _LyingRun(scenario)


def model_kernel(cancel: threading.Event) -> tuple[Any, str]:
    return ModelAsKernel(), ""


def lying_kernel(cancel: threading.Event) -> tuple[Any, str]:
    return LyingKernel(), ""


def no_kernel(cancel: threading.Event) -> tuple[Any, str]:
    return None, "not built on this test machine"
