"""Unit tests of the simulator's modules: runs, memory, libc stdio, files, wait-for.

Expected numbers are the kernel's and glibc's, as the programs under
tests/kernel_facts/ printed them (see docs/kernel-facts-*.md).
"""
from __future__ import annotations

import pytest
from scenario_text import scenario_text

from forklab.observe import default_observations
from forklab.runner import run_scenario
from forklab.scenario.model import ScenarioError
from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend
from forklab.sim.files import FdTable, OpenFile, Pipe
from forklab.sim.kernel import Kernel
from forklab.sim.libc import Stdio, Write
from forklab.sim.memory import AddressSpace, Mapping, PhysicalMemory
from forklab.sim.runs import Counts, Linear, RunMap
from forklab.sim.signals import Pending
from forklab.sim.snapshot import snapshot
from forklab.sim.waitfor import stuck


def scenario(do: str) -> str:
    """One step per block of the script between lines of ``---``."""
    return scenario_text(*do.split("---"), sid="u")


# -- runs ---------------------------------------------------------------------


def test_runmap_set_splits_and_merges() -> None:
    m = RunMap(100)
    m.set(10, 20, "a")
    m.set(20, 30, "a")
    assert list(m.runs()) == [(0, 10, None), (10, 30, "a"), (30, 100, None)]
    m.set(15, 16, "b")
    assert list(m.runs(14, 17)) == [(14, 15, "a"), (15, 16, "b"), (16, 17, "a")]
    assert m.count(lambda v: v == "a") == 19


def test_linear_runs_coalesce_when_frames_continue() -> None:
    m = RunMap(10)
    m.set(0, 5, Linear(100))
    m.set(5, 10, Linear(100))
    assert len(m) == 1
    assert m.get(7).at(7) == 107


def test_counts_report_ranges_that_reach_zero() -> None:
    c = Counts(1000)
    c.add(0, 10, 2)
    c.add(5, 10, -1)
    assert c.add(0, 10, -1) == [(5, 10)]
    assert c.get(3) == 1 and c.get(7) is None


# -- memory -----------------------------------------------------------------------


def fresh(pages: int = 4096) -> AddressSpace:
    mm = AddressSpace(PhysicalMemory(), user=None)
    mm.mmap(Mapping("heap", 0x1000_0000_0000, pages))
    return mm


def test_write_faults_once_per_page_and_counts_page_tables() -> None:
    mm = fresh()
    assert mm.write("heap", 0, 4096) == 4096
    assert mm.write("heap", 0, 4096) == 0
    assert mm.vm_pte_kib() == 40  # 8 PTE pages + a PMD page + a PUD page


def test_read_maps_the_zero_page_and_fork_does_not_copy_it() -> None:
    mm = fresh()
    assert mm.read("heap", 0, 4096) == 4096
    assert mm.mappings["heap"].zero() == 4096
    child = mm.fork_copy(None)
    assert child.mappings["heap"].present() == 0  # no anon_vma: nothing copied
    assert child.vm_pte_kib() == 0


def test_copy_on_write_then_reuse() -> None:
    mm = fresh(16)
    mm.write("heap", 0, 16)
    child = mm.fork_copy(None)
    assert mm.write("heap", 0, 1) == 1  # copies: the child still maps the frame
    assert child.write("heap", 0, 1) == 1  # faults, but nobody else maps it: reuse
    assert mm.memory.allocated_anon() == 17


def test_dontneed_frees_only_whole_page_table_pages() -> None:
    mm = fresh(4096 + 16)
    mm.write("heap", 0, 4096 + 16)
    mm.dontneed("heap", 0, 4096 + 16)
    assert mm.mappings["heap"].present() == 0
    assert mm.vm_pte_kib() == 12  # the partial last PTE page, the PMD and PUD stay


# -- stdio ----------------------------------------------------------------------------


def texts(writes: list[Write]) -> list[str]:
    return [w.text for w in writes]


def test_full_buffering_writes_whole_4096_byte_blocks() -> None:
    """Flush points seen for 10 printf of 1000 bytes on a pipe (proc_stdio.c)."""
    stdio = Stdio()
    written = 0
    seen = []
    for _ in range(10):
        written += sum(len(w.text) for w in stdio.put("x" * 1000))
        seen.append(written)
    assert seen == [0, 0, 0, 0, 4096, 4096, 4096, 4096, 8192, 8192]


