"""The inheritance atlas as a screen: the table (docs/atlas.md), and under it the
highlighted cell's scenario and what each backend found.

The model's cells are computed when the screen opens; the kernel's then run in a
worker thread, through the same kernel factory the lessons use, and each cell
gains its mark as they come (✓ agrees, ✗ differs, ? not run)."""
from __future__ import annotations

import re
import threading

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from forklab import atlas
from forklab.sim import SimBackend
from forklab.sim.cost import Coefficients
from forklab.tui.state import KernelFactory

PENDING = "…"


def script_text(scenario: str) -> Text:
    """A cell's scenario as its steps: the script lines, then what is read after them."""
    out = Text()
    for line in scenario.splitlines():
        if line.startswith("ask = ["):
            reads = re.findall(r'a = "([^"]*)"', line)
            out.append("  read: " + ", ".join(reads) + "\n", style="dim")
        elif ": " in line and not line.startswith(("id ", "title ", "summary ")):
            out.append(line + "\n", style="cyan")
    return out


class AtlasScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "close", "Back"),
    ]

    DEFAULT_CSS = """
    AtlasScreen #atlas-title { height: 1; }
    AtlasScreen #atlas-hint { height: 1; color: $text-muted; padding: 0 1; }
    AtlasScreen DataTable { height: 1fr; }
    AtlasScreen #atlas-cell { height: 9; border-top: solid $accent; padding: 0 1; }
    """

    def __init__(self, kernel: KernelFactory, coefficients: dict[str, Coefficients]) -> None:
        super().__init__()
        self.kernel_factory = kernel
        self.coefficients = coefficients
        self.cancel = threading.Event()
        self.cells: dict[tuple[str, str], atlas.Cell] = {}

    def compose(self) -> ComposeResult:
        title = Text()
        title.append(" forklab ", style="bold reverse")
        title.append("  the inheritance atlas: what a new process gets", style="bold")
        yield Static(title, id="atlas-title")
        yield Static("arrows: a cell · kernel ✓ agrees ✗ differs ? not run · q back",
                     id="atlas-hint")
        yield DataTable(id="atlas-table", zebra_stripes=True)
        with VerticalScroll(id="atlas-cell"):
            yield Static("", id="atlas-cell-text")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.cursor_type = "cell"
        for method in atlas.METHODS:
            table.add_column(method.id, key=method.id)
        sim = SimBackend(self.coefficients)
        for attribute in atlas.ATTRIBUTES:
            row = []
            for method in atlas.METHODS:
                cell = atlas.cell(attribute, method, sim, None)
                if not method.sim_only and cell.outcome is not None:
                    cell = atlas.Cell(cell.outcome, PENDING, "", cell.scenario)
                self.cells[attribute.id, method.id] = cell
                row.append(self.shown(cell))
            table.add_row(*row, key=attribute.id, label=attribute.id)
        table.focus()
        self.show_cell(0, 0)
        self.run_on_kernel()

    @staticmethod
    def shown(cell: atlas.Cell) -> Text:
        if cell.outcome is None:
            return Text("—", style="dim")
        mark = atlas.MARK.get(cell.kernel, PENDING)
        style = {"✓": "green", "✗": "red bold"}.get(mark, "dim")
        return Text.assemble(cell.outcome + " ", (mark, style))

    def show_cell(self, row: int, column: int) -> None:
        attribute, method = atlas.ATTRIBUTES[row], atlas.METHODS[column]
        cell = self.cells[attribute.id, method.id]
        out = Text()
        out.append(f"{attribute.title}", style="bold")
        out.append(f" ({attribute.source}) under {method.title}\n")
        out.append(f"model: {cell.outcome or 'no outcome'}   kernel: ")
        if cell.kernel == "disagree":
            out.append(f"{cell.kernel_outcome} ✗ differs", style="red bold")
        elif cell.kernel == PENDING:
            out.append("running…", style="dim")
        else:
            out.append(cell.kernel)
        if cell.why:
            out.append(f" ({cell.why})", style="dim")
        out.append("\n")
        out.append(script_text(cell.scenario))
        self.query_one("#atlas-cell-text", Static).update(out)

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self.show_cell(event.coordinate.row, event.coordinate.column)

    @work(thread=True, exclusive=True, group="atlas-kernel", exit_on_error=False)
    def run_on_kernel(self) -> None:
        backend, why = self.kernel_factory(self.cancel)
        sim = SimBackend(self.coefficients)
        for attribute in atlas.ATTRIBUTES:
            for method in atlas.METHODS:
                if self.cancel.is_set():
                    return
                if self.cells[attribute.id, method.id].kernel != PENDING:
                    continue
                mine = self.cells[attribute.id, method.id]
                if backend is None:
                    found = atlas.Cell(mine.outcome, "unavailable",
                                       f"the kernel backend is unavailable: {why}", mine.scenario)
                else:
                    try:
                        found = atlas.cell(attribute, method, sim, backend)
                    except Exception as err:  # a kernel run must never take the UI down
                        found = atlas.Cell(mine.outcome, "unavailable",
                                           f"the kernel run failed: {type(err).__name__}: {err}",
                                           mine.scenario)
                self.app.call_from_thread(self.kernel_cell, attribute.id, method.id, found)

    def kernel_cell(self, attribute: str, method: str, cell: atlas.Cell) -> None:
        self.cells[attribute, method] = cell
        table = self.query_one(DataTable)
        table.update_cell(attribute, method, self.shown(cell))
        coordinate = table.cursor_coordinate
        self.show_cell(coordinate.row, coordinate.column)

    def on_unmount(self) -> None:
        self.cancel.set()

    def action_close(self) -> None:
        self.cancel.set()
        self.dismiss(None)
