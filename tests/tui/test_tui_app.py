"""The lesson player driven by Pilot at 80×24: every key, its effect and its message."""
from __future__ import annotations

import time
from typing import Any

import pytest
from scenario_text import scenario_text
from textual.message import Message
from textual.widgets import Input, OptionList, RichLog, TabbedContent
from tuikit import lesson_files, lying_kernel, model_kernel

from forklab.tui import messages as m
from forklab.tui.app import LessonNotFound, make_app
from forklab.tui.screens import (
    AnswerScreen,
    CatalogScreen,
    HelpScreen,
    LessonScreen,
    SandboxScreen,
)
from forklab.tui.widgets import LessonText, Panels, ProcessTree

SIZE = (80, 24)


class Seen:
    """Every message the app handled, to assert on what a key posted."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._ids: set[int] = set()

    def __call__(self, message: Message) -> None:
        # the hook sees a bubbling message at every node it reaches: count it once
        if id(message) not in self._ids:
            self._ids.add(id(message))
            self.messages.append(message)

    def of(self, kind: type) -> list[Any]:
        return [msg for msg in self.messages if isinstance(msg, kind)]



async def settle(pilot, app) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


# --- the catalog -------------------------------------------------------------------------


async def test_the_catalog_lists_every_lesson_with_a_mark_for_completed(app_factory, progress):
    progress.reached("cow", 4, 4)
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CatalogScreen)
        options = screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == ["big", "broken", "cow", "fd-leak", "fork-locks", "quiz"]
        assert "1 completed" in str(screen.query_one("#catalog-hint").render())


async def test_enter_opens_a_lesson_and_q_comes_back(app_factory):
    seen = Seen()
    app = app_factory()
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert [msg.lesson_id for msg in seen.of(m.LessonChosen)] == ["cow"]
        assert isinstance(app.screen, LessonScreen)
        assert app.screen.session.scenario.id == "cow"
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, CatalogScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value is None and not app.is_running


async def test_a_broken_lesson_says_why_and_does_not_open(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, CatalogScreen)
        assert any("unknown verb 'frok'" in n.message for n in app._notifications)


async def test_help_opens_and_closes_from_the_catalog(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CatalogScreen)


def test_an_unknown_lesson_is_refused_before_anything_runs(progress):
    with pytest.raises(LessonNotFound, match=r"no lesson 'nosuch'.*cow"):
        make_app("nosuch", lessons=lesson_files(), progress=progress)


# --- stepping ------------------------------------------------------------------------------


async def test_n_and_right_run_steps_p_and_left_travel_back(app_factory, progress):
    seen = Seen()
    app = app_factory("cow")
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LessonScreen)
        session = screen.session
        await pilot.press("n")
        await pilot.press("right")
        await pilot.pause()
        assert (session.position, session.executed) == (2, 2)
        shown = seen.of(m.StepShown)
        assert [(s.position, s.ran) for s in shown] == [(1, True), (2, True)]
        assert "Step 2 of 4" in screen.query_one(LessonText).markdown
        await pilot.press("p")
        await pilot.press("left")
        await pilot.pause()
        assert (session.position, session.executed) == (0, 2)
        assert [(s.position, s.ran) for s in seen.of(m.StepShown)][2:] == [(1, False),
                                                                           (0, False)]
        await pilot.press("p")
        await pilot.pause()
        assert seen.of(m.StepRefused)[-1].reason == "this is the start of the lesson"
        await pilot.press("n", "n", "n", "n", "n")
        await pilot.pause()
        assert session.position == 4 and session.finished
        assert seen.of(m.StepRefused)[-1].reason == "this is the last step"
        assert [s.ran for s in seen.of(m.StepShown)][-4:] == [False, False, True, True]
    assert progress.completed("cow")


async def test_the_panels_follow_time_travel(app_factory):
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "n")
        await pilot.pause()
        screen = app.screen
        tree = screen.query_one(ProcessTree)
        assert tree.names == ["parent", "child"]
        memory = str(screen.query_one("#address-space").render())
        assert "▇7 ▒4089" in memory
        await pilot.press("p", "p")
        await pilot.pause()
        assert tree.names == ["parent"]
        memory = str(screen.query_one("#address-space").render())
        assert "▇4096 ▒0" in memory


async def test_number_keys_choose_a_panel_and_z_zooms(app_factory):
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        panels = app.screen.query_one(Panels)
        tabs = app.screen.query_one(TabbedContent)
        for key, tab in zip("123456", ["processes", "memory", "files", "threads", "signals",
                                       "kernel"]):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab
        await pilot.press("z")
        await pilot.pause()
        assert app.screen.maximized is panels
        await pilot.press("z")
        await pilot.pause()
        assert app.screen.maximized is None


async def test_the_selection_follows_the_lesson_until_the_learner_picks(app_factory):
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "n")  # step 3: the child writes
        await pilot.pause()
        assert app.screen.selected == "child"
        await pilot.press("p")
        await pilot.pause()
        assert app.screen.selected == "parent"  # step 2: the parent forks
        await pilot.press("right_square_bracket", "n")
        await pilot.pause()
        assert app.screen.selected == "child" and app.screen.pinned


async def test_brackets_select_processes(app_factory):
    seen = Seen()
    app = app_factory("cow")
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.press("n", "n")
        await pilot.pause()
        screen = app.screen
        assert screen.selected == "parent"
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert screen.selected == "child"
        assert seen.of(m.ProcessSelected)[-1].name == "child"
        assert "▸ child" in str(screen.query_one("#address-space").render())
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert screen.selected == "parent"


async def test_choosing_a_process_in_the_tree_selects_it(app_factory):
    seen = Seen()
    app = app_factory("cow")
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.press("n", "n")
        await pilot.pause()
        tree = app.screen.query_one(ProcessTree)
        tree.focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert seen.of(m.ProcessSelected)[-1].name == "child"
        assert app.screen.selected == "child"


async def test_q_quits_a_lesson_opened_directly(app_factory):
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running


# --- the kernel ----------------------------------------------------------------------------


async def test_r_without_a_kernel_backend_says_why(app_factory):
    seen = Seen()
    app = app_factory("cow")
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.press("r")
        await pilot.pause()
        assert seen.of(m.StepRefused)[-1].reason == "nothing has run yet"
        await pilot.press("n", "r")
        await settle(pilot, app)
        (started,) = seen.of(m.KernelRunStarted)
        (checked,) = seen.of(m.KernelChecked)
        assert started.position == checked.position == 1
        assert not checked.check.ran
        assert "kernel backend is unavailable: not built" in checked.check.reason
        text = app.screen.query_one(LessonText).markdown
        assert "**On the kernel:** ? not run — the kernel backend is unavailable" in text


async def test_r_compares_every_observable_with_the_kernel(app_factory):
    seen = Seen()
    app = app_factory("cow", kernel=lying_kernel)
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.press("n", "n", "r")
        await settle(pilot, app)
        check = seen.of(m.KernelChecked)[-1].check
        assert check.ran and check.position == 2
        assert check.status("parent.faults") == "disagree"
        assert check.status("child.heap.shared_with(parent)") == "unavailable"
        assert check.status("stdout") == "agree"
        await pilot.press("6")
        await pilot.pause()
        kernel = str(app.screen.query_one("#kernel-panel").render())
        assert "✗ parent.faults  model 0, kernel 1" in kernel
        assert "? child.heap.shared_with(parent)" in kernel
        assert "✓ stdout" in kernel
        assert "kernel ✗" in str(app.screen.query_one("#status").render())
        assert "differ" in str(app.screen.query_one("#status").render())
        # going back shows step 1, which has not run on the kernel
        await pilot.press("p")
        await pilot.pause()
        assert "Press r" in str(app.screen.query_one("#kernel-panel").render())


async def test_r_with_an_agreeing_kernel_marks_the_expectations(app_factory):
    app = app_factory("cow", kernel=model_kernel)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "n", "r")
        await settle(pilot, app)
        text = app.screen.query_one(LessonText).markdown
        assert "· kernel ✓" in text and "✗ 0 disagree" in text
        assert "kernel ✓ agrees" in str(app.screen.query_one("#status").render())


# --- questions -----------------------------------------------------------------------------


async def test_a_answers_the_question(app_factory, progress):
    seen = Seen()
    app = app_factory("cow")
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.press("n", "n", "a")
        await pilot.pause()
        assert isinstance(app.screen, AnswerScreen)
        await pilot.press("5", "enter")
        await pilot.pause()
        assert isinstance(app.screen, LessonScreen)
        judged = seen.of(m.AnswerJudged)
        assert [(j.step, j.question, j.text, j.right) for j in judged] == [(2, 0, "5", False)]
        await pilot.press("a", "0", "enter")
        await pilot.pause()
        assert seen.of(m.AnswerJudged)[-1].right
        assert "✓ You answered `0`: right." in app.screen.query_one(LessonText).markdown
    assert progress.of("cow").answers == {"2.1": True}


async def test_escape_cancels_an_answer_and_nonsense_is_refused(app_factory):
    seen = Seen()
    app = app_factory("cow")
    async with app.run_test(size=SIZE, message_hook=seen, notifications=True) as pilot:
        await pilot.press("n", "n", "a")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LessonScreen) and not seen.of(m.AnswerJudged)
        await pilot.press("a", "left_curly_bracket", "enter")
        await pilot.pause()
        assert not seen.of(m.AnswerJudged)
        assert any("is not a value" in n.message for n in app._notifications)


async def test_choices_can_be_picked(app_factory):
    seen = Seen()
    app = app_factory("quiz")
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.press("n", "a")
        await pilot.pause()
        await pilot.press(*"{SIGINT}", "enter")  # question 1: typed
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AnswerScreen) and screen.choices
        assert screen.query_one(Input).has_focus  # ↑ ↓ reach the choices from the box
        await pilot.press("down", "down", "up", "down", "enter")  # question 2: the second
        await pilot.pause()
        assert [(j.question, j.text, j.right) for j in seen.of(m.AnswerJudged)] == [
            (0, "{SIGINT}", True), (1, "[0, 1, 2, 3, 4]", True)]


async def test_enter_alone_picks_no_choice(app_factory):
    """Nothing is chosen until the learner chooses: a stray Enter answers nothing."""
    seen = Seen()
    app = app_factory("quiz")
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.press("n", "a")
        await pilot.pause()
        await pilot.press(*"{SIGINT}", "enter")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AnswerScreen)
        assert len(seen.of(m.AnswerJudged)) == 1
        assert "▸" not in str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)


async def test_h_shows_the_hint(app_factory, progress):
    seen = Seen()
    app = app_factory("cow")
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.press("h")
        await pilot.pause()
        assert not seen.of(m.HintShown)  # nothing asked yet
        await pilot.press("n", "n", "h")
        await pilot.pause()
        (hint,) = seen.of(m.HintShown)
        assert (hint.step, hint.question, hint.hint) == (2, 0, "Nobody has written since the fork.")
        assert "> Hint: Nobody has written" in app.screen.query_one(LessonText).markdown
    assert progress.of("cow").hints == ["2.1"]


async def test_a_on_a_step_without_a_question(app_factory):
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "a")
        await pilot.pause()
        assert isinstance(app.screen, LessonScreen)
        assert app.screen.last_notice == "This step asks nothing"


# --- the sandbox and help -------------------------------------------------------------------


async def test_the_sandbox_runs_lines_against_a_copy(app_factory):
    seen = Seen()
    app = app_factory("cow")
    async with app.run_test(size=SIZE, message_hook=seen) as pilot:
        await pilot.press("n", "n", "s")
        await pilot.pause()
        assert seen.of(m.SandboxOpened)[-1].position == 2
        screen = app.screen
        assert isinstance(screen, SandboxScreen)
        line = screen.query_one(Input)
        line.value = "child: write heap[0:3p]"
        await pilot.press("enter")
        await pilot.pause()
        ran = seen.of(m.SandboxRan)[-1]
        assert ran.ok and ran.text == "child: write heap[0:3p]"
        assert screen.sandbox.world.processes["child"].mappings["heap"].exclusive == 3
        await pilot.press(*"parent: frok", "enter")  # typed, key by key
        await pilot.pause()
        bad = seen.of(m.SandboxRan)[-1]
        assert not bad.ok and bad.col == 9 and "unknown verb 'frok'" in bad.message
        log = "\n".join(str(line.text) for line in screen.query_one(RichLog).lines)
        assert "^ column 9: unknown verb 'frok'" in log
        assert screen.query_one(Input).value == ""
        await pilot.press("up")
        assert screen.query_one(Input).value == "parent: frok"
        await pilot.press("f2")
        await pilot.pause()
        assert screen.query_one(TabbedContent).active == "memory"
        await pilot.press("escape")
        await pilot.pause()
        lesson = app.screen
        assert isinstance(lesson, LessonScreen)
        heap = lesson.session.world.processes["child"].mappings["heap"]
        assert heap.exclusive == 0  # the lesson never saw the sandbox's writes


async def test_the_sandbox_lists_the_names_a_line_binds(app_factory):
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "s")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SandboxScreen)
        await pilot.press(*"parent: fork -> c2", "enter")
        await pilot.pause()
        log = [str(line.text) for line in screen.query_one(RichLog).lines]
        first = next(text for text in log if "names bound so far" in text)
        assert "c2" not in first
        assert any(text.startswith("names bound now:") and "c2" in text for text in log)


async def test_question_mark_shows_help(app_factory):
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "run the steps so far on the real kernel" in text
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, LessonScreen)


# --- big and whole ------------------------------------------------------------------------


async def test_a_lesson_with_64_gib_mapped_stays_responsive(app_factory):
    app = app_factory("big")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        await pilot.press("n", "n", "n", "2")
        await pilot.pause()
        await pilot.press("p", "n")
        await pilot.pause()
        # about 3.5 s on a loaded 2-core machine; a cost per page (16 Mi pages a step)
        # would take minutes, so the bound leaves room for load, not for a regression
        assert time.perf_counter() - start < 15
        memory = str(app.screen.query_one("#address-space").render())
        assert "64 GiB" in memory and "1 cell = 524288 pages (2 GiB)" in memory
        await pilot.press("r")
        await settle(pilot, app)
        assert "simulator-only" in app.screen.session.kernel[3].reason


async def test_a_lesson_of_the_real_catalog_plays_to_its_end(progress):
    # (every catalog lesson runs to its end on the session: test_tui_state.py)
    from forklab import lessons

    app = make_app("fork-locks", lessons=lessons.catalog(), progress=progress,
                   kernel=lambda _cancel: (None, "off"))
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        session = app.screen.session
        for _ in range(session.total):
            await pilot.press("n")
        await pilot.pause()
        assert session.finished
        await pilot.press("p", "p", "p", "4")  # step 3: the child blocks
        await pilot.pause()
        threads = str(app.screen.query_one("#threads-panel").render())
        assert "✗ child waits forever (a dead end)" in threads
    assert progress.completed("fork-locks")


async def test_a_lesson_file_opens_directly_and_ctrl_q_quits(app_factory, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(scenario_text("parent: fork -> child", sid="mine", title="Mine"),
                    encoding="utf-8")
    app = app_factory(str(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.session.scenario.id == "mine"
        await pilot.press("n", "ctrl+q")
        await pilot.pause()
    assert not app.is_running


async def test_quitting_stops_a_kernel_run_at_once(progress):
    """A kernel run still going when the player quits is told to stop (its runs
    check the event between settles), so quitting does not wait for it."""
    import threading
    import time

    from forklab import lessons

    started, stopped = threading.Event(), threading.Event()

    class SlowKernel:
        name = "real"

        def __init__(self, cancel: threading.Event) -> None:
            self.cancel = cancel

        def start(self, scenario):
            started.set()
            if self.cancel.wait(30):  # as a real run would, at its next check
                stopped.set()
            raise RuntimeError("cancelled")

    app = make_app("cow", lessons=lessons.catalog(), progress=progress,
                   kernel=lambda cancel: (SlowKernel(cancel), ""))
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "r")
        for _ in range(100):
            if started.is_set():
                break
            await pilot.pause(0.02)
        assert started.is_set()
        begun = time.monotonic()
        await pilot.press("q")
    assert stopped.wait(5) and time.monotonic() - begun < 5
