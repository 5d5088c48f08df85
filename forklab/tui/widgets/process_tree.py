"""The process tree: who made whom, each process's state as a word and a symbol."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from forklab.tui.messages import ProcessSelected
from forklab.tui.views import ProcessRow

STATE_STYLE = {"running": "green", "suspended": "yellow", "stopped": "cyan", "blocked": "red bold",
               "zombie": "magenta", "reaped": "dim"}


def row_text(row: ProcessRow, selected: bool) -> Text:
    text = Text()
    text.append("▸ " if selected else "  ", style="bold")
    text.append(row.prefix, style="dim")
    text.append(row.name, style="bold" if selected else "")
    if row.pid is not None:
        text.append(f"  pid {row.pid}", style="dim")
    text.append(f"  {row.symbol} {row.state}", style=STATE_STYLE.get(row.state, ""))
    if row.detail:
        text.append(f"  {row.detail}", style="dim" if row.state in ("reaped",) else "")
    return text


class ProcessTree(OptionList):
    """One option per process; choosing one posts :class:`ProcessSelected`."""

    DEFAULT_CSS = """
    ProcessTree { height: auto; max-height: 100%; border: none; padding: 0; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.names: list[str] = []

    def show(self, rows: tuple[ProcessRow, ...], selected: str | None) -> None:
        names = [row.name for row in rows]
        highlighted = self.highlighted
        self.clear_options()
        self.add_options([Option(row_text(row, row.name == selected), id=row.name)
                          for row in rows])
        self.names = names
        if selected in names:
            self.highlighted = names.index(selected)
        elif highlighted is not None and highlighted < len(names):
            self.highlighted = highlighted

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(ProcessSelected(event.option.id))
