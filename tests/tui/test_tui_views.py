"""What the panels show: computed from a World, plain data, no Textual."""
from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
from rich.console import Console
from tuikit import lesson_files, model_kernel

from forklab.observe import World
from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend
from forklab.tui import views
from forklab.tui.state import LessonSession, check_on_kernel, load_lesson, real_kernel
from forklab.tui.views import ABSENT, EXCLUSIVE, SHARED, ZERO_PAGE, summarise
from forklab.tui.widgets import fd_table, threads


def session(name: str, position: int) -> LessonSession:
    s = LessonSession(load_lesson(lesson_files(name)[0]))
    s.goto(position)
    return s


def test_summarise_gives_a_fixed_number_of_cells():
    runs = [(0, 7, EXCLUSIVE), (7, 4096, SHARED)]
    cells = summarise(iter(runs), 4096, 32)
    assert len(cells) == 32
    assert cells[0] == EXCLUSIVE and set(cells[1:]) == {SHARED}


def test_a_small_mapping_gets_a_cell_per_page():
    assert summarise(iter([(0, 1, EXCLUSIVE)]), 1) == (EXCLUSIVE,)
    assert summarise(iter([(0, 2, ABSENT), (2, 3, ZERO_PAGE)]), 3) == (ABSENT, ABSENT, ZERO_PAGE)
    assert summarise(iter([]), 0) == ()


