"""Threads, the mutexes in each memory, and who waits forever (the wait-for graph)."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from forklab.tui.views import ThreadsView


def render(view: ThreadsView, selected: str | None) -> Text:
    out = Text()
    if view.note:
        out.append(view.note + "\n", style="dim")
        return out
    if view.stuck:
        out.append("waits forever\n", style="bold")
        for line in view.stuck:
            out.append(f"  ✗ {line}\n", style="red")
        out.append("\n")
    if not view.threads:
        out.append("No live threads.\n", style="dim")
    for row in view.threads:
        out.append("▸ " if row.process == selected else "  ", style="bold")
        name = row.process if row.thread == "main" else f"{row.process}/{row.thread}"
        out.append(f"{name:<12}", style="bold")
        out.append(f" tid {row.tid}", style="dim")
        if row.waiting:
            out.append(f"  ■ {row.waiting}", style="red")
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
