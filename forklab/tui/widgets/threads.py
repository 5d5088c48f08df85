"""Threads, the mutexes in each memory, and who waits forever (the wait-for graph)."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from forklab.tui.views import ThreadsView


def with_code(text: str, style: str) -> Text:
    """Text whose `code spans` (a script line) are drawn as code, without the backticks."""
    out = Text()
    for i, part in enumerate(text.split("`")):
        out.append(part, style=f"{style} bold reverse" if i % 2 else style)
    return out


def render(view: ThreadsView, selected: str | None) -> Text:
    out = Text()
    if view.note:
        out.append(view.note + "\n", style="dim")
        return out
    if view.stuck:
        out.append("waits forever\n", style="bold")
        for line in view.stuck:
            out.append("  ✗ ", style="red")
            out.append(with_code(line, "red"))
            out.append("\n")
        out.append("\n")
    if not view.threads:
        out.append("No live threads.\n", style="dim")
    for row in view.threads:
        out.append("▸ " if row.process == selected else "  ", style="bold")
        name = row.process if row.thread == "main" else f"{row.process}/{row.thread}"
        out.append(f"{name:<12}", style="bold")
        out.append(f" tid {row.tid}", style="dim")
        if row.waiting:
            out.append("  ■ ", style="red")
            out.append(with_code(row.waiting, "red"))
        else:
            out.append("  ▶ free to run", style="green")
        if row.holds:
            out.append(f"  holds {', '.join(row.holds)}")
        out.append("\n")
    if view.locks:
        out.append("\nmutexes (they live in memory, so fork copies them)\n", style="bold")
        for lock in view.locks:
            mark = "✗ " if lock.orphaned else "  "
            out.append(f"  {mark}{lock.process}: {lock.lock} {lock.owner}\n",
                       style="red" if lock.orphaned else "")
    if not view.stuck:
        out.append("\n✓ nobody waits forever: every waiting thread can still be woken\n",
                   style="green")
    return out


class ThreadsPanel(Static):
    DEFAULT_CSS = "ThreadsPanel { height: auto; }"

    def show(self, view: ThreadsView, selected: str | None) -> None:
        self.update(render(view, selected))
