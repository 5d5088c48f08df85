"""A wrong fd table (a test fixture): exec closes every fd, flagged or not, so
a child that execs loses the pipe it was given on purpose."""
from forklab.sim.files import FdTable


def copy_at_fork(parent: FdTable) -> FdTable:
    child = FdTable()
    for number, slot in parent.fds.items():
        child.install(number, slot.file, slot.cloexec)
    return child


def close_on_exec(table: FdTable) -> None:
    for number in list(table.fds):
        table.close(number)
