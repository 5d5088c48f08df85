"""Fixtures for the lesson player's tests: fixture lessons, progress, fake kernels."""
from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from forklab.observe import UNAVAILABLE, World
from forklab.sim import SimBackend
from forklab.sim.backend import SimRun
from forklab.tui.app import ForklabApp, make_app
from forklab.tui.progress import Progress

LESSONS = Path(__file__).parent / "lessons"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests (Pilot's) in a fresh event loop, with no plugin needed."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


def lesson_files(*names: str) -> list[Path]:
    if not names:
        return sorted(LESSONS.glob("*.toml"))
    return [LESSONS / f"{name}.toml" for name in names]


class ModelAsKernel:
    """A 'kernel' that is the model itself: everything agrees."""

    name = "real"

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

    def start(self, scenario: Any) -> SimRun:
        return _LyingRun(scenario)


def model_kernel(cancel: threading.Event) -> tuple[Any, str]:
    return ModelAsKernel(), ""


def lying_kernel(cancel: threading.Event) -> tuple[Any, str]:
    return LyingKernel(), ""


def no_kernel(cancel: threading.Event) -> tuple[Any, str]:
    return None, "not built on this test machine"


@pytest.fixture
def progress(tmp_path: Path) -> Progress:
    return Progress(tmp_path / "state" / "progress.json")


@pytest.fixture
def app_factory(progress: Progress) -> Callable[..., ForklabApp]:
    def build(lesson: str | None = None, *, lessons: list[Path] | None = None,
              kernel: Callable[[threading.Event], tuple[Any, str]] = no_kernel
              ) -> ForklabApp:
        app = make_app(lesson, lessons=lessons or lesson_files(), progress=progress,
                       kernel=kernel)
        app.animation_level = "none"  # tabs slide otherwise, and Pilot waits for them
        return app
    return build
