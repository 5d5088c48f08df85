"""Fixtures for the lesson player's tests (helpers they import are in tuikit.py)."""
from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tuikit import lesson_files, no_kernel

from forklab.tui.app import ForklabApp, make_app
from forklab.tui.progress import Progress


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests (Pilot's) in a fresh event loop, with no plugin needed."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


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
