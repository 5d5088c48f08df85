"""The model's detail (forklab.sim.detail): what the lesson player shows beyond the observables.

Its page runs must count what the observables count: the expected numbers
below were seen on Linux 6.x (``forklab run --backend real``), and the detail
must give them too.
"""
from __future__ import annotations

import pytest

from forklab.observe import World
from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend
from forklab.sim.detail import (
    ABSENT,
    EXCLUSIVE,
    SHARED,
    ZERO_PAGE,
    Collector,
    DevNullTarget,
    FileTarget,
    ModelDetail,
    PageRun,
    PidFdTarget,
    PipeEnd,
    ProcessDetail,
    describe,
    of_world,
)

HEADER = 'id = "detail"\ntitle = "t"\nsummary = "s"\n'

PAGE_SHAPES = HEADER + '''
[[step]]
do = """
parent: mmap thp 2MiB thp
parent: write thp
parent: mmap heap 64KiB
parent: write heap
parent: mmap zero 64KiB
parent: read zero
parent: mmap hz 2MiB thp
parent: read hz
parent: mmap f 64KiB file=data.bin private ro
parent: read f[0:4p]
parent: fork -> child
"""
[[step]]
do = """
child: write thp[0p]
child: write heap[0:3p]
"""
[[step]]
do = "child: write thp[9p]"
[[step]]
do = """
parent: mmap t2 2MiB thp
parent: write t2
parent: fork -> c2
c2: write t2[9p]
"""
'''

# (step, process, mapping) -> (present, exclusive, zero), as the kernel showed them
KERNEL_COUNTS = {
    (1, "parent", "thp"): (512, 0, 0),
    (1, "child", "thp"): (512, 0, 0),
    (1, "parent", "heap"): (16, 0, 0),
    (1, "parent", "zero"): (16, 0, 16),
    (1, "parent", "hz"): (512, 0, 512),
    (1, "parent", "f"): (16, 16, 0),  # fault-around maps 16 page-cache pages, mapped once
    (1, "child", "f"): (0, 0, 0),
    # the child copied the huge page's head: the parent's head frame is its alone, and
    # pagemap repeats the head's answer on all 512 entries of the PMD
    (2, "parent", "thp"): (512, 512, 0),
    (2, "child", "thp"): (512, 1, 0),
    (2, "parent", "heap"): (16, 3, 0),
    (2, "child", "heap"): (16, 3, 0),
    (3, "parent", "thp"): (512, 512, 0),
    (3, "child", "thp"): (512, 2, 0),
    # a copied tail page leaves the head shared: no exclusive page in the parent
    (4, "parent", "t2"): (512, 0, 0),
    (4, "c2", "t2"): (512, 1, 0),
}


def run(text: str) -> list[World]:
    """The World after each step of a scenario, on the model."""
    scenario = parse_text(text)
    sim = SimBackend().start(scenario)
    worlds = []
    for step in scenario.steps:
        for op in step.ops:
            sim.apply(op)
        worlds.append(sim.observe())
    return worlds


def process(detail: ModelDetail, name: str) -> ProcessDetail:
    found = detail.process(name)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def page_shapes() -> list[World]:
    return run(PAGE_SHAPES)


def test_page_runs_count_what_the_kernel_showed(page_shapes):
    for (step, name, mname), counts in KERNEL_COUNTS.items():
        detail = of_world(page_shapes[step - 1])
        assert detail is not None
        m = next(m for m in process(detail, name).mappings if m.name == mname)
        seen = (m.pages - m.count(ABSENT), m.count(EXCLUSIVE), m.count(ZERO_PAGE))
        assert seen == counts, (step, name, mname)


def test_page_runs_count_what_the_observables_count(page_shapes):
    for world in page_shapes:
        detail = of_world(world)
        assert detail is not None
        for name, p in world.processes.items():
            for m in process(detail, name).mappings:
                obs = p.mappings[m.name]
                assert (m.pages - m.count(ABSENT), m.count(EXCLUSIVE), m.count(ZERO_PAGE)) == (
                    obs.present, obs.exclusive, obs.zero), (name, m.name)


def test_page_runs_cover_the_mapping_and_merge_neighbours(page_shapes):
    detail = of_world(page_shapes[1])
    assert detail is not None
    for p in detail.processes:
        for m in p.mappings:
            assert m.runs[0].start == 0 and m.runs[-1].end == m.pages
            for left, right in zip(m.runs, m.runs[1:]):
                assert left.end == right.start and left.state != right.state
    heap = next(m for m in process(detail, "child").mappings if m.name == "heap")
    assert heap.runs == (PageRun(0, 3, EXCLUSIVE), PageRun(3, 16, SHARED))
    thp = next(m for m in process(detail, "parent").mappings if m.name == "thp")
    assert thp.runs == (PageRun(0, 512, EXCLUSIVE),)


