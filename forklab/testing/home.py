"""A directory of its own for hypothesis, for forklab's commands that draw with it."""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def private_hypothesis_home() -> Iterator[None]:
    """Hypothesis keeps what it learns (examples, constants of the code under test) in
    ``./.hypothesis``; `forklab fuzz` and `forklab practice` keep nothing, so they get
    a directory of their own, gone at the end."""
    from hypothesis.configuration import set_hypothesis_home_dir, storage_directory

    before = storage_directory(intent_to_write=False).home_directory
    with tempfile.TemporaryDirectory(prefix="forklab-hypothesis-") as home:
        set_hypothesis_home_dir(home)
        try:
            yield
        finally:
            set_hypothesis_home_dir(before)
