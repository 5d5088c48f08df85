"""The one builder of scenario text for the tests: a TOML document of steps."""
from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class StepText:
    """A step with expectations (a plain string is a step with none)."""

    do: str
    expect: tuple[str, ...] = ()


def scenario_text(*steps: str | StepText, sid: str = "t", title: str = "t",
                  first: str | None = None, real: bool | None = None) -> str:
    """A scenario of these steps: each script in a TOML literal string (written as
    the test wrote it), each expectation a TOML basic string."""
    parts = [f'id = "{sid}"', f"title = {json.dumps(title)}", 'summary = "t"']
    if first is not None:
        parts.append(f'first = "{first}"')
    if real is not None:
        parts.append(f"real = {'true' if real else 'false'}")
    for step in steps:
        step = StepText(step) if isinstance(step, str) else step
        if "'''" in step.do:
            raise ValueError("a test script cannot hold three single quotes")
        parts.append(f"[[step]]\ndo = '''\n{step.do}\n'''")
        if step.expect:
            parts.append(f"expect = [{', '.join(json.dumps(e) for e in step.expect)}]")
    return "\n".join(parts) + "\n"
