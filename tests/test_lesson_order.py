"""The catalog is a path: what each lesson builds on exists, nothing builds on itself,
and the order starts from the basics."""
from __future__ import annotations

import pytest

from forklab import lessons
from forklab.scenario.model import Scenario, ScenarioError
from forklab.scenario.parse import parse_file, parse_text


def catalog() -> list[Scenario]:
    return [parse_file(path) for path in lessons.catalog()]


def order_of(scenarios: list[Scenario]) -> list[str]:
    return [s.id for s in lessons.in_order(scenarios, lambda s: s.id, lambda s: s.builds_on)]


def test_the_catalog_is_a_path() -> None:
    scenarios = catalog()
    assert lessons.order_problems(scenarios, lambda s: s.id, lambda s: s.builds_on) == []


def test_every_lesson_comes_after_what_it_builds_on() -> None:
    scenarios = catalog()
    order = order_of(scenarios)
    for s in scenarios:
        assert all(order.index(p) < order.index(s.id) for p in s.builds_on), s.id


def test_the_path_starts_with_fork_basics_and_leaves_the_alternatives_late() -> None:
    order = order_of(catalog())
    assert order[0] == "fork-basics"
    assert order.index("alternatives") >= len(order) - 3
    assert order.index("cow") < order.index("fork-cost") < order.index("zygote")


def test_every_lesson_but_the_first_builds_on_something() -> None:
    """Otherwise it would sit at the start of the path beside fork-basics."""
    assert [s.id for s in catalog() if not s.builds_on] == ["fork-basics"]


def test_a_lesson_file_is_named_after_its_id() -> None:
    """forklab run and forklab learn find a lesson by its file's name."""
    for path in lessons.catalog():
        assert parse_file(path).id == path.stem
        assert lessons.find(path.stem) == path


GRAPH = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d", "gone"], "e": []}


def test_order_problems_names_missing_lessons_and_cycles() -> None:
    problems = lessons.order_problems(list(GRAPH), lambda x: x, lambda x: GRAPH[x])
    assert problems == ["d builds on 'gone', which is not in the catalog",
                        "lessons build on each other in a cycle: a → b → c → a",
                        "lessons build on each other in a cycle: d → d"]


def test_in_order_ranks_by_depth_then_id_and_puts_cycles_last() -> None:
    graph = {"z": [], "b": ["z"], "a": ["b"], "y": [], "c": ["c"]}
    order = lessons.in_order(list(graph), lambda x: x, lambda x: graph[x])
    assert order[:4] == ["y", "z", "b", "a"] and order[-1] == "c"


@pytest.mark.parametrize(("done", "after", "expected"), [
    (set(), None, "a"),
    ({"a"}, None, "b"),
    ({"a"}, "b", "c"),          # after b: the next on the path
    ({"a", "c"}, "c", "b"),     # nothing after c left: back to the first not done
    ({"a", "b", "c"}, "c", None),
])
def test_next_lesson(done: set[str], after: str | None, expected: str | None) -> None:
    assert lessons.next_lesson(["a", "b", "c"], done.__contains__, after) == expected


HEAD = 'id = "x"\ntitle = "t"\nsummary = "s"\n'
STEP = '[[step]]\ndo = "parent: fork -> child"\n'


def test_builds_on_is_read() -> None:
    scenario = parse_text(HEAD + 'builds_on = ["cow", "fork-basics"]\n' + STEP)
    assert scenario.builds_on == ("cow", "fork-basics")


@pytest.mark.parametrize(("value", "fragment"), [
    ('"cow"', "'builds_on' must be an array of strings"),
    ('["Cow!"]', "'builds_on' names lessons by id ([a-z0-9-]+), got 'Cow!'"),
])
def test_a_bad_builds_on_names_its_place(value: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_text(HEAD + f"builds_on = {value}\n" + STEP)
    assert fragment in caught.value.message
    assert caught.value.where is not None and caught.value.where.line == 4
