"""The catalog: every lesson in the order of the path, with its id, title, summary, tags
and what it builds on; ✓ once completed, → on the lesson to take next."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from forklab import lessons
from forklab.tui.messages import LessonChosen
from forklab.tui.progress import Progress
from forklab.tui.state import CatalogEntry
from forklab.tui.views import FAIL, OK, shorten

NEXT = "→"


def entry_text(entry: CatalogEntry, progress: Progress, highlighted: bool = False,
               upcoming: bool = False) -> Table:
    """Two columns, so a wrapped summary keeps its indent: ▸ and ✓ (or → for the lesson
    to take next), then the lesson."""
    done = entry.scenario is not None and progress.completed(entry.id)
    mark = Text("▸" if highlighted else " ", style="bold")
    if entry.scenario is None:
        mark.append(FAIL, style="red bold")
    elif upcoming:
        mark.append(NEXT, style="yellow bold")
    else:
        mark.append(OK if done else " ", style="green bold")
    body = Text()
    body.append(entry.id, style="bold")
    body.append(f"  {entry.title}")
    mine = progress.of(entry.id)
    if entry.scenario is not None and not done and mine.at:
        body.append(f"  (at step {mine.at}/{len(entry.scenario.steps)})", style="cyan")
    if upcoming:
        body.append("  next", style="yellow bold")
    body.append("\n")
    body.append(shorten(entry.summary, 200), style="red" if entry.scenario is None else "dim")
    if entry.tags:
        body.append("  " + " ".join(f"#{tag}" for tag in entry.tags), style="cyan")
    if entry.scenario is not None and not entry.scenario.real:
        body.append("  (simulator only)", style="magenta")
    if entry.scenario is not None and entry.scenario.builds_on:
        body.append(f"  · builds on {', '.join(entry.scenario.builds_on)}", style="dim")
    grid = Table.grid(expand=True)
    grid.add_column(width=3, no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(mark, body)
    return grid


class CatalogScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("i", "atlas", "Inheritance atlas"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    DEFAULT_CSS = """
    CatalogScreen #catalog-title { height: 1; }
    CatalogScreen #catalog-hint { height: 1; color: $text-muted; padding: 0 1; }
    CatalogScreen OptionList, CatalogScreen OptionList:focus { height: 1fr; border: none; }
    CatalogScreen OptionList > .option-list--option { padding: 0 1; }
    """

    def __init__(self, entries: list[CatalogEntry], progress: Progress) -> None:
        super().__init__()
        self.entries = entries
        self.progress = progress

    def compose(self) -> ComposeResult:
        title = Text()
        title.append(" forklab ", style="bold reverse")
        title.append("  how Unix processes are made: lessons", style="bold")
        yield Static(title, id="catalog-title")
        yield Static(self.hint_text(), id="catalog-hint")
        yield OptionList(id="lessons")
        yield Footer()

    def hint_text(self) -> str:
        done = sum(1 for e in self.entries if e.scenario and self.progress.completed(e.id))
        return (f"{len(self.entries)} lessons, {done} completed {OK} · "
                "↑↓ choose · Enter opens · i atlas · q quits")

    def upcoming(self) -> str | None:
        """The lesson to take next: the first on the path not completed."""
        return lessons.next_lesson([e.id for e in self.entries if e.scenario is not None],
                                   self.progress.completed)

    def render_entry(self, entry: CatalogEntry, highlighted: bool) -> Table:
        return entry_text(entry, self.progress, highlighted, entry.id == self.upcoming())

    def on_mount(self) -> None:
        self.fill()
        self.query_one(OptionList).focus()

    def fill(self) -> None:
        options = self.query_one(OptionList)
        for entry in self.entries:
            options.add_option(Option(self.render_entry(entry, False), id=entry.id))
            options.add_option(None)
        self.highlight_next()

    def highlight_next(self) -> None:
        """Put the choice on the lesson to take next (else the first)."""
        options = self.query_one(OptionList)
        upcoming = self.upcoming()
        if upcoming is not None:
            options.highlighted = options.get_option_index(upcoming)
        elif self.entries:
            options.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        """Mark the highlighted lesson with ▸ too: the highlight is not only a colour."""
        options = self.query_one(OptionList)
        for entry in self.entries:
            try:
                options.replace_option_prompt(
                    entry.id, self.render_entry(entry, entry.id == event.option.id))
            except OptionDoesNotExist:  # not added yet: the list is being filled
                continue

    def on_screen_resume(self) -> None:
        """Back from a lesson: redraw the marks in place; a lesson just completed moves
        the choice on to the next one, otherwise the list stays where it was."""
        options = self.query_one(OptionList)
        current = options.highlighted
        chosen = options.get_option_at_index(current).id if current is not None else None
        for entry in self.entries:
            options.replace_option_prompt(entry.id, self.render_entry(entry, entry.id == chosen))
        self.query_one("#catalog-hint", Static).update(self.hint_text())
        if chosen is not None and self.progress.completed(chosen):
            self.highlight_next()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(LessonChosen(event.option.id))

    def action_open(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            option = options.get_option_at_index(options.highlighted)
            if option.id is not None:
                self.post_message(LessonChosen(option.id))

    def action_atlas(self) -> None:
        from forklab.tui.app import ForklabApp
        from forklab.tui.screens.atlas import AtlasScreen

        app = self.app
        assert isinstance(app, ForklabApp)
        app.push_screen(AtlasScreen(app.kernel_factory, app.calibrated.coefficients))

    def action_help(self) -> None:
        from forklab.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_quit(self) -> None:
        self.app.exit()