def test_one_large_printf_writes_buffer_then_blocks() -> None:
    for size, expected in [(4095, 0), (4096, 4096), (5000, 4096), (8192, 8192), (9000, 8192)]:
        stdio = Stdio()
        assert sum(len(w.text) for w in stdio.put("y" * size)) == expected, size


def test_line_buffering_writes_through_the_last_newline() -> None:
    stdio = Stdio(mode="line")
    assert texts(stdio.put("a\nb")) == ["a\n"]
    assert stdio.buffer == "b"


@pytest.mark.parametrize("script, seen", [
    # bytes in the pipe after each call, seen with glibc 2.36 on a pipe (fwrite and
    # setvbuf(stdout, NULL, mode, BUFSIZ), as the probe calls them; FIONREAD after each)
    ("a N b L c^d e U f^ F", [0, 1, 2, 2, 5, 5, 5, 8, 8]),
    ("N U e f^ gh ijk", [0, 0, 1, 3, 5, 8]),
    ("N L e c^d x ^", [0, 0, 1, 4, 4, 6]),
    ("U e", [0, 0]),
    ("L e f^g", [0, 0, 3]),
    ("a L b^c U d^", [0, 0, 3, 3, 4]),
    ("N U #5000", [0, 0, 5000]),
    ("N L #10 x^y #3", [0, 0, 10, 13, 16]),
])
def test_setvbuf_none_leaves_a_one_byte_buffer(script: str, seen: list[int]) -> None:
    """N/L/U = setvbuf none/line/full, F = fflush, #n = n bytes, ^ = newline."""
    stdio, total, got = Stdio(), 0, []
    for tok in script.split():
        if tok in ("N", "L", "U"):
            total += len("".join(texts(stdio.setvbuf({"N": "none", "L": "line",
                                                       "U": "full"}[tok]))))
        elif tok == "F":
            total += len("".join(texts(stdio.flush())))
        else:
            text = "x" * int(tok[1:]) if tok[0] == "#" else tok.replace("^", "\n")
            total += len("".join(texts(stdio.put(text))))
        got.append(total)
    assert got == seen


def test_exit_unbuffers_only_used_streams_and_keeps_line_buffering() -> None:
    """A vfork child's exit() as the parent then sees it (glibc 2.36 _IO_unbuffer_all)."""
    line = Stdio(mode="line")
    line.put("a")
    assert texts(line.flush()) == ["a"] and line.unbuffer() == []
    assert line.put("x") == [] and texts(line.put("yz")) == ["x", "yz"]
    unused = Stdio()
    unused.unbuffer()
    assert unused.put("q") == [] and unused.size == 4096
    never_used = Stdio()
    never_used.unbuffer()
    never_used.unbuffer()  # the first left it oriented: the second unbuffers it
    assert texts(never_used.put("q")) == ["q"] and never_used.size == 1


def test_a_failed_write_stops_the_call_and_keeps_nothing() -> None:
    """glibc 2.36 _IO_new_file_xsputn returns at the first short write; new_do_write
    empties the buffer whatever write(2) returned."""
    stdio = Stdio()
    assert texts(stdio.put("y" * 5000, failing=True)) == ["y" * 4096]
    assert stdio.buffer == ""
    stdio.put("ab")
    assert texts(stdio.flush(failing=True)) == ["ab"] and stdio.buffer == ""


def test_each_write_keeps_the_file_as_it_was_before_it() -> None:
    """What a process killed inside a write(2) leaves: glibc empties the buffer only
    after the write returns (new_do_write)."""
    stdio = Stdio()
    stdio.put("a" * 100)
    (write,) = stdio.put("b" * 4000)
    assert write.text == "a" * 100 + "b" * 3996
    assert write.before.buffer == write.text and stdio.buffer == "b" * 4
    assert texts(write.before.flush()) == [write.text]


def test_pipe_holds_sixteen_pages_and_merges_only_the_tail() -> None:
    """Linux 6.18 pipe_write: sixteen 4000-byte writes fill a pipe; a write's last
    len % 4096 bytes merge into the newest page when they fit."""
    pipe = Pipe()
    for _ in range(16):
        assert pipe.put(b"x" * 4000, merge=True) == 4000
    assert pipe.put(b"x" * 4000, merge=True) == 0
    assert pipe.put(b"!", merge=True) == 1  # fits after 4000 bytes in the newest page
    assert len(pipe.take(65536)) == 64001
    pipe.put(b"y" * 100, merge=True)
    assert pipe.put(b"z" * 5000, merge=True) == 5000  # 904 merged, then one page
    assert len(pipe.bufs) == 2


