"""A deliberately wrong fd table (a test fixture): fork forgets the close-on-exec flags.

A classic: the child gets every fd, sharing each open file description, but as
if the flag were set per process by exec rather than kept in each fd slot. A
pipe's write end marked close-on-exec then survives the child's exec, and the
parent's reader never sees end-of-file.
"""
from forklab.sim.files import FdTable


def copy_at_fork(parent: FdTable) -> FdTable:
    child = FdTable()
    for number, slot in parent.fds.items():
        child.install(number, slot.file)
    return child


def close_on_exec(table: FdTable) -> None:
    for number, slot in list(table.fds.items()):
        if slot.cloexec:
            table.close(number)
