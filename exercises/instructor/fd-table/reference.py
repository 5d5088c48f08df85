"""The reference fd table (instructors only: keep it out of the students' repository)."""
from forklab.sim.files import FdTable


def copy_at_fork(parent: FdTable) -> FdTable:
    child = FdTable()
    for number, slot in parent.fds.items():
        child.install(number, slot.file, slot.cloexec)  # the same open file description
    return child


def close_on_exec(table: FdTable) -> None:
    for number, slot in list(table.fds.items()):
        if slot.cloexec:
            table.close(number)
