"""The lesson pane: the step's narrative, its script, expectations and questions."""
from __future__ import annotations

import asyncio

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown


class LessonText(VerticalScroll):
    """Markdown that scrolls; shown from the top whenever the step changes."""

    DEFAULT_CSS = """
    LessonText { height: 1fr; padding: 0 1; }
    LessonText > Markdown { margin: 0; padding: 0; }
    LessonText MarkdownH2, LessonText MarkdownH3 { margin: 0 0 1 0; }
    LessonText MarkdownFence { margin: 0 0 1 0; }
    LessonText MarkdownFence > Label { padding: 0 1; }
    LessonText MarkdownBulletList { margin: 0 0 1 0; }
    LessonText MarkdownBlockQuote { margin: 0 0 1 0; }
    """

    def __init__(self, markdown: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.markdown = markdown
        self._lock = asyncio.Lock()

    def compose(self) -> ComposeResult:
        yield Markdown(self.markdown)

    async def show(self, markdown: str, *, to_top: bool = True) -> None:
        async with self._lock:
            if markdown != self.markdown:
                self.markdown = markdown
                # A fresh document each time: Markdown.update reuses blocks of the same
                # kind in place, and those do not always repaint.
                scroll_y = self.scroll_y
                await self.query(Markdown).remove()
                await self.mount(Markdown(markdown))
                if not to_top:
                    self.call_after_refresh(self.scroll_to, y=scroll_y, animate=False)
        if to_top:
            self.scroll_home(animate=False)
