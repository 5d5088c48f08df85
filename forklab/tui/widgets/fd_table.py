"""fd tables: fd → open file description → object; close-on-exec marked ⊘."""
from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from forklab.tui.views import UNKNOWN, FdTable

CLOEXEC = "⊘"


def table_of(table: FdTable) -> Table:
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="dim",
                 padding=(0, 1), expand=False)
    grid.add_column("fd", justify="right", no_wrap=True)
    grid.add_column("", no_wrap=True)  # the scenario's name, and ⊘
    grid.add_column("→ open file", no_wrap=True)
    grid.add_column("→ object", overflow="fold")
    grid.add_column("shared with", overflow="fold", style="dim")
    for row in table.rows:
        name = Text(row.name, style="bold")
        if row.cloexec:
            name.append((" " if row.name else "") + CLOEXEC, style="magenta bold")
        described = row.file is not None
        grid.add_row(str(row.fd), name,
                     f"#{row.file} {row.mode} @{row.offset}" if described else UNKNOWN,
                     row.obj if described else UNKNOWN, " ".join(row.also))
    return grid


def render(tables: tuple[FdTable, ...], selected: str | None) -> RenderableType:
    parts: list[RenderableType] = []
    ended = [t.process for t in tables if t.note and t.process != selected]
    for table in tables:
        if table.note and table.process != selected:
            continue
        head = Text("▸ " if table.process == selected else "  ", style="bold")
        head.append(table.process, style="bold")
        if table.note:
            head.append(f"  {table.note}", style="dim")
        parts.append(head)
        if table.rows:
            parts.append(table_of(table))
        extra = Text(style="dim")
        if table.stdio:
            extra.append(f"  {table.stdio}")
        if table.last_read is not None:
            extra.append(f"\n  last read: {table.last_read!r}"
                         + (" (end of file)" if table.last_read == "" else ""))
        if extra:
            parts.append(extra)
        parts.append(Text())
    if ended:
        parts.append(Text(f"ended, so no fds: {' '.join(ended)}\n", style="dim"))
    parts.append(Text(f"{CLOEXEC} close-on-exec · #N open file description, mode @offset · "
                      "shared with process:fd", style="dim"))
    if any(row.file is None for table in tables for row in table.rows):
        parts.append(Text(f"{UNKNOWN} the kernel shows fd numbers and close-on-exec, "
                          "not what an fd points at", style="dim"))
    return Group(*parts)


class FdTablePanel(Static):
    DEFAULT_CSS = "FdTablePanel { height: auto; }"

    def show(self, tables: tuple[FdTable, ...], selected: str | None) -> None:
        self.update(render(tables, selected))
