"""Signals: each process's caught, ignored, blocked and pending sets."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from forklab.tui.views import SignalRow


def render(rows: tuple[SignalRow, ...], selected: str | None) -> Table:
    table = Table(box=None, pad_edge=False, expand=False, show_edge=False,
                  header_style="bold", padding=(0, 1))
    for column in ("process", "caught", "ignored", "blocked", "pending"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row.thread:
            table.add_row(Text(f"    /{row.thread}", style="dim"), "", "", row.blocked,
                          Text(row.pending, style="yellow" if row.pending != "—" else ""))
            continue
        name = Text(("▸ " if row.process == selected else "  ") + row.process,
                    style="bold" if row.process == selected else "")
        if row.note:
            table.add_row(name, Text(row.note, style="dim"), "", "", "")
        else:
            table.add_row(name, row.caught, row.ignored, row.blocked,
                          Text(row.pending, style="yellow" if row.pending != "—" else ""))
    table.caption = "caught: a handler runs · ignored: dropped · blocked: held pending"
    if any(row.thread for row in rows):
        table.caption += " · /T: thread T's own"
    table.caption_style = "dim"
    return table


class SignalsPanel(Static):
    DEFAULT_CSS = "SignalsPanel { height: auto; }"

    def show(self, rows: tuple[SignalRow, ...], selected: str | None) -> None:
        self.update(render(rows, selected))
