"""The lesson catalog: where its files live, and the order to take the lessons in.

In a source checkout the lessons are the top-level ``lessons/`` directory, next
to the package, so an instructor edits them in place. An installed forklab has
no checkout: packaging copies ``lessons/*.toml`` into the package as
``forklab/_catalog/``.

The catalog is a path: each lesson names the lessons it builds on
(``builds_on``), and :func:`in_order` lists every lesson after those.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

_PACKAGE = Path(__file__).resolve().parent

T = TypeVar("T")


def catalog_dir() -> Path:
    """The directory holding the lessons (it may not exist in a broken install)."""
    root = _PACKAGE.parent
    # pyproject.toml marks a checkout, so a stray top-level "lessons" directory
    # beside an installed package in site-packages is never mistaken for ours.
    if (root / "lessons").is_dir() and (root / "pyproject.toml").is_file():
        return root / "lessons"
    return _PACKAGE / "_catalog"


def catalog() -> list[Path]:
    """Every lesson file, sorted by name."""
    return sorted(catalog_dir().glob("*.toml"))


def find(lesson_id: str) -> Path | None:
    """The catalog's file for a lesson id (a lesson's file is named after its id)."""
    for path in catalog():
        if path.stem == lesson_id:
            return path
    return None


def in_order(lessons: Sequence[T], id_of: Callable[[T], str],
             builds_on: Callable[[T], Iterable[str]]) -> list[T]:
    """The lessons as a path: each after every lesson it builds on.

    Lessons are ranked by depth (the longest chain of lessons beneath them),
    then by id, so the basics of every topic come before the deeper lessons.
    A prerequisite the catalog lacks is ignored here, and lessons on a cycle
    go after the others: :func:`order_problems` reports both.
    """
    known = {id_of(lesson): lesson for lesson in lessons}
    depth: dict[str, int] = {}
    visiting: set[str] = set()

    def depth_of(lesson_id: str) -> int:
        if lesson_id in depth:
            return depth[lesson_id]
        if lesson_id in visiting:  # a cycle: order_problems names it
            return len(known)
        visiting.add(lesson_id)
        below = [depth_of(p) for p in builds_on(known[lesson_id]) if p in known]
        visiting.discard(lesson_id)
        depth[lesson_id] = 1 + max(below, default=-1)
        return depth[lesson_id]

    return sorted(lessons, key=lambda lesson: (depth_of(id_of(lesson)), id_of(lesson)))


def order_problems(lessons: Sequence[T], id_of: Callable[[T], str],
                   builds_on: Callable[[T], Iterable[str]]) -> list[str]:
    """What keeps the catalog from being a path: a lesson building on one the catalog
    does not have, on itself, or on a lesson that (through others) builds on it."""
    known = {id_of(lesson): lesson for lesson in lessons}
    problems = [f"{lesson_id} builds on {p!r}, which is not in the catalog"
                for lesson_id, lesson in known.items() for p in builds_on(lesson)
                if p not in known]
    state: dict[str, str] = {}  # "open" while its prerequisites are walked, then "done"

    def walk(chain: list[str]) -> None:
        """chain: a lesson, after the lessons that (one through the next) build on it."""
        lesson_id = chain[-1]
        state[lesson_id] = "open"
        for p in builds_on(known[lesson_id]):
            if state.get(p) == "open":
                problems.append("lessons build on each other in a cycle: "
                                + " → ".join(chain[chain.index(p):] + [p]))
            elif p in known and p not in state:
                walk(chain + [p])
        state[lesson_id] = "done"

    for lesson_id in sorted(known):
        if lesson_id not in state:
            walk([lesson_id])
    return problems


def next_lesson(path: Sequence[str], completed: Callable[[str], bool],
                after: str | None = None) -> str | None:
    """The lesson to take next: the first not completed after ``after`` on the path
    (from its start when None), else the first not completed anywhere."""
    start = path.index(after) + 1 if after in path else 0
    for lesson_id in [*path[start:], *path[:start]]:
        if lesson_id != after and not completed(lesson_id):
            return lesson_id
    return None
