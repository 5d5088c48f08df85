"""The model of glibc's loaded image: text from one page cache, RELRO per load."""
from __future__ import annotations

from scenario_text import scenario_text

from forklab.scenario.parse import parse_text
from forklab.sim import SimBackend, image


def test_each_load_has_the_shared_text_and_its_own_relro() -> None:
    a, b = image.load(), image.load()
    assert image.same(a, b, "text")
    assert not image.same(a, b, "relro")
    assert image.same(a, a, "relro")


def _answers(do: list[str], pairs: list[tuple[str, str]]) -> list[dict]:
    sc = parse_text(scenario_text(*do, sid="i"))
    out = []
    with SimBackend().start(sc) as run:
        for step in sc.steps:
            for op in step.ops:
                run.apply(op)
            q = run.observe().queries
            out.append({(p, o, part): q.libc_same(p, o, part)
                        for p, o in pairs if p in run.kernel.processes
                        and o in run.kernel.processes for part in ("text", "relro")})
    return out


def test_fork_shares_relro_exec_and_spawn_load_their_own() -> None:
    fork, execd = _answers(["parent: fork -> child\nparent: spawn probe -> sp",
                            "child: exec probe"],
                           [("child", "parent"), ("sp", "parent")])
    assert fork[("child", "parent", "relro")] is True
    assert fork[("sp", "parent", "relro")] is False
    assert fork[("sp", "parent", "text")] is True
    assert execd[("child", "parent", "relro")] is False
    assert execd[("child", "parent", "text")] is True


def test_a_process_without_the_probe_has_no_answer() -> None:
    (after,) = _answers(["parent: fork -> child\nchild: exit"], [("child", "parent")])
    assert after[("child", "parent", "text")] is None
