"""The lesson player's screens: catalog, lesson, answer, sandbox, help."""
from forklab.tui.screens.answer import AnswerScreen
from forklab.tui.screens.catalog import CatalogScreen
from forklab.tui.screens.help import HelpScreen
from forklab.tui.screens.lesson import LessonScreen
from forklab.tui.screens.sandbox import SandboxScreen

__all__ = ["AnswerScreen", "CatalogScreen", "HelpScreen", "LessonScreen", "SandboxScreen"]
