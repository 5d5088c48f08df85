"""The model's state after a step, in tabs: processes, memory, files, threads, signals, kernel."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane, Tabs

from forklab.tui.state import KernelCheck
from forklab.tui.views import PanelsView
from forklab.tui.widgets.address_space import AddressSpace
from forklab.tui.widgets.fd_table import FdTablePanel
from forklab.tui.widgets.kernel import KernelPanel
from forklab.tui.widgets.process_tree import ProcessTree
from forklab.tui.widgets.signals import SignalsPanel
from forklab.tui.widgets.threads import ThreadsPanel

TABS = (("processes", "1 Procs"), ("memory", "2 Memory"), ("files", "3 Files"),
        ("threads", "4 Threads"), ("signals", "5 Signals"), ("kernel", "6 Kernel"))


def stdout_text(stdout: str) -> Text:
    text = Text("stdout so far: ", style="bold")
    text.append(repr(stdout) if stdout else "nothing yet", style="" if stdout else "dim")
    return text


class Panels(Vertical):
    """Every panel, one tab each; ``show`` draws a :class:`PanelsView`."""

    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    Panels { height: 1fr; }
    Panels TabbedContent { height: 1fr; }
    Panels TabPane { padding: 0; height: 1fr; }
    Panels VerticalScroll { height: 1fr; padding: 0 1; }
    Panels #stdout { margin-top: 1; }
    """

    def __init__(self, *, kernel: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.with_kernel = kernel

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            for key, title in TABS:
                if key == "kernel" and not self.with_kernel:
                    continue
                with TabPane(title, id=key), VerticalScroll(id=f"{key}-scroll"):
                    if key == "processes":
                        yield ProcessTree(id="process-tree")
                        yield Static(id="stdout")
                    elif key == "memory":
                        yield AddressSpace(id="address-space")
                    elif key == "files":
                        yield FdTablePanel(id="fd-table")
                    elif key == "threads":
                        yield ThreadsPanel(id="threads-panel")
                    elif key == "signals":
                        yield SignalsPanel(id="signals-panel")
                    else:
                        yield KernelPanel(id="kernel-panel")

    def on_mount(self) -> None:
        # Arrow keys step the lesson; tabs are chosen with the number keys or the mouse.
        self.query_one(Tabs).can_focus = False

    @property
    def active(self) -> str:
        return self.query_one(TabbedContent).active

    def activate(self, key: str) -> bool:
        tabs = self.query_one(TabbedContent)
        if key == "kernel" and not self.with_kernel:
            return False
        tabs.active = key
        return True

    def show(self, view: PanelsView) -> None:
        self.query_one(ProcessTree).show(view.processes, view.selected)
        self.query_one("#stdout", Static).update(stdout_text(view.stdout))
        self.query_one(AddressSpace).show(view.memory, view.mappings, view.selected)
        self.query_one(FdTablePanel).show(view.files, view.selected)
        self.query_one(ThreadsPanel).show(view.threads, view.selected)
        self.query_one(SignalsPanel).show(view.signals, view.selected)

    def show_kernel(self, check: KernelCheck | None, running: bool, position: int,
                    hidden: frozenset[str] = frozenset()) -> None:
        """hidden: observables an unanswered question reads, held back from the list."""
        if self.with_kernel:
            self.query_one(KernelPanel).show(check, running, position, hidden)
