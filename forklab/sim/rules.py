"""The pieces of the model an exercise may replace, passed to the kernel.

Each is a plain function with the kernel's own behaviour as its default; the
course's exercises (exercises/) pass a student's version instead, and the
rest of the model runs unchanged around it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from forklab.sim.files import FdTable
from forklab.sim.memory import WriteFaultRule, decide_write_fault


@dataclass(frozen=True)
class Rules:
    """write_fault: reuse or copy on a write-protect fault (``do_wp_page``);
    copy_files: the child's fd table at fork, and exec's unshare (``dup_fd``);
    close_on_exec: what exec does to the fd table (``do_close_on_exec``)."""

    write_fault: WriteFaultRule = decide_write_fault
    copy_files: Callable[[FdTable], FdTable] = FdTable.copy
    close_on_exec: Callable[[FdTable], None] = FdTable.close_on_exec


KERNEL = Rules()
"""The kernel's own rules."""