def test_a_mixed_cell_shows_the_most_telling_state():
    pages = 1 << 24  # 64 GiB of pages: one page in the middle still shows
    runs = [(0, pages // 2, ABSENT), (pages // 2, pages // 2 + 1, ZERO_PAGE),
            (pages // 2 + 1, pages, ABSENT)]
    cells = summarise(iter(runs), pages, 32)
    assert cells.count(ZERO_PAGE) == 1 and cells[16] == ZERO_PAGE
    mixed = summarise(iter([(0, 10, ZERO_PAGE), (10, 11, SHARED), (11, 12, EXCLUSIVE)]), 12, 1)
    assert mixed == (EXCLUSIVE,)


def test_the_cow_bars():
    v = views.panels(session("cow", 3).world, "child")
    (heap,) = v.mappings
    assert heap.name == "heap" and heap.kind == "private anon rw" and heap.pages == 4096
    assert heap.scale == "1 cell = 128 pages (512 KiB)"
    child, parent = heap.bars  # the selected process first
    assert child.process == "child" and parent.process == "parent"
    assert (child.present, child.exclusive, child.shared, child.zero) == (4096, 7, 4089, 0)
    assert child.cells == "▇" + "▒" * 31
    assert child.shared_with == (("parent", 4089),)
    assert [m.process for m in v.memory] == ["child", "parent"]


def test_the_big_bars_stay_summaries():
    v = views.panels(session("big", 3).world, "parent")
    (huge,) = v.mappings
    assert huge.size == "64 GiB" and huge.scale == "1 cell = 524288 pages (2 GiB)"
    parent = huge.bars[0]
    assert parent.cells.count("▇") == 1 and len(parent.cells) == 32
    assert parent.shared == (1 << 24) - 1


def test_the_process_tree():
    rows = views.panels(session("fd-leak", 6).world).processes
    assert [(r.prefix, r.name, r.symbol, r.state) for r in rows] == [
        ("", "parent", "▶", "running"), ("├─ ", "child", "▶", "running"),
        ("└─ ", "worker", "·", "reaped")]
    assert rows[2].detail == "exit 0" and rows[0].pid == 100


def test_the_fd_tables_show_what_is_shared_and_cloexec():
    v = views.panels(session("fd-leak", 1).world, "parent")
    parent = v.files[0]
    assert [r.fd for r in parent.rows] == [0, 1, 2, 3, 4]
    w = parent.rows[4]
    assert (w.name, w.mode, w.cloexec) == ("w", "w", False)
    assert w.obj == "pipe #1 write end" and w.also == ("child:4",)
    assert parent.rows[3].obj == "pipe #1 read end; write end held by parent:4 child:4"
    assert parent.rows[1].obj == "stdout pipe, read by forklab"
    blocked = views.panels(session("fd-leak", 3).world, "parent").files[0]
    assert blocked.rows[3].obj == "pipe #1 read end; write end held by child:4"
    later = views.panels(session("fd-leak", 5).world, "parent").files[0]
    assert [(r.fd, r.name, r.cloexec) for r in later.rows if r.fd >= 3] == [
        (3, "r", False), (4, "r2", True)]
    assert later.last_read == ""
    assert later.rows[3].obj == "pipe #1 read end; no write end open: EOF"
    assert later.rows[4].obj == "pipe #2 read end; no write end open: EOF"


def test_threads_say_who_waits_forever():
    v = views.panels(session("fork-locks", 3).world, "child").threads
    why = ("child waits forever (a dead end): child → mutex 'm' in child's memory"
           " → thread 1001, which does not exist in child")
    assert v.stuck == (why,)
    waiting = [t for t in v.threads if t.waiting]
    assert [(t.process, t.thread) for t in waiting] == [("child", "main")]
    orphaned = [lock for lock in v.locks if lock.orphaned]
    assert [(lock.process, lock.lock) for lock in orphaned] == [("child", "m")]


def test_the_threads_panel_draws_a_script_line_as_code():
    v = views.panels(session("fork-locks", 3).world, "child").threads
    [waiting] = [t for t in v.threads if t.waiting]
    assert "`child: lock m`" in waiting.waiting
    drawn = threads.render(v, "child")
    assert "`" not in drawn.plain and "waits for mutex 'm' in child: lock m (line" in drawn.plain
    start = drawn.plain.index("child: lock m")
    styles = [str(span.style) for span in drawn.spans
              if span.start <= start and span.end >= start + len("child: lock m")]
    assert any("reverse" in style for style in styles)


def test_signals():
    s = LessonSession(load_lesson(lesson_files("quiz")[0]))
    s.goto(1)
    (row,) = views.panels(s.world).signals
    assert (row.blocked, row.pending, row.caught) == ("INT", "INT", "—")


def test_the_lesson_text():
    s = session("cow", 0)
    s.kernel_pending = set()
    text = views.lesson_markdown(s)
    assert "Copy-on-write" in text and "Press **n**" in text
    s.goto(2)
    text = views.lesson_markdown(s)
    assert "## Step 2 of 4" in text and "parent: fork -> child" in text
    assert "- ✓ `child.heap.shared_with(parent) == 4096`" in text
    assert "child.heap.exclusive" not in text  # the question's answer
    assert "- ✓ *1 more, held back until you answer: it gives the answer away*" in text
    assert "**Question:** How many frames does the child own alone?" in text
    s.answer(0, "3")
    assert "child.heap.exclusive" not in views.lesson_markdown(s)
    s.answer(0, "4")
    text = views.lesson_markdown(s)
    assert "✗ You answered `4`: not it" in text and "The answer is `0`." in text
    assert "- ✓ `child.heap.exclusive == 0`" in text and "held back" not in text
    s.record_kernel(check_on_kernel(s.scenario, s.frame.result, model_kernel, threading.Event()))
    text = views.lesson_markdown(s)
    assert "**On the kernel:** ✓" in text and "· kernel ✓" in text


def test_failed_expectations_say_what_was_seen():
    s = LessonSession(load_lesson(lesson_files("quiz")[0]))
    s.goto(1)
    text = views.lesson_markdown(s)
    assert "- ✗ `parent.threads == 2` — but parent.threads = 1" in text
    assert "Choices: `[0, 1, 2]` · `[0, 1, 2, 3, 4]`" in text


HEADER_ONLY = 'id = "t"\ntitle = "t"\nsummary = "s"\n'
THP_FORK = '''id = "thp"
title = "t"
summary = "s"
[[step]]
do = """
parent: mmap thp 2MiB thp
parent: write thp
parent: mmap heap 64KiB
parent: read heap[0:4p]
parent: write heap[4p:8p]
parent: fork -> child
child: write thp[0p]
child: write heap[4p]
"""
'''


def model_world(text: str) -> World:
    scenario = parse_text(text)
    run = SimBackend().start(scenario)
    for op in scenario.ops:
        run.apply(op)
    return run.observe()


def test_the_bars_count_pages_as_the_observables_do():
    """A forked huge page whose head the child copied: the parent's 512 pages are
    exclusive (pagemap repeats the head's bit; seen on Linux 6.x), in the bar too."""
    world = model_world(THP_FORK)
    v = views.panels(world, "parent")
    thp = next(m for m in v.mappings if m.name == "thp")
    parent, child = thp.bars
    assert (parent.process, parent.exclusive, parent.shared) == ("parent", 512, 0)
    assert parent.cells == "▇" * 32
    assert (child.exclusive, child.shared) == (1, 511)
    for view in v.mappings:
        for bar in view.bars:
            obs = world.processes[bar.process].mappings[view.name]
            assert (bar.present, bar.exclusive, bar.zero) == (obs.present, obs.exclusive,
                                                              obs.zero)
            assert bar.shared == obs.present - obs.exclusive - obs.zero


class _KernelQueries:
    """A World's queries with no model behind them, as the kernel backend's are."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_kernel_world_shows_its_observables():
    s = session("fd-leak", 5)
    world = dataclasses.replace(s.world, queries=_KernelQueries(s.world.queries))
    v = views.panels(world, "parent")
    parent = v.files[0]
    assert [(r.fd, r.name, r.cloexec, r.file) for r in parent.rows] == [
        (0, "", False, None), (1, "", False, None), (2, "", False, None),
        (3, "r", False, None), (4, "r2", True, None)]
    assert parent.rows[3].also == ("child:3", "worker:3")  # from same_file
    model = views.panels(s.world, "parent")
    assert [[r.also for r in t.rows] for t in v.files] == [
        [r.also for r in t.rows] for t in model.files]
    assert parent.last_read == ""
    assert v.processes[0].pid is None
    assert v.threads.threads == () and "parent 1" in v.threads.note
    rendered = fd_table.render(v.files, "parent")
    console = Console(width=80, record=True)
    console.print(rendered)
    text = console.export_text()
    assert "r2 ⊘" in text and "not what an fd points at" in text


def test_a_kernel_world_shows_page_counts_without_cells():
    world = model_world(THP_FORK)
    world = dataclasses.replace(world, queries=_KernelQueries(world.queries))
    v = views.panels(world, "parent")
    thp = next(m for m in v.mappings if m.name == "thp")
    assert thp.pages is None and thp.scale == "the kernel shows how many pages, not where"
    parent = thp.bars[0]
    assert (parent.cells, parent.present, parent.exclusive, parent.shared) == ("", 512, 512, 0)
    assert thp.bars[1].shared_with == (("parent", 511),)


def test_the_panels_of_a_real_kernel_run():
    backend, why = real_kernel(threading.Event())
    if backend is None:
        pytest.skip(why)
    scenario = load_lesson(lesson_files("fd-leak")[0])
    with backend.start(scenario) as run:
        for op in scenario.steps[0].ops:
            run.apply(op)
        v = views.panels(run.observe(), "parent")
    parent = v.files[0]
    assert [(r.fd, r.name) for r in parent.rows] == [(0, ""), (1, ""), (2, ""), (3, "r"),
                                                     (4, "w")]
    assert parent.rows[4].also == ("child:4",)


def test_signals_of_each_other_thread():
    rows = views.panels(model_world(HEADER_ONLY + '''
[[step]]
do = """
parent: thread -> t1
parent/t1: block SIGUSR1
parent/t1: raise SIGUSR1
"""
'''), "parent").signals
    assert [(r.process, r.thread, r.blocked, r.pending) for r in rows] == [
        ("parent", "", "—", "—"), ("parent", "t1", "USR1", "USR1")]
