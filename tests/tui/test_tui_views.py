"""What the panels show: computed from a World, plain data, no Textual."""
from __future__ import annotations

from conftest import lesson_files, model_kernel

from forklab.tui import views
from forklab.tui.state import LessonSession, check_on_kernel, load_lesson
from forklab.tui.views import ABSENT, EXCLUSIVE, SHARED, ZERO_PAGE, summarise


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
    assert "- ✓ `child.heap.exclusive == 0`" in text
    assert "**Question:** How many frames does the child own alone?" in text
    s.answer(0, "3")
    s.answer(0, "4")
    text = views.lesson_markdown(s)
    assert "✗ You answered `4`: not it" in text and "The answer is `0`." in text
    s.record_kernel(check_on_kernel(s.scenario, s.frame.result, model_kernel))
    text = views.lesson_markdown(s)
    assert "**On the kernel:** ✓" in text and "· kernel ✓" in text


def test_failed_expectations_say_what_was_seen():
    s = LessonSession(load_lesson(lesson_files("quiz")[0]))
    s.goto(1)
    text = views.lesson_markdown(s)
    assert "- ✗ `parent.threads == 2` — but parent.threads = 1" in text
    assert "Choices: `[0, 1, 2]` · `[0, 1, 2, 3, 4]`" in text
