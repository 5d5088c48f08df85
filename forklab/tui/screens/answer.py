"""Answering a question: a value typed in, or one of the lesson's choices."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static


class AnswerScreen(ModalScreen[str | None]):
    """Gives back the text typed (or the choice picked), or None if cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        # the choices answer to ↑ ↓ while the text box has the focus, so no Tab is needed
        Binding("up", "move(-1)", "Previous choice", show=False),
        Binding("down", "move(1)", "Next choice", show=False),
    ]

    DEFAULT_CSS = """
    AnswerScreen { align: center middle; }
    AnswerScreen > Vertical {
        width: 90%; max-width: 76; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    AnswerScreen #question { width: 100%; margin-bottom: 1; text-style: bold; }
    AnswerScreen OptionList { height: auto; max-height: 8; margin-bottom: 1; }
    AnswerScreen #how { color: $text-muted; }
    """

    def __init__(self, question: str, choices: tuple[str, ...] = (), label: str = "Question"
                 ) -> None:
        super().__init__()
        self.question = question
        self.choices = choices
        self.label = label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"{self.label}: {self.question}", id="question")
            if self.choices:
                yield OptionList(*(f"  {c}" for c in self.choices), id="choices")
            yield Input(placeholder="a value: 0, 'hello', [0, 1, 2], {'SIGINT'}", id="answer")
            yield Static(("↑↓ choose, Enter picks, or type a value · " if self.choices
                          else "Enter answers · ") + "Esc cancels", id="how")

    def on_mount(self) -> None:
        if self.choices:  # nothing is picked until the learner picks: Enter alone answers nothing
            self.query_one(OptionList).highlighted = None
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """A value typed is the answer; with nothing typed, the highlighted choice is."""
        event.stop()
        if event.value.strip():
            self.dismiss(event.value)
        elif self.choices:
            chosen = self.query_one(OptionList).highlighted
            if chosen is not None:
                self.dismiss(self.choices[chosen])

    def action_move(self, delta: int) -> None:
        if not self.choices:
            return
        options = self.query_one(OptionList)
        if options.highlighted is None:
            options.highlighted = 0 if delta > 0 else len(self.choices) - 1
        else:
            options.highlighted = max(0, min(len(self.choices) - 1, options.highlighted + delta))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        """Mark the highlighted choice with ▸ as well: the highlight is not only a colour."""
        options = event.option_list
        for index, choice in enumerate(self.choices):
            mark = "▸ " if index == options.highlighted else "  "
            options.replace_option_prompt_at_index(index, f"{mark}{choice}")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
