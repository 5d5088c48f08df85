"""Messages the lesson player posts: widgets and screens say what happened, the app reacts.

Widgets post the requests (a lesson chosen, a process selected); screens post
what came of a key (a step shown, an answer judged, the kernel compared), so
that tests and the app can follow the session without reading widgets.
"""
from __future__ import annotations

from typing import Any

from textual.message import Message


class LessonChosen(Message):
    """The learner picked a lesson in the catalog, or the next one at a lesson's end
    (from_catalog: whether q then goes back to the catalog)."""

    def __init__(self, lesson_id: str, *, from_catalog: bool = True) -> None:
        super().__init__()
        self.lesson_id = lesson_id
        self.from_catalog = from_catalog


class ProcessSelected(Message):
    """The learner picked a process: the panels put it first."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class StepShown(Message):
    """The lesson now shows the model after step ``position`` (0: before the first)."""

    def __init__(self, position: int, total: int, ran: bool) -> None:
        super().__init__()
        self.position = position
        self.total = total
        self.ran = ran  # True: the model ran it just now; False: time travel


class StepRefused(Message):
    """A step key did nothing, and why (the start, the end, a model error)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class KernelRunStarted(Message):
    def __init__(self, position: int) -> None:
        super().__init__()
        self.position = position


class KernelChecked(Message):
    """The scenario ran on the kernel up to ``position`` (or could not: ``check.ran``)."""

    def __init__(self, position: int, check: Any) -> None:
        super().__init__()
        self.position = position
        self.check = check


class AnswerJudged(Message):
    def __init__(self, step: int, question: int, text: str, right: bool) -> None:
        super().__init__()
        self.step = step
        self.question = question
        self.text = text
        self.right = right


class HintShown(Message):
    def __init__(self, step: int, question: int, hint: str | None) -> None:
        super().__init__()
        self.step = step
        self.question = question
        self.hint = hint


class SandboxOpened(Message):
    def __init__(self, position: int) -> None:
        super().__init__()
        self.position = position


class SandboxRan(Message):
    """A line typed in the sandbox ran (ok) or was refused (with the column)."""

    def __init__(self, text: str, ok: bool, message: str, col: int | None) -> None:
        super().__init__()
        self.text = text
        self.ok = ok
        self.message = message
        self.col = col
