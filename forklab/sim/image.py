"""The C library as each program image has it: what is shared, what is private.

Every image that runs forklab's probe has glibc (``libc.so.6``) mapped, as a
dynamic loader leaves it. Two parts matter for what processes share:

* **text** (the ``r-xp`` mapping; the read-only ones are alike): mapped from
  the file, so its pages are the file's page cache. Every process, however it
  was made — fork, exec, spawn — maps the same frames for the pages it has
  present: one copy of the library's code for the whole machine.
* **RELRO** (the ``r--p`` mapping just below the writable data): the GOT and
  the pointers the loader relocated when it loaded the library. Relocation
  *wrote* those pages, so each load has private anonymous copies of them,
  made read-only afterwards and never written again. ``fork`` shares them
  copy-on-write (and nobody writes them, so they stay shared); ``exec`` loads
  the library again and makes new ones.

The model keeps only the identity of each part, which is all an observable
compares: one page cache for the text, one number per load for RELRO. How many
text pages a process happens to have touched depends on the runtime's own
code paths, and is not modelled.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

TEXT_CACHE = 0
"""The page cache of libc.so.6: one file, so one set of text frames for everyone."""

_loads = itertools.count(1)


@dataclass(frozen=True)
class LibcImage:
    """glibc as one load mapped it; copied by value when fork copies the memory."""

    text: int  # the page cache its text comes from
    relro: int  # the private copies its load relocated


def load() -> LibcImage:
    """What the dynamic loader does at exec: map the text, write a fresh RELRO."""
    return LibcImage(text=TEXT_CACHE, relro=next(_loads))


def same(mine: LibcImage, theirs: LibcImage, part: str) -> bool:
    """Whether the pages of PART both have present map the same frames."""
    if part == "text":
        return mine.text == theirs.text
    return mine.relro == theirs.relro
