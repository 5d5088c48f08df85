"""The lesson player: a Textual app built by :func:`make_app`.

``make_app()`` opens the catalog; ``make_app("cow")`` opens one lesson (and
``q`` then quits instead of going back). Everything the app needs from
outside — the lesson files, where progress is kept, how to reach the kernel
backend, the model's calibration — is a parameter, so tests run it
against fixtures.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from forklab import lessons as catalog
from forklab.sim.calibration import Calibration
from forklab.tui.messages import LessonChosen
from forklab.tui.progress import Progress
from forklab.tui.state import (
    CatalogEntry,
    KernelFactory,
    LessonSession,
    find_lesson,
    load_catalog,
    real_kernel,
)


class LessonError(Exception):
    """``make_app`` cannot open the lesson it was asked for."""


class LessonNotFound(LessonError, LookupError):
    """``make_app`` was asked for a lesson the catalog does not have."""


class ForklabApp(App[None]):
    CSS_PATH = "styles/forklab.tcss"
    TITLE = "forklab"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(self, entries: list[CatalogEntry], progress: Progress, kernel: KernelFactory,
                 calibrated: Calibration, start: CatalogEntry | None = None) -> None:
        super().__init__()
        self.entries = entries
        self.progress = progress
        self.kernel_factory = kernel
        self.calibrated = calibrated
        self.start = start

    def on_mount(self) -> None:
        from forklab.tui.screens.catalog import CatalogScreen

        if self.start is not None:
            self.open_lesson(self.start, from_catalog=False)
        else:
            self.push_screen(CatalogScreen(self.entries, self.progress))
        if self.progress.error:
            self.notify(self.progress.error, severity="warning", timeout=6)

    def open_lesson(self, entry: CatalogEntry, *, from_catalog: bool) -> None:
        from forklab.tui.screens.lesson import LessonScreen

        if entry.scenario is None:
            self.notify(f"{entry.path.name} cannot be opened: {entry.error}",
                        severity="error", timeout=8)
            return
        session = LessonSession(entry.scenario, self.calibrated)
        mine = self.progress.of(entry.id)
        session.remember(mine.solved(), mine.shown())
        if not mine.completed:
            session.goto(mine.at)
        self.push_screen(LessonScreen(session, self.progress, self.kernel_factory,
                                      from_catalog=from_catalog, next_lesson=self.next_lesson))
        if session.position:
            self.notify(f"Back at step {session.position}, where you left {entry.id}: "
                        "p goes back", timeout=4)

    def next_lesson(self, after: str | None = None) -> CatalogEntry | None:
        """The lesson to take after ``after`` (or the first to take): the next on the
        catalog's path not completed."""
        usable = [e.id for e in self.entries if e.scenario is not None]
        upcoming = catalog.next_lesson(usable, self.progress.completed, after)
        return find_lesson(self.entries, upcoming) if upcoming is not None else None

    def on_lesson_chosen(self, message: LessonChosen) -> None:
        entry = find_lesson(self.entries, message.lesson_id)
        if entry is not None:
            self.open_lesson(entry, from_catalog=message.from_catalog)


def make_app(lesson: str | Path | None = None, *, lessons: Sequence[Path] | None = None,
             progress: Progress | Path | None = None, kernel: KernelFactory | None = None,
             calibrated: Calibration | None = None) -> ForklabApp:
    """The lesson player.

    lesson: a lesson id (or a path to a lesson file) to open at once; None
    opens the catalog. lessons: the lesson files (default: forklab's catalog), listed
    in the order of the catalog's path (forklab.lessons.in_order).
    progress: where progress is kept (default: the XDG state directory).
    kernel: how to reach the kernel backend (default: ``forklab.real``, if built).
    calibrated: the model's cost coefficients and the tolerance its kernel checks
    compare spawn_us with (default: this machine's calibration, read now, or the
    shipped ones).
    Raises :class:`LessonNotFound` for a lesson id the catalog does not have, and
    :class:`LessonError` for a lesson file that does not parse.
    """
    if lessons is None:
        lessons = catalog.catalog()
    entries = catalog.in_order(load_catalog([Path(p) for p in lessons]), lambda e: e.id,
                               lambda e: e.scenario.builds_on if e.scenario else ())
    start = None
    if lesson is not None:
        path = Path(lesson)
        if path.suffix == ".toml" and path.is_file():  # a lesson file, in the catalog or not
            start = next((e for e in entries if e.path.resolve() == path.resolve()), None)
            if start is None:
                (start,) = load_catalog([path])
        else:
            start = find_lesson(entries, str(lesson))
        if start is None:
            known = ", ".join(e.id for e in entries) or "none"
            raise LessonNotFound(f"no lesson {str(lesson)!r} in the catalog (lessons: {known})")
        if start.scenario is None:
            raise LessonError(start.error or f"{start.path}: cannot be opened")
    if not isinstance(progress, Progress):
        progress = Progress(progress)
    if calibrated is None:
        from forklab.sim import calibration
        calibrated = calibration.current()
    return ForklabApp(entries, progress, kernel or real_kernel, calibrated, start)