def test_fds_say_what_they_point_at():
    (world,) = run(HEADER + '''
[[step]]
do = """
parent: pipe -> r, w
parent: open data.txt rw create -> d
parent: writefd d "hello"
parent: writefd w "abc"
parent: clone pidfd -> child
parent: close w
"""
''')
    detail = of_world(world)
    assert detail is not None
    parent = process(detail, "parent")
    by_fd = {f.fd: f for f in parent.fds}
    assert by_fd[0].target == DevNullTarget()
    assert by_fd[1].target == Collector("stdout") and by_fd[2].target == Collector("stderr")
    r = by_fd[world.fd_names["r"]]
    assert r.target == PipeEnd(1, "r", 3, (("child", world.fd_names["w"]),))
    d = by_fd[world.fd_names["d"]]
    assert d.target == FileTarget("data.txt", 5) and d.offset == 5
    assert (d.readable, d.writable, d.append) == (True, True, False)
    pidfd = [f for f in parent.fds if isinstance(f.target, PidFdTarget)]
    assert [(f.target, f.cloexec) for f in pidfd] == [(PidFdTarget("child"), True)]
    child = process(detail, "child")
    shared = {f.fd: f.open_file for f in child.fds}
    assert all(shared[f.fd] == f.open_file for f in parent.fds if f.fd in shared)


def test_threads_mutexes_and_who_waits_forever():
    worlds = run(HEADER + '''
[[step]]
do = """
parent: thread -> t1
parent/t1: lock m
parent/t1: block SIGUSR1
parent: fork -> child
child: lock m
"""
''')
    detail = of_world(worlds[-1])
    assert detail is not None
    parent, child = process(detail, "parent"), process(detail, "child")
    main, t1 = parent.threads
    assert (main.name, t1.name) == ("", "t1")
    assert t1.mask == frozenset({"SIGUSR1"}) and main.mask == frozenset()
    (m,) = parent.mutexes
    assert (m.name, m.owner_tid, m.owner) == ("m", t1.tid, ("parent", "t1"))
    (orphan,) = child.mutexes
    assert orphan.owner_tid == t1.tid and orphan.owner is None
    (waiter,) = child.threads
    assert waiter.waiting is not None
    assert (waiter.waiting.what, waiter.waiting.line_text) == ("mutex 'm'", "child: lock m")
    assert child.memory != parent.memory
    assert detail.stuck == ("child waits forever (a dead end): child → mutex 'm' in child's "
                            f"memory → thread {t1.tid}, which does not exist in child",)


def test_vfork_shares_memory_and_stdio_is_in_it():
    (world,) = run(HEADER + '''
[[step]]
do = """
parent: printf "buffered"
parent: vfork -> child
"""
''')
    detail = of_world(world)
    assert detail is not None
    parent, child = process(detail, "parent"), process(detail, "child")
    assert parent.memory is not None and parent.memory == child.memory
    assert parent.stdout is not None and parent.stdout.buffer == "buffered"
    assert parent.stdout.mode == "full"


def test_an_ended_process_has_no_detail_but_its_pid():
    (world,) = run(HEADER + '''
[[step]]
do = """
parent: fork -> child
child: exit 3
parent: spawn /bin/sleep 5 -> sleeper
"""
''')
    detail = of_world(world)
    assert detail is not None
    child = process(detail, "child")
    assert (child.memory, child.fds, child.threads, child.mappings) == (None, (), (), ())
    sleeper = process(detail, "sleeper")
    assert sleeper.program == "/bin/sleep 5" and sleeper.memory is None and sleeper.fds


def test_the_detail_is_of_the_step_it_was_taken_at(page_shapes):
    """A World's detail reads the World's frozen kernel, not the run that went on."""
    first = describe(page_shapes[0].queries.kernel)  # type: ignore[attr-defined]
    assert first == of_world(page_shapes[0])
    thp = next(m for m in process(first, "parent").mappings if m.name == "thp")
    assert thp.count(EXCLUSIVE) == 0


def test_a_world_without_a_model_has_no_detail(page_shapes):
    import dataclasses

    world = dataclasses.replace(page_shapes[0], queries=object())  # type: ignore[arg-type]
    assert of_world(world) is None