# -- files -------------------------------------------------------------------------------


def test_pipe_ends_count_open_descriptions_not_fds() -> None:
    pipe = Pipe()
    table = FdTable()
    table.install(3, OpenFile(pipe, readable=False, writable=True, end="w"))
    table.install(4, table.fds[3].file)  # dup: same description
    assert pipe.writers == 1
    child = table.copy()
    table.close_all()
    assert pipe.writers == 1
    child.close_all()
    assert pipe.writers == 0


def test_fds_stop_at_the_limit_and_a_pipe_takes_two_or_none() -> None:
    """As tests/kernel_facts/proc_fd_limit.c: every fd below the limit can be taken,
    then open fails with EMFILE; a pipe with one fd free takes neither; dup takes it;
    with none free, clone pidfd fails and makes no child."""
    sc = parse_text(scenario("repeat 13: parent: open /dev/null -> f\n"
                             "parent: close f_13\n"
                             "parent: pipe -> r, w\n"
                             "parent: dup 0 -> last\n"
                             "parent: open /dev/null -> over\n"
                             "parent: clone pidfd -> child"))
    kernel = Kernel(sc, fd_limit=16)
    for op in sc.ops:
        kernel.apply(op)
    assert kernel.fd_names["f_13"] == 15
    assert kernel.failed["r"] == kernel.failed["w"] == "EMFILE"
    assert kernel.fd_names["last"] == 15
    assert kernel.failed["over"] == "EMFILE"
    assert kernel.failed["child"] == "EMFILE"  # clone3 takes the pidfd's fd first
    assert "child" not in kernel.processes
    assert snapshot(kernel).processes["parent"].fds == tuple(range(16))


# -- wait-for ----------------------------------------------------------------------------------


@pytest.mark.parametrize("caller, other, state", [
    ("parent", "parent/t1", "suspended"),  # main waits in vfork: the process is suspended
    ("parent/t1", "parent", "running"),  # a thread waits: the main thread runs on
])
def test_vfork_suspends_only_the_calling_thread(caller: str, other: str, state: str) -> None:
    """vfork waits in the calling thread (wait_for_vfork_done); the others run."""
    text = scenario(f"""
parent: mmap heap 1p
parent: thread -> t1
{caller}: vfork -> child
{other}: write heap = 9
{caller}: write heap = 1
""")
    ops = parse_text(text).ops
    with SimBackend().start(parse_text(text)) as run:
        for op in ops[:-1]:
            run.apply(op)
        obs = run.observe()
        with pytest.raises(ScenarioError, match=f"'{caller}' is suspended"):
            run.apply(ops[-1])
    assert obs.processes["parent"].state == state
    assert obs.queries.byte("child", "heap", 0) == 9  # the other thread wrote it


def test_wait_for_graph_names_the_vanished_owner() -> None:
    text = scenario("""
parent: thread -> t1
parent/t1: lock m
parent: fork -> child
child: lock m
""")
    backend = SimBackend()
    with backend.start(parse_text(text)) as run:
        for op in parse_text(text).ops:
            run.apply(op)
        found = stuck(run.kernel)
    assert len(found) == 1
    assert found[0].thread == "child"
    assert "does not exist in child" in found[0].chain[-1]
    assert not found[0].cycle


def test_self_deadlock_is_a_cycle_free_dead_end_not_a_false_alarm() -> None:
    text = scenario("""
parent: lock m
parent: fork -> child
""")
    result = run_scenario(SimBackend(), parse_text(text))
    assert result.error is None
    world = result.steps[-1].world
    assert world.processes["child"].state == "running"  # holding nothing is not waiting


# -- copies of the kernel ---------------------------------------------------------------


PAGE_TEXT = "x" * 4096  # sixteen fill a pipe: the next writer waits


