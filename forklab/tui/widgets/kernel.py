"""The kernel's view of the step: every observable compared, ✓ agree ✗ disagree ? unavailable."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from forklab.tui.state import KernelCheck, show_value

MARK = {"agree": ("✓", "green"), "disagree": ("✗", "red bold"), "unavailable": ("?", "yellow")}
ORDER = {"disagree": 0, "unavailable": 1, "agree": 2}


def render(check: KernelCheck | None, running: bool, position: int,
           hidden: frozenset[str] = frozenset()) -> Text:
    """hidden: observables not to list, for they would show an unanswered question's answer."""
    out = Text()
    if position == 0:
        out.append("Nothing has run yet: press n for step 1, then r to run it on the kernel.",
                   style="dim")
        return out
    if running:
        out.append(f"Running steps 1–{position} on the kernel…", style="yellow")
        return out
    if check is None:
        out.append("Press r to run the steps so far on the real kernel and compare "
                   "every observable with the model.", style="dim")
        return out
    if not check.ran:
        out.append(f"? Not run on the kernel: {check.reason}", style="yellow")
        return out
    out.append(f"✓ {check.count('agree')} agree  ✗ {check.count('disagree')} disagree  "
               f"? {check.count('unavailable')} unavailable\n\n", style="bold")
    for c in sorted(check.compared, key=lambda c: ORDER[c.status]):
        mark, style = MARK[c.status]
        if c.key in hidden:
            out.append(f"{mark} ", style=style)
            out.append(f"{c.key}  held back until you answer\n", style="dim")
            continue
        out.append(f"{mark} ", style=style)
        out.append(c.key)
        if c.status == "agree":
            out.append(f"  {_value(c.model)}\n", style="dim")
        elif c.status == "unavailable":
            out.append(f"  model {_value(c.model)}, kernel cannot show it\n", style="dim")
        else:
            out.append(f"  model {_value(c.model)}, kernel {_value(c.kernel)}\n")
    return out


def _value(value: Any) -> str:
    return show_value(value, 60)


class KernelPanel(Static):
    DEFAULT_CSS = "KernelPanel { height: auto; }"

    def show(self, check: KernelCheck | None, running: bool, position: int,
             hidden: frozenset[str] = frozenset()) -> None:
        self.update(render(check, running, position, hidden))
