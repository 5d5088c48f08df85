"""The sandbox: script lines typed against a copy of the model at the current step.

Nothing typed here changes the lesson. A line that does not parse or that the
language refuses is shown with its column and the parser's message, never a
traceback, and changes nothing; ``= EXPR`` evaluates an expression.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, RichLog, Static

from forklab.tui.messages import ProcessSelected, SandboxRan
from forklab.tui.state import Sandbox, SandboxLine
from forklab.tui.views import FAIL, OK, panels, process_order, shorten
from forklab.tui.widgets import Panels
from forklab.tui.widgets.panels import TABS

PROMPT = "› "


def line_text(line: SandboxLine) -> Text:
    """A history entry: the line with ✓ or ✗, and for an error a caret under its column."""
    text = Text()
    text.append(f"{OK} " if line.ok else f"{FAIL} ", style="green" if line.ok else "red bold")
    text.append(line.text)
    if line.ok:
        if line.message:
            text.append(f"   {line.message}", style="cyan")
        return text
    if line.col is not None:
        text.append("\n  " + " " * (line.col - 1) + "^", style="red bold")
        text.append(f" column {line.col}: ", style="red")
    else:
        text.append("\n  ")
    text.append(shorten(line.message), style="red")
    return text


class SandboxScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "leave", "Back to the lesson"),
        Binding("up", "recall(-1)", "Earlier line", show=False),
        Binding("down", "recall(1)", "Later line", show=False),
        Binding("ctrl+l", "clear", "Clear", show=False),
        Binding("f1", "tab('processes')", "Panels F1-F5", key_display="F1"),
        *[Binding(f"f{i}", f"tab('{key}')", title, show=False)
          for i, (key, title) in enumerate(TABS, 1) if i > 1],
        # the digits choose a panel too, once focus has left the input (Tab)
        *[Binding(str(i), f"tab('{key}')", title, show=False)
          for i, (key, title) in enumerate(TABS, 1)],
    ]

    DEFAULT_CSS = """
    SandboxScreen #sandbox-status { height: 1; }
    SandboxScreen Panels { height: 1fr; }
    SandboxScreen RichLog { height: 8; border-top: solid $accent; padding: 0 1; }
    SandboxScreen Input { dock: bottom; margin-bottom: 1; }
    """

    def __init__(self, sandbox: Sandbox, lesson_id: str) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.lesson_id = lesson_id
        self.selected: str | None = None
        self._recall = 0
        self._names: set[str] = set()

    def compose(self) -> ComposeResult:
        status = Text()
        status.append(" sandbox ", style="bold reverse")
        status.append(f" {self.lesson_id}, a copy of step {self.sandbox.position}: "
                      "nothing here changes the lesson", style="bold")
        yield Static(status, id="sandbox-status")
        yield Panels(kernel=False)
        yield RichLog(id="history", wrap=True, markup=False, auto_scroll=True)
        yield Input(placeholder="a script line, e.g. parent: fork -> c2   (= EXPR evaluates)",
                    id="line")
        yield Footer()

    def on_mount(self) -> None:
        self._names = set(self.sandbox.names)
        self.query_one(RichLog).write(Text("Type a script line and press Enter; names bound "
                                           "so far: " + _listed(self._names), style="dim"))
        self.draw()
        self.query_one(Input).focus()

    def draw(self) -> None:
        view = panels(self.sandbox.world, self.selected)
        self.selected = view.selected
        self.query_one(Panels).show(view)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value
        if not text.strip():
            return
        line = self.sandbox.enter(text)
        self.post_message(SandboxRan(line.text, line.ok, line.message, line.col))
        self.query_one(RichLog).write(line_text(line))
        event.input.value = ""  # ↑ brings it back, to fix a refused line
        if line.ok:
            self.draw()
            if set(self.sandbox.names) != self._names:
                self._names = set(self.sandbox.names)
                self.query_one(RichLog).write(Text("names bound now: " + _listed(self._names),
                                                   style="dim"))
        self._recall = 0

    def action_recall(self, delta: int) -> None:
        history = [line.text for line in self.sandbox.history]
        if not history:
            return
        self._recall = max(-len(history), min(0, self._recall + delta))
        self.query_one(Input).value = history[self._recall] if self._recall else ""

    def action_clear(self) -> None:
        self.query_one(RichLog).clear()

    def action_tab(self, key: str) -> None:
        self.query_one(Panels).activate(key)

    def on_process_selected(self, message: ProcessSelected) -> None:
        if message.name in process_order(self.sandbox.world):
            self.selected = message.name
            self.draw()

    def action_leave(self) -> None:
        self.dismiss(None)


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names))
