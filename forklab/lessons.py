"""Where the lesson catalog lives, in a checkout and after an install.

In a source checkout the lessons are the top-level ``lessons/`` directory, next
to the package, so an instructor edits them in place. An installed forklab has
no checkout: packaging copies ``lessons/*.toml`` into the package as
``forklab/_catalog/``.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


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
