"""The atlas screen: opened from the catalog, the table at 80x24, a cell's scenario and
both backends' outcome under it, the kernel's marks as they come."""
from __future__ import annotations

import threading
from typing import Any

from textual.widgets import DataTable, Static
from tuikit import lesson_files, model_kernel, no_kernel

from forklab import atlas
from forklab.tui.app import make_app
from forklab.tui.screens.atlas import PENDING, AtlasScreen

SIZE = (80, 24)


def atlas_app(progress: Any, kernel: Any) -> Any:
    app = make_app(lessons=lesson_files(), progress=progress, kernel=kernel)
    app.animation_level = "none"
    return app


def cell_text(screen: AtlasScreen) -> str:
    """The text the cell's box holds (whole: the box scrolls)."""
    return str(screen.query_one("#atlas-cell-text", Static).content)


async def wait_for_kernel(pilot: Any, screen: AtlasScreen) -> None:
    for _ in range(200):
        await pilot.pause(0.05)
        if all(c.kernel != PENDING for c in screen.cells.values()):
            return
    raise AssertionError("the kernel's cells never came")


async def test_i_opens_the_atlas_from_the_catalog_and_q_comes_back(progress):
    app = atlas_app(progress, no_kernel)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AtlasScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == len(atlas.ATTRIBUTES)
        assert len(table.columns) == len(atlas.METHODS)
        await wait_for_kernel(pilot, screen)
        text = cell_text(screen)  # the first cell: fds under fork
        assert text.startswith("open file descriptors (fork(2), execve(2)) under fork()")
        assert "model: copied" in text
        assert "not built on this test machine" in text  # why the kernel did not run
        assert "parent: open /dev/null -> f" in text
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, AtlasScreen)


async def test_moving_to_a_cell_shows_it_and_the_kernel_marks_it(progress):
    app = atlas_app(progress, model_kernel)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, AtlasScreen)
        await wait_for_kernel(pilot, screen)
        exec_column = [m.id for m in atlas.METHODS].index("exec")
        caught_row = [a.id for a in atlas.ATTRIBUTES].index("caught-dispositions")
        for _ in range(exec_column):
            await pilot.press("right")
        for _ in range(caught_row):
            await pilot.press("down")
        await pilot.pause()
        text = cell_text(screen)
        assert text.startswith("signals caught by a handler")
        assert "model: reset   kernel: agree" in text
        table = screen.query_one(DataTable)
        assert str(table.get_cell("caught-dispositions", "exec")) == "reset ✓"
        sim_only = screen.cells["fds", "create-process"]
        assert sim_only.kernel == "unavailable" and "simulator only" in sim_only.why


def test_closing_the_screen_stops_the_kernel_runs() -> None:
    screen = AtlasScreen(no_kernel, {})
    assert not screen.cancel.is_set()
    screen.on_unmount()
    assert isinstance(screen.cancel, threading.Event) and screen.cancel.is_set()
