"""Your fd table: what fork gives the child, and what exec closes.

An fd table (forklab.sim.files.FdTable) maps fd numbers to slots:

    table.fds                 {number: Fd}; an Fd has .file (the open file
                              description: a pipe end, a file with its offset ...)
                              and .cloexec (the close-on-exec flag)
    FdTable()                 a new, empty table
    table.install(n, file, cloexec=False)
                              put `file` at number n (taking a reference on it)
    table.close(n)            close number n (dropping its reference)

Do not call table.copy() or table.close_on_exec(): those are what you write here.

Run the tests: pytest exercises/fd-table
"""
from forklab.sim.files import FdTable


def copy_at_fork(parent: FdTable) -> FdTable:
    """The child's fd table after fork (the parent's table stays as it is)."""
    raise NotImplementedError("copy_at_fork is not written yet (see student.py)")


def close_on_exec(table: FdTable) -> None:
    """What execve does to the calling process's fd table (change it in place)."""
    raise NotImplementedError("close_on_exec is not written yet (see student.py)")
