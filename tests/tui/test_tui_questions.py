"""Pilot at 80×24: questions that test, the catalog's order, progress that resumes.

Whether the screen shows an answer is judged by what the model read to compute
it (``Judged.touched``), not by the rule the player uses to hold things back.
"""
from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from textual.widgets import Input, OptionList
from tuikit import model_kernel

from forklab import lessons
from forklab.runner import Judged
from forklab.tui import messages as m
from forklab.tui.app import make_app
from forklab.tui.screens import AnswerScreen, CatalogScreen, LessonScreen
from forklab.tui.state import show_value
from forklab.tui.widgets import LessonText

SIZE = (80, 24)
CATALOG = lessons.catalog()


def read_by(answer: Judged) -> set[str]:
    """The observables the answer read, less those read on the way (a mapping's
    ``mapped`` flag; the fd list an fd's own observable checks first)."""
    return {key for key in answer.touched if not key.endswith(".mapped")
            and not (key.endswith(".fds") and ".fds" not in answer.text)}


def mentions(text: str, key: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(key)}(?![\w(])", text) is not None


def listed(markdown: str) -> list[str]:
    """The lesson text's list items: expectations, and the kernel's disagreements
    (the narrative may well name an observable: ``stdout``)."""
    return [line for line in markdown.splitlines() if line.startswith("- ")]


async def settle(pilot, app) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def catalog_app(progress, lesson=None, kernel=model_kernel):
    app = make_app(lesson, lessons=CATALOG, progress=progress, kernel=kernel)
    app.animation_level = "none"
    return app


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
async def test_no_answer_is_on_screen_before_the_learner_answers(path, progress):
    """Every question of the catalog: the lesson text shows neither the answer's
    expression nor an expectation that reads what the answer reads, until it is
    answered; then the expectations held back are shown."""
    app = catalog_app(progress, path.stem)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        session = screen.session
        for _ in range(session.total):
            await pilot.press("n")
            await pilot.pause()
            step = session.step
            if not step.ask:
                continue
            text = screen.query_one(LessonText).markdown
            for question, answer in zip(step.ask, session.frame.result.answers):
                assert question.answer.text not in text, question.q
                for key in read_by(answer):
                    assert not any(mentions(line, key) for line in listed(text)), \
                        (question.q, key)
            for index in range(len(step.ask)):
                await pilot.press("a")
                await pilot.pause()
                assert isinstance(app.screen, AnswerScreen)
                app.screen.query_one(Input).value = show_value(session.expected(index))
                await pilot.press("enter")
                await pilot.pause()
            assert session.unanswered() == []
            text = screen.query_one(LessonText).markdown
            assert "held back" not in text
            assert all(e.text in text for e in step.expect)


async def test_the_kernel_panel_holds_the_answer_back_too(app_factory):
    app = app_factory("cow", kernel=model_kernel)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "r")
        await settle(pilot, app)
        screen = app.screen
        kernel = str(screen.query_one("#kernel-panel").render())
        answer_lines = [line for line in kernel.splitlines()
                        if mentions(line, "child.heap.exclusive")]
        assert answer_lines == ["✓ child.heap.exclusive  held back until you answer"]
        assert "child.heap.exclusive" not in "\n".join(listed(
            screen.query_one(LessonText).markdown))
        await pilot.press("a", "0", "enter")
        await pilot.pause()
        kernel = str(screen.query_one("#kernel-panel").render())
        assert "held back" not in kernel and "✓ child.heap.exclusive  0" in kernel


async def test_the_catalog_is_listed_in_the_order_of_its_path(progress):
    scenarios = {e.id: e for e in make_app(lessons=CATALOG, progress=progress).entries}
    app = catalog_app(progress)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CatalogScreen)
        options = screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        ids = [i for i in ids if i is not None]
        assert ids[0] == "fork-basics" and ids[-1] == "alternatives"
        for lesson_id in ids:  # everything a lesson builds on comes before it
            before = set(ids[:ids.index(lesson_id)])
            assert set(scenarios[lesson_id].scenario.builds_on) <= before, lesson_id
        assert options.get_option_at_index(options.highlighted).id == "fork-basics"
        console = Console(width=80, record=True, file=io.StringIO())
        console.print(options.get_option_at_index(options.highlighted).prompt)
        assert console.export_text().startswith("▸→ fork-basics")


async def test_the_catalog_starts_on_the_next_lesson_and_a_lesson_offers_it(progress):
    seen = []
    app = catalog_app(progress, kernel=lambda _cancel: (None, "off"))
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # fork-basics, the first lesson
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LessonScreen)
        assert screen.session.scenario.id == "fork-basics"
        for _ in range(screen.session.total):
            await pilot.press("n")
        await pilot.pause()
        text = screen.query_one(LessonText).markdown
        assert "**Next lesson:** Copy-on-write: what fork really copies (`cow`)" in text
        await pilot.press("q")
        await pilot.pause()
        catalog = app.screen
        assert isinstance(catalog, CatalogScreen)
        options = catalog.query_one(OptionList)
        assert options.get_option_at_index(options.highlighted).id == "cow"
        await pilot.press("enter", "o")  # o does nothing before the lesson ends
        await pilot.pause()
        assert app.screen.session.scenario.id == "cow"
        for _ in range(app.screen.session.total):
            await pilot.press("n")
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, LessonScreen)
        assert app.screen.session.scenario.id == "exec-survives"
        await pilot.press("q")  # back to the catalog, as cow was opened from it
        await pilot.pause()
        assert isinstance(app.screen, CatalogScreen)
    assert progress.completed("fork-basics") and progress.completed("cow")
    assert [msg.lesson_id for msg in seen if isinstance(msg, m.LessonChosen)][-1] == \
        "exec-survives"


async def test_progress_resumes_where_the_learner_left(app_factory, progress):
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "n", "p", "a", "0", "enter")  # answer at step 2, leave
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert progress.of("cow").at == 2 and progress.of("cow").furthest == 3
    again = app_factory("cow")
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = again.screen
        assert screen.session.position == 2
        text = screen.query_one(LessonText).markdown
        assert "✓ You answered `0` right last time." in text
        assert "child.heap.exclusive == 0" in text  # answered: nothing held back
        await pilot.press("n")
        await pilot.pause()
        assert "held back" in screen.query_one(LessonText).markdown  # step 3: unanswered


async def test_a_completed_lesson_opens_at_its_start(app_factory, progress):
    progress.reached("cow", 4, 4)
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.session.position == 0


async def test_two_wrong_answers_show_the_answer_and_it_is_remembered(app_factory, progress):
    app = app_factory("cow")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "a", "5", "enter")
        await pilot.pause()
        assert "held back" in app.screen.query_one(LessonText).markdown
        await pilot.press("a", "6", "enter")
        await pilot.pause()
        text = app.screen.query_one(LessonText).markdown
        assert "The answer is `0`." in text and "held back" not in text
    again = app_factory("cow")
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = again.screen.query_one(LessonText).markdown
        assert "The answer is `0` (shown last time)." in text and "held back" not in text
