"""A lesson: its text above (or beside) the model's panels, stepped with the keyboard.

Every key is an action here; the action changes the :class:`LessonSession`
(plain data), posts a message saying what came of it, and redraws. Running
on the kernel happens in a worker thread, so the lesson stays responsive.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer, Static

from forklab.questions import answer_keys
from forklab.runner import StepResult
from forklab.tui.messages import (
    AnswerJudged,
    HintShown,
    KernelChecked,
    KernelRunStarted,
    LessonChosen,
    ProcessSelected,
    SandboxOpened,
    StepRefused,
    StepShown,
)
from forklab.tui.progress import Progress
from forklab.tui.state import (
    CatalogEntry,
    KernelCheck,
    KernelFactory,
    LessonSession,
    check_on_kernel,
)
from forklab.tui.views import FAIL, OK, UNKNOWN, lesson_markdown, panels, process_order
from forklab.tui.widgets import LessonText, Panels
from forklab.tui.widgets.panels import TABS


def status_line(session: LessonSession) -> Text:
    """The top line: lesson, step, how the step's expectations went."""
    text = Text()
    text.append(" forklab ", style="bold reverse")
    text.append(f" {session.scenario.id} ", style="bold")
    total = session.total
    text.append(f" step {session.position}/{total} ")
    dots = "".join("■" if i < session.position else "□" for i in range(total))
    text.append(dots if total <= 24 else "", style="cyan")
    result = session.frame.result
    if session.frame.error is not None:
        text.append(f"  {FAIL} model refused a line", style="red bold")
    elif result is not None and result.expectations:
        held = sum(j.ok is True for j in result.expectations)
        failed = sum(j.ok is False for j in result.expectations)
        mark, style = (OK, "green") if not failed else (FAIL, "red bold")
        text.append(f"  {mark} {held}/{len(result.expectations)} expected", style=style)
    check = session.kernel.get(session.position)
    if session.position in session.kernel_pending:
        text.append("  kernel: running…", style="yellow")
    elif check is not None:
        # whether the kernel agrees with the model (the lesson text's "· kernel ✓" says
        # whether an expectation held there)
        if not check.ran:
            text.append(f"  kernel {UNKNOWN} not run", style="yellow")
        elif check.count("disagree"):
            text.append(f"  kernel {FAIL} {check.count('disagree')} differ", style="red bold")
        else:
            text.append(f"  kernel {OK} agrees", style="green")
    return text


