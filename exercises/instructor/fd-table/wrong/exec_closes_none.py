"""A wrong fd table (a test fixture): exec keeps every fd, so a close-on-exec
write end leaks into the new program and the reader never sees end-of-file."""
from forklab.sim.files import FdTable


def copy_at_fork(parent: FdTable) -> FdTable:
    child = FdTable()
    for number, slot in parent.fds.items():
        child.install(number, slot.file, slot.cloexec)
    return child


def close_on_exec(table: FdTable) -> None:
    return None
