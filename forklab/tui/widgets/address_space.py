"""Address spaces: each mapping as a bar of page states, one bar per process that has it.

The bar has a fixed number of cells whatever the mapping's size (the views
summarise the model's runs); each state has its own symbol, so the bar reads
the same without colour: ▇ exclusive, ▒ shared, · zero page, blank not present.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from forklab.tui.views import (
    ABSENT,
    EXCLUSIVE,
    PAGE_SYMBOL,
    SHARED,
    UNKNOWN,
    ZERO_PAGE,
    MappingView,
    ProcessMemory,
)
from forklab.vocabulary import format_size

PAGE_STYLE = {EXCLUSIVE: "green", SHARED: "yellow", ZERO_PAGE: "cyan", ABSENT: ""}


def legend() -> Text:
    text = Text("legend: ", style="dim")
    for state, word in ((EXCLUSIVE, "exclusive"), (SHARED, "shared"), (ZERO_PAGE, "zero page"),
                        (ABSENT, "not present")):
        text.append(f"[{PAGE_SYMBOL[state]}]", style=PAGE_STYLE[state] or "dim")
        text.append(f" {word}  ")
    return text


def render(totals: tuple[ProcessMemory, ...], mappings: tuple[MappingView, ...],
           selected: str | None) -> Text:
    out = Text()
    shown = [t for t in totals if not t.note or t.process == selected]
    ended = [t.process for t in totals if t.note and t.process != selected]
    width = max([len(t.process) for t in shown] + [6])
    for t in shown:
        out.append("▸ " if t.process == selected else "  ", style="bold")
        out.append(t.process.ljust(width), style="bold" if t.process == selected else "")
        if t.note:
            out.append(f"  {t.note}\n", style="dim")
            continue
        commit = format_size(t.commit) if t.commit is not None else UNKNOWN
        out.append(f"  page tables {t.vm_pte} KiB · faults {t.faults} ({t.minflt} in all)"
                   f" · commit {commit}\n")
    if ended:
        out.append(f"  no memory to show (ended, or running another program): "
                   f"{' '.join(ended)}\n", style="dim")
    if not mappings:
        out.append("\nNo mappings yet: the scenario has not called mmap.\n", style="dim")
        return out
    for view in mappings:
        out.append("\n")
        out.append(view.name, style="bold")
        facts = f"{view.size} {view.kind}  " if view.pages is not None else ""
        out.append(f"  {facts}({view.scale})\n", style="dim")
        for bar in view.bars:
            out.append("▸ " if bar.process == selected else "  ", style="bold")
            out.append(bar.process.ljust(width) + " ")
            if bar.cells:
                out.append("│")
                for symbol, state in zip(bar.cells, bar.states):
                    out.append(symbol, style=PAGE_STYLE[state])
                out.append("│ ")
            out.append(f"{PAGE_SYMBOL[EXCLUSIVE]}{bar.exclusive} ", style=PAGE_STYLE[EXCLUSIVE])
            out.append(f"{PAGE_SYMBOL[SHARED]}{bar.shared} ", style=PAGE_STYLE[SHARED])
            out.append(f"{PAGE_SYMBOL[ZERO_PAGE]}{bar.zero}", style=PAGE_STYLE[ZERO_PAGE])
            out.append(f" of {view.pages}\n" if view.pages is not None
                       else f" ({bar.present} present)\n", style="dim")
            for other, pages in bar.shared_with:
                out.append(" " * (width + 4) + f"{pages} pages share frames with {other}\n",
                           style="dim")
    out.append("\n")
    out.append_text(legend())
    return out


class AddressSpace(Static):
    DEFAULT_CSS = "AddressSpace { height: auto; }"

    def show(self, totals: tuple[ProcessMemory, ...], mappings: tuple[MappingView, ...],
             selected: str | None) -> None:
        self.update(render(totals, mappings, selected))