class LessonScreen(Screen[None]):
    BINDINGS = [
        Binding("n", "next", "Next"),
        Binding("right", "next", "Next", show=False, priority=True),
        Binding("p", "previous", "Prev"),
        Binding("left", "previous", "Prev", show=False, priority=True),
        Binding("r", "kernel", "Kernel"),
        Binding("a", "answer", "Answer"),
        Binding("h", "hint", "Hint"),
        Binding("s", "sandbox", "Sandbox"),
        Binding("o", "open_next", "Onward"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "leave", "Quit"),
        Binding("left_square_bracket", "select(-1)", "Prev process", show=False),
        Binding("right_square_bracket", "select(1)", "Next process", show=False),
        Binding("z", "zoom", "Zoom panels", show=False),
        *[Binding(str(i), f"tab('{key}')", title, show=False)
          for i, (key, title) in enumerate(TABS, 1)],
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, session: LessonSession, progress: Progress, kernel: KernelFactory, *,
                 from_catalog: bool,
                 next_lesson: Callable[[str], CatalogEntry | None] = lambda _: None) -> None:
        """next_lesson: the lesson to offer once this one (by id) is complete."""
        super().__init__()
        self.next_lesson = next_lesson
        self.session = session
        self.progress = progress
        self.kernel_factory = kernel
        self.kernel_cancel = threading.Event()  # set when the screen goes: runs stop at once
        self.from_catalog = from_catalog
        self.selected: str | None = session.scenario.first
        self.pinned = False  # True once the learner picks a process: it stays picked
        self.last_notice = ""

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Container(id="body"):
            yield LessonText(self.markdown(), id="lesson-text")
            yield Panels(id="panels")
        yield Footer()

    def on_unmount(self) -> None:
        """Quitting does not wait for a kernel run: it stops within milliseconds."""
        self.kernel_cancel.set()

    async def on_mount(self) -> None:
        await self.redraw()
        self.query_one(LessonText).focus()

    # -- drawing --

    async def redraw(self, *, to_top: bool = True) -> None:
        session = self.session
        step = session.step
        if not self.pinned and step is not None and step.ops:
            # follow the step: whoever acted last comes first, until the learner picks
            self.selected = step.ops[-1].actor.process
        if self.selected not in session.world.processes:
            self.selected = next(iter(process_order(session.world)), None)
        self.query_one("#status", Static).update(status_line(session))
        await self.query_one(LessonText).show(self.markdown(), to_top=to_top)
        self.draw_panels()
        self.refresh_bindings()

    def upcoming(self) -> CatalogEntry | None:
        """The lesson to offer next, once this one is complete."""
        return self.next_lesson(self.session.scenario.id) if self.session.finished else None

    def markdown(self) -> str:
        upcoming = self.upcoming()
        return lesson_markdown(self.session, (upcoming.id, upcoming.title) if upcoming else None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """o is offered (and shown) only when the lesson is complete and another waits."""
        if action == "open_next":
            return self.upcoming() is not None
        return True

    def draw_panels(self) -> None:
        session = self.session
        view = panels(session.world, self.selected)
        self.selected = view.selected
        panel = self.query_one(Panels)
        panel.show(view)
        result = session.frame.result
        hidden = (answer_keys(session.step, session.unanswered(), result.answers)
                  if session.step is not None and result is not None else frozenset())
        panel.show_kernel(session.kernel.get(session.position),
                          session.position in session.kernel_pending, session.position, hidden)

    def notice(self, message: str, *, severity: str = "information") -> None:
        self.last_notice = message
        self.notify(message, severity=severity, timeout=4)  # type: ignore[arg-type]

    # -- moving through the lesson --

    async def action_next(self) -> None:
        session = self.session
        ran = session.position == session.executed
        refused = session.forward()
        if refused is not None:
            self.post_message(StepRefused(refused))
            self.notice(refused + (": q goes back" if session.finished else ""))
            return
        self.progress.reached(session.scenario.id, session.position, session.total)
        self.post_message(StepShown(session.position, session.total, ran))
        await self.redraw()
        if session.frame.error is not None:
            self.notice(f"{FAIL} the model refused a line of this step", severity="error")
        elif session.finished:
            self.notice(f"{OK} Lesson complete")

    async def action_previous(self) -> None:
        session = self.session
        refused = session.back()
        if refused is not None:
            self.post_message(StepRefused(refused))
            self.notice(refused)
            return
        self.progress.reached(session.scenario.id, session.position, session.total)
        self.post_message(StepShown(self.session.position, self.session.total, False))
        await self.redraw()

    # -- the kernel --

    def action_kernel(self) -> None:
        session = self.session
        position = session.position
        result = session.frame.result
        if position == 0 or result is None:
            self.post_message(StepRefused("nothing has run yet"))
            self.notice("Nothing has run yet: n runs step 1, then r runs it on the kernel")
            return
        if session.frame.error is not None:
            self.post_message(StepRefused("the model refused this step"))
            self.notice("The model refused this step, so there is nothing to compare")
            return
        if position in session.kernel_pending:
            self.notice("Already running on the kernel…")
            return
        session.kernel_pending.add(position)
        self.post_message(KernelRunStarted(position))
        self.query_one("#status", Static).update(status_line(session))
        self.draw_panels()
        self.call_later(self._redraw_text)
        self.run_on_kernel(position, result)

    async def _redraw_text(self) -> None:
        await self.query_one(LessonText).show(self.markdown(), to_top=False)

    @work(thread=True, exclusive=False, group="kernel", exit_on_error=False)
    def run_on_kernel(self, position: int, result: StepResult) -> None:
        check = check_on_kernel(self.session.scenario, result, self.kernel_factory,
                                self.kernel_cancel, self.session.calibrated.tolerance)
        try:
            # (mypy cannot solve call_from_thread's return type for a coroutine
            # function whose result is not used)
            self.app.call_from_thread(self.kernel_done, check)  # type: ignore[arg-type]
        except RuntimeError:  # the app ended while the kernel ran: nobody to tell
            pass

    async def kernel_done(self, check: KernelCheck) -> None:
        self.session.record_kernel(check)
        self.post_message(KernelChecked(check.position, check))
        if not check.ran:
            self.notice(f"{UNKNOWN} {check.reason}", severity="warning")
        else:
            self.notice(f"kernel, step {check.position}: {OK} {check.count('agree')} agree · "
                        f"{FAIL} {check.count('disagree')} disagree · "
                        f"{UNKNOWN} {check.count('unavailable')} unavailable",
                        severity="error" if check.count("disagree") else "information")
        if check.position == self.session.position:
            await self.redraw(to_top=False)

    # -- questions --

    def action_answer(self) -> None:
        from forklab.tui.screens.answer import AnswerScreen

        session = self.session
        index = session.current_question()
        if index is None or session.step is None:
            self.notice("This step asks nothing")
            return
        question = session.questions[index]
        label = "Question" if len(session.questions) == 1 else f"Question {index + 1}"
        self.app.push_screen(AnswerScreen(question.q, question.choices, label),
                             partial(self.answered, session.step.index, index))

    async def answered(self, step: int, index: int, text: str | None) -> None:
        session = self.session
        if text is None or session.step is None or session.step.index != step:
            return
        try:
            answer = session.answer(index, text)
        except ValueError as err:
            self.notice(f"{FAIL} {err}", severity="warning")
            return
        self.progress.answered(session.scenario.id, step, index, text, answer.right,
                               revealed=(step, index) in session.revealed)
        self.post_message(AnswerJudged(step, index, text, answer.right))
        if answer.right:
            self.notice(f"{OK} Right: {text}")
        else:
            self.notice(f"{FAIL} Not {text}" + ("" if answer.attempts >= 2
                                                  else ": try again, or h for a hint"),
                        severity="warning")
        await self.redraw(to_top=False)

    async def action_hint(self) -> None:
        session = self.session
        index = session.current_question()
        if index is None or session.step is None:
            self.notice("This step asks nothing, so there is no hint")
            return
        hint = session.hint(index)
        self.progress.hinted(session.scenario.id, session.step.index, index)
        self.post_message(HintShown(session.step.index, index, hint))
        self.notice(f"Hint: {hint}" if hint else "No hint for this question")
        await self.redraw(to_top=False)

    # -- the rest --

    def action_sandbox(self) -> None:
        from forklab.tui.screens.sandbox import SandboxScreen

        if self.session.frame.error is not None:
            self.notice("The model refused this step; step back (p) to use the sandbox")
            return
        self.post_message(SandboxOpened(self.session.position))
        self.app.push_screen(SandboxScreen(self.session.sandbox(), self.session.scenario.id))

    def action_help(self) -> None:
        from forklab.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_open_next(self) -> None:
        upcoming = self.upcoming()
        if upcoming is None:
            return
        self.app.pop_screen()
        self.app.post_message(LessonChosen(upcoming.id, from_catalog=self.from_catalog))

    def action_leave(self) -> None:
        if self.from_catalog:
            self.dismiss(None)
        else:
            self.app.exit()

    def action_select(self, delta: int) -> None:
        order = process_order(self.session.world)
        if not order:
            return
        current = order.index(self.selected) if self.selected in order else 0
        self.post_message(ProcessSelected(order[(current + delta) % len(order)]))

    def on_process_selected(self, message: ProcessSelected) -> None:
        if message.name in self.session.world.processes:
            self.selected = message.name
            self.pinned = True
            self.draw_panels()

    def action_tab(self, key: str) -> None:
        self.query_one(Panels).activate(key)

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            self.maximize(self.query_one(Panels), container=False)
