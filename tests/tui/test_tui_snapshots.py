"""SVG snapshots of the catalog and the lesson screens (pytest-textual-snapshot).

Update them after a deliberate change with ``pytest tests/tui --snapshot-update``
and look at the SVGs under ``__snapshots__`` before committing.
"""
from __future__ import annotations

from tuikit import lesson_files, no_kernel

from forklab.tui.app import make_app


def app(progress, lesson=None, names=("cow", "fd-leak", "fork-locks", "quiz", "broken")):
    built = make_app(lesson, lessons=lesson_files(*names), progress=progress, kernel=no_kernel)
    built.animation_level = "none"
    return built


def test_catalog(snap_compare, progress):
    progress.reached("cow", 4, 4)
    progress.reached("fd-leak", 2, 6)
    assert snap_compare(app(progress), terminal_size=(80, 24))


def test_lesson_intro(snap_compare, progress):
    assert snap_compare(app(progress, "cow"), terminal_size=(80, 24))


def test_lesson_memory_after_the_child_writes(snap_compare, progress):
    assert snap_compare(app(progress, "cow"), press=["n", "n", "n", "2"],
                        terminal_size=(80, 24))


def test_lesson_fd_tables(snap_compare, progress):
    assert snap_compare(app(progress, "fd-leak"), press=["n", "n", "n", "3", "z"],
                        terminal_size=(80, 24))


def test_lesson_wide(snap_compare, progress):
    assert snap_compare(app(progress, "fork-locks"), press=["n", "n", "n", "4"],
                        terminal_size=(140, 36))
