"""What the learner has done, kept between sessions as a small JSON file.

The file lives in ``$XDG_STATE_HOME/forklab/progress.json`` (by default
``~/.local/state/forklab/progress.json``). It records, per lesson id, the
furthest step reached, the step the learner left it at, whether the lesson
was finished, the answers given (right or not, and the text of a right one),
the questions whose answer was shown, and the hints taken. A missing or
unreadable file is an empty record; a file that cannot be written costs the
learner their progress, never the session.
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


def question_key(step: int, question: int) -> str:
    """``"2.1"``: step 2's first question (question is 0-based)."""
    return f"{step}.{question + 1}"


def parse_question_key(key: str) -> tuple[int, int] | None:
    """(step, 0-based question) from ``"2.1"``; None for anything else."""
    step, dot, question = key.partition(".")
    if not (dot and step.isdigit() and question.isdigit() and int(question) >= 1):
        return None
    return int(step), int(question) - 1


@dataclass
class LessonProgress:
    furthest: int = 0  # the furthest step run (0: none)
    at: int = 0  # the step shown when the learner last moved: a lesson resumes there
    total: int = 0
    completed: bool = False
    answers: dict[str, bool] = field(default_factory=dict)  # "step.question" -> right
    given: dict[str, str] = field(default_factory=dict)  # "step.question" -> the right text
    revealed: list[str] = field(default_factory=list)  # "step.question": answer shown
    hints: list[str] = field(default_factory=list)  # "step.question"

    def to_json(self) -> dict[str, Any]:
        return {"furthest": self.furthest, "at": self.at, "total": self.total,
                "completed": self.completed, "answers": dict(self.answers),
                "given": dict(self.given), "revealed": list(self.revealed),
                "hints": list(self.hints)}

    def solved(self) -> dict[tuple[int, int], str]:
        """Each question answered right, with the text given."""
        out = {}
        for key, right in self.answers.items():
            where = parse_question_key(key)
            if right and where is not None:
                out[where] = self.given.get(key, "")
        return out

    def shown(self) -> set[tuple[int, int]]:
        """The questions whose answer the lesson showed after two wrong tries."""
        return {where for key in self.revealed if (where := parse_question_key(key))}

    @classmethod
    def from_json(cls, data: Any) -> LessonProgress:
        if not isinstance(data, dict):
            return cls()
        answers = data.get("answers")
        given = data.get("given")
        return cls(
            furthest=_int(data.get("furthest")),
            at=_int(data.get("at")),
            total=_int(data.get("total")),
            completed=data.get("completed") is True,
            answers={str(k): v for k, v in answers.items() if isinstance(v, bool)}
            if isinstance(answers, dict) else {},
            given={str(k): v for k, v in given.items() if isinstance(v, str)}
            if isinstance(given, dict) else {},
            revealed=_strings(data.get("revealed")),
            hints=_strings(data.get("hints")),
        )


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


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
        """The learner is shown ``step`` (run now, or gone back to)."""
        entry = self._entry(lesson)
        entry.total = total
        entry.at = step
        entry.furthest = max(entry.furthest, step)
        if total and step >= total:
            entry.completed = True
        self.save()

    def answered(self, lesson: str, step: int, question: int, text: str, right: bool,
                 revealed: bool = False) -> None:
        """An answer given; revealed: the lesson now shows the right one."""
        entry = self._entry(lesson)
        key = question_key(step, question)
        if right and not entry.answers.get(key, False):
            entry.given[key] = text
        entry.answers[key] = entry.answers.get(key, False) or right
        if revealed and key not in entry.revealed:
            entry.revealed.append(key)
        self.save()

    def hinted(self, lesson: str, step: int, question: int) -> None:
        entry = self._entry(lesson)
        key = question_key(step, question)
        if key not in entry.hints:
            entry.hints.append(key)
            self.save()
