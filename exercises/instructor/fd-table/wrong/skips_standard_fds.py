"""A wrong fd table (a test fixture): fork copies only the fds the program
opened itself (3 and up), as if 0, 1 and 2 were set up anew; the child's
output then goes nowhere."""
from forklab.sim.files import FdTable


def copy_at_fork(parent: FdTable) -> FdTable:
    child = FdTable()
    for number, slot in parent.fds.items():
        if number > 2:
            child.install(number, slot.file, slot.cloexec)
    return child


def close_on_exec(table: FdTable) -> None:
    for number, slot in list(table.fds.items()):
        if slot.cloexec:
            table.close(number)
