"""Choices recorded and replayed, and shrinking by choices (forklab fuzz's shrinker)."""
from __future__ import annotations

import random

from forklab.fuzz import STRATEGY
from forklab.testing.choices import Recorded
from forklab.testing.shrink import shrink
from forklab.testing.strategies import generate


def test_a_recorded_stream_replays_to_the_same_scenario() -> None:
    first = Recorded(rng=random.Random(7))
    text = generate(first, **STRATEGY).text
    again = Recorded(prefix=first.made)
    assert generate(again, **STRATEGY).text == text
    assert again.made == first.made


def test_a_replayed_choice_is_clipped_to_the_range_asked_now() -> None:
    replay = Recorded(prefix=[9, 9])
    assert replay.integer(0, 3) == 3
    assert replay.integer(5, 20) == 14
    assert replay.integer(2, 8) == 2  # past the prefix: the simplest, the range's low end
    assert replay.made == [3, 9, 0]


def test_shrink_finds_the_fewest_and_lowest_choices_that_still_show_it() -> None:
    def attempt(candidate: list[int]) -> list[int] | None:
        return candidate if sum(candidate) >= 10 and 3 in candidate else None

    start = [5, 1, 8, 3, 7, 2, 9, 4]
    assert attempt(start) is not None
    found = shrink(start, attempt, lambda: False)
    assert attempt(found) is not None
    assert len(found) == 2 and sorted(found) == [3, 7]


def test_shrink_stops_when_its_budget_is_spent() -> None:
    calls: list[list[int]] = []

    def attempt(candidate: list[int]) -> list[int] | None:
        calls.append(candidate)
        return candidate if candidate else None

    shrink([4] * 50, attempt, lambda: len(calls) >= 5)
    assert len(calls) == 5
