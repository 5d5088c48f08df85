"""Every key, and what each symbol means."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("n  →", "next step: runs it on the model"),
    ("p  ←", "previous step: the panels show the model as it was then"),
    ("r", "run the steps so far on the real kernel and compare"),
    ("a", "answer the step's question"),
    ("h", "show the question's hint"),
    ("s", "sandbox: type script lines against a copy of this step"),
    ("o", "at the end of a lesson: open the next one on the path"),
    ("1-6", "panels: processes memory files threads signals kernel"),
    ("[  ]", "select the previous / next process (▸)"),
    ("z", "zoom the panels to the whole screen (again: back)"),
    ("↑ ↓", "scroll the lesson text (PgUp PgDn too)"),
    ("?", "this help"),
    ("q", "back to the catalog (or quit); Ctrl+Q quits anywhere"),
)
ELSEWHERE = (
    ("catalog", "in the order to take them · → next · ↑ ↓ choose · Enter opens · "
                "i the inheritance atlas · q quits"),
    ("atlas", "arrows choose a cell: its scenario and both backends' outcome · q back"),
    ("sandbox", ("Enter runs a line · = EXPR evaluates · ↑ ↓ recall · F1-F5 panels · "
                 "Esc back")),
    ("answer", "type a value (3, 'text', [0, 1], {'SIGINT'}) or ↑ ↓ a choice · Enter · "
               "Esc cancels"),
)
SYMBOLS = (
    ("✓ ✗ ?", "expectation held / failed / unknown; kernel: agree / disagree / unavailable"),
    ("held back", "an expectation that would give an unanswered question away"),
    ("▶ ‖ ■ ◌ ·", "process running / suspended (vfork) / blocked / zombie / reaped"),
    ("▇ ▒ · ␣", "page exclusive / shared frame / zero page / not present (blank)"),
    ("⊘", "close-on-exec fd"),
    ("▸", "the selected process, listed first: who acted last, until you pick one"),
)


def help_text() -> Text:
    out = Text()
    for title, rows in (("Keys in a lesson", KEYS), ("Elsewhere", ELSEWHERE),
                        ("Symbols", SYMBOLS)):
        out.append(f"{title}\n", style="bold underline")
        width = max(len(key) for key, _ in rows)
        for key, what in rows:
            out.append(f"  {key.ljust(width)}  ", style="bold cyan")
            out.append(f"{what}\n")
        out.append("\n")
    out.append("An address-space bar has a fixed number of cells; a cell holding pages in "
               "several states shows the most telling one: exclusive, then shared, then "
               "zero.\n\n", style="dim")
    out.append("Esc, q or ? closes this.", style="dim")
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100%; max-width: 96; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
