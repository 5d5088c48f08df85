"""A wrong fd table (a test fixture): fork gives the child new open file
descriptions (copies of the parent's), so parent and child no longer share an
offset, and same_file says False."""
import copy

from forklab.sim.files import FdTable


def copy_at_fork(parent: FdTable) -> FdTable:
    child = FdTable()
    for number, slot in parent.fds.items():
        child.install(number, copy.copy(slot.file), slot.cloexec)
    return child


def close_on_exec(table: FdTable) -> None:
    for number, slot in list(table.fds.items()):
        if slot.cloexec:
            table.close(number)
