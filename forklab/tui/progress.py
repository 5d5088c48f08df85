"""What the learner has done, kept between sessions as a small JSON file.

The file lives in ``$XDG_STATE_HOME/forklab/progress.json`` (by default
``~/.local/state/forklab/progress.json``). It records, per lesson id, the
furthest step reached, whether the lesson was finished, the answers given and
the hints taken. A missing or unreadable file is an empty record; a file that
cannot be written costs the learner their progress, never the session.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1


def state_dir() -> Path:
    """``$XDG_STATE_HOME/forklab``, or ``~/.local/state/forklab``."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "forklab"


def default_path() -> Path:
    return state_dir() / "progress.json"


@dataclass
class LessonProgress:
    furthest: int = 0  # the furthest step run (0: none)
    total: int = 0
    completed: bool = False
    answers: dict[str, bool] = field(default_factory=dict)  # "step.question" -> right
    hints: list[str] = field(default_factory=list)  # "step.question"

    def to_json(self) -> dict[str, Any]:
        return {"furthest": self.furthest, "total": self.total, "completed": self.completed,
                "answers": dict(self.answers), "hints": list(self.hints)}

    @classmethod
    def from_json(cls, data: Any) -> LessonProgress:
        if not isinstance(data, dict):
            return cls()
        answers = data.get("answers")
        hints = data.get("hints")
        return cls(
            furthest=_int(data.get("furthest")),
            total=_int(data.get("total")),
            completed=data.get("completed") is True,
            answers={str(k): v for k, v in answers.items() if isinstance(v, bool)}
            if isinstance(answers, dict) else {},
            hints=[h for h in hints if isinstance(h, str)] if isinstance(hints, list) else [],
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class Progress:
    """Every lesson's progress, loaded once and saved after every change."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = default_path() if path is None else Path(path)
        self.lessons: dict[str, LessonProgress] = {}
        self.error: str | None = None  # the last load or save problem, for the UI to show
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as err:
            self.error = f"cannot read {self.path}: {err}"
            return
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as err:  # nested past the parser's depth
            self.error = f"{self.path} is not valid JSON ({err}); starting afresh"
            return
        lessons = data.get("lessons") if isinstance(data, dict) else None
        if isinstance(lessons, dict):
            self.lessons = {str(k): LessonProgress.from_json(v) for k, v in lessons.items()}

    def save(self) -> bool:
        """Write the file atomically; False (and ``error`` set) if it cannot be written."""
        document = {"version": VERSION,
                    "lessons": {k: v.to_json() for k, v in sorted(self.lessons.items())}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".progress-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(document, out, indent=2)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as err:
            self.error = f"cannot save progress to {self.path}: {err.strerror or err}"
            return False
        self.error = None
        return True

    def of(self, lesson: str) -> LessonProgress:
        return self.lessons.get(lesson) or LessonProgress()

    def completed(self, lesson: str) -> bool:
        return self.of(lesson).completed

    def _entry(self, lesson: str) -> LessonProgress:
        return self.lessons.setdefault(lesson, LessonProgress())

    def reached(self, lesson: str, step: int, total: int) -> None:
        entry = self._entry(lesson)
        entry.total = total
        entry.furthest = max(entry.furthest, step)
        if total and step >= total:
            entry.completed = True
        self.save()

    def answered(self, lesson: str, step: int, question: int, right: bool) -> None:
        entry = self._entry(lesson)
        key = f"{step}.{question + 1}"
        entry.answers[key] = entry.answers.get(key, False) or right
        self.save()

    def hinted(self, lesson: str, step: int, question: int) -> None:
        entry = self._entry(lesson)
        key = f"{step}.{question + 1}"
        if key not in entry.hints:
            entry.hints.append(key)
            self.save()