@pytest.mark.parametrize("setup, wake, waiter", [
    ("parent: thread -> t\nparent/t: lock m\nparent: lock m", "parent/t: unlock m", "parent"),
    ("parent: thread -> t\nparent/t: lock m\nparent: atfork m\nparent: fork -> c",
     "parent/t: unlock m", "parent"),
    ("parent: fork -> c\nparent: wait c", "c: _exit 3", "parent"),
    ("parent: pipe -> r, w\nparent: thread -> t\nparent/t: readfd r", 'parent: writefd w "hi"',
     "parent/t"),
    (f'parent: pipe -> r, w\nrepeat 16: parent: writefd w "{PAGE_TEXT}"\n'
     'parent: thread -> t\nparent/t: writefd w "!"', "parent: readfd r", "parent/t"),
], ids=["mutex", "atfork locks", "child", "pipe data", "pipe room"])
def test_a_waiter_copied_with_the_kernel_is_woken_in_the_copy_alone(
        setup: str, wake: str, waiter: str) -> None:
    sc = parse_text(scenario(f"{setup}\n---\n{wake}"))
    original = Kernel(sc)
    for op in sc.steps[0].ops:
        original.apply(op)
    before = default_observations(snapshot(original))
    copied = original.copy()
    for op in sc.steps[1].ops:
        copied.apply(op)
    assert waiting(copied) == []
    assert waiting(original) == [waiter]
    assert default_observations(snapshot(original)) == before
    for op in sc.steps[1].ops:  # woken in the original too, it ends up as the copy did
        original.apply(op)
    assert default_observations(snapshot(original)) == default_observations(snapshot(copied))


def waiting(kernel: Kernel) -> list[str]:
    return [f"{p.name}/{t.name}" if t.name else p.name for p in kernel.processes.values()
            for t in p.threads.values() if t.waiting is not None]


def test_a_copy_shares_what_the_original_shares() -> None:
    """A vfork child's mm is its parent's, and a dup'd fd's open file is its original's,
    in the copy as in the kernel it was copied from."""
    sc = parse_text(scenario("parent: mmap heap 1p\nparent: pipe -> r, w\n"
                             "parent: dup w -> w2\nparent: vfork -> child"))
    kernel = Kernel(sc)
    for op in sc.ops:
        kernel.apply(op)
    copied = kernel.copy()
    parent, child = copied.processes["parent"], copied.processes["child"]
    assert child.mm is parent.mm and child.mm is not kernel.processes["child"].mm
    w, w2 = (copied.fd_names[n] for n in ("w", "w2"))
    assert parent.files.fds[w].file is parent.files.fds[w2].file
    assert child.vfork_thread is parent.main
    assert copied.scenario is kernel.scenario  # what never changes is not copied


# -- signals ------------------------------------------------------------------------


def test_a_pending_set_queues_real_time_signals_and_collapses_standard_ones() -> None:
    """signal(7), and tests/kernel_facts/proc_sigaction.c: three sends while blocked
    leave three SIGRTMIN+1 pending, and one SIGUSR2."""
    pending = Pending()
    for _ in range(3):
        pending.add("SIGRTMIN+1")
        pending.add("SIGUSR2")
    assert pending["SIGRTMIN+1"] == 3 and pending["SIGUSR2"] == 1
    pending.take("SIGRTMIN+1")
    assert pending["SIGRTMIN+1"] == 2
    pending.take("SIGUSR2")
    assert "SIGUSR2" not in pending and set(pending) == {"SIGRTMIN+1"}
    pending.discard("SIGRTMIN+1")  # SIG_IGN drops every instance
    assert not pending


def test_wait_for_any_child_is_a_cycle_through_every_child() -> None:
    """A wait for any child points at each child: a child blocked on the waiter's own
    lock makes a cycle, and the refusal names it."""
    text = scenario("""
parent: mmap heap 1p
parent: lock m
parent: clone vm -> child
child: lock m
parent: wait any
""")
    with SimBackend().start(parse_text(text)) as run:
        for op in parse_text(text).ops:
            run.apply(op)
        found = sorted(stuck(run.kernel), key=lambda s: s.thread)
    assert [s.thread for s in found] == ["child", "parent"]
    assert all(s.cycle for s in found)
    assert "process 'child'" in found[1].chain


def test_a_stopped_process_takes_no_signal_but_sigkill() -> None:
    """While stopped, a fatal signal waits (as tests/kernel_facts/proc_stop.c saw);
    SIGCONT lets it act."""
    text = scenario("""
parent: fork -> child
parent: kill child SIGSTOP
parent: kill child SIGTERM
""")
    with SimBackend().start(parse_text(text)) as run:
        for op in parse_text(text).ops:
            run.apply(op)
        child = run.kernel.processes["child"]
        assert (child.stopped, set(child.shared_pending)) == (True, {"SIGTERM"})
        op = parse_text(scenario("parent: fork -> child\nparent: kill child SIGCONT")).ops[-1]
        run.apply(op)
        assert (child.state, child.term_signal) == ("zombie", "SIGTERM")
