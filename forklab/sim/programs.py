"""The programs a scenario may exec, and the time they run in.

``/bin/true`` and ``/bin/false`` end at once, ``/bin/sleep N`` when scenario
time reaches its end, ``/bin/cat`` copies its stdin to its stdout until
end-of-file, waiting for room when its output is a full pipe. The kernel lets
them run after every op (:meth:`forklab.sim.kernel.Kernel.settle`), and an op
that only a timed program's end can finish waits for it (the rule is the
language's: :func:`forklab.scenario.contract.timed_enders`).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.contract import timed_enders
from forklab.sim import exit_wait, fdops, signal_calls, timers
from forklab.sim.files import Directory, MQueue, OpenFile, Pipe, RegularFile
from forklab.sim.rlimits import fd_limit
from forklab.sim.syscall import HANDLERS
from forklab.sim.waits import OnChild, OnPipeData, OnPipeRoom, OnTime, Wait

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


@HANDLERS.handles(ops.Sleep)
def op_sleep(k: Kernel, proc: Process, thread: Thread, op: ops.Sleep) -> None:
    """nanosleep: time passes, one timed program's end or timer's expiry at a time, so
    that a caught signal (the SIGCHLD of a child that ends, a SIGALRM) cuts the sleep
    short with EINTR."""
    end = k.now + op.seconds
    k.block(proc, thread, op, OnTime(end))
    while thread.waiting is not None and thread.waiting.op is op and not proc.ended:
        ends = [p.program_until for p in k.processes.values()
                if not p.ended and p.program_until is not None and p.program_until > k.now]
        expiry = timers.next_expiry(k)
        k.now = min([end, *ends, *([expiry] if expiry is not None else [])])
        _fire_timers(k)
        k.settle()


def _fire_timers(k: Kernel) -> None:
    """Each timer that expired sends its process SIGALRM."""
    for target in timers.fire(k):
        signal_calls.send(k, target, "SIGALRM")


class ModelPrograms:
    """The model's answers to :class:`forklab.scenario.contract.Programs`: a wait is
    the record a waiting thread holds."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def enders(self, waiter: Process, wait: Wait) -> Iterable[Process]:
        programs = [p for p in self.kernel.processes.values()
                    if not p.ended and p.program is not None and p is not waiter]
        if isinstance(wait, OnChild):
            return [p for p in programs if p.name == wait.child]
        if isinstance(wait, (OnPipeData, OnPipeRoom)):
            return [p for p in programs
                    if any(s.file.obj is wait.pipe for s in p.files.fds.values())]
        return []

    def timed(self, program: Process) -> bool:
        return program.program_until is not None and not program.stopped

    def wait_of(self, program: Process) -> Wait | None:
        waiting = program.main.waiting if program.blocked else None
        if waiting is not None:  # cat's write to a full pipe
            return waiting.on
        if not stalled(program):
            return None
        stdin = program.files.fds[0].file.obj
        assert isinstance(stdin, Pipe)
        return OnPipeData(stdin)


def let_timed_programs_end(k: Kernel, proc: Process, thread: Thread, op: ops.Op) -> None:
    """An op just issued that only a timed program's end can finish waits for it:
    time passes until no such sleeper is left. An op already blocked is finished by
    a later `sleep` (tests/scenarios/timed-programs.toml)."""
    if not isinstance(op, (ops.Wait, ops.Readfd)):
        return
    programs = ModelPrograms(k)
    while thread.waiting is not None and thread.waiting.op is op and not proc.ended:
        sleepers = timed_enders(proc, thread.waiting.on, programs).timed
        if not sleepers:
            return
        k.now = max(k.now, min(p.program_until or 0.0 for p in sleepers))
        _fire_timers(k)
        k.settle()


def run(k: Kernel, proc: Process) -> bool:
    """Let an exec'd program run as far as it can; True if anything changed."""
    program = proc.program
    assert program is not None
    if program.path == "/bin/true":
        exit_wait.die(k, proc, code=0)
    elif program.path == "/bin/false":
        exit_wait.die(k, proc, code=1)
    elif program.path == "/bin/sleep":
        if proc.program_until is not None and k.now + 1e-9 >= proc.program_until:
            exit_wait.die(k, proc, code=0)
        else:
            return False
    elif program.path == "/bin/cat":
        return _run_cat(k, proc)
    return True


def stalled(proc: Process) -> bool:
    """Whether an exec'd program waits for input that has not come (cat on a pipe)."""
    if proc.ended or proc.cat is None or _cat_input(proc) != "-":
        return False
    src = proc.files.fds.get(0)
    return src is not None and isinstance(src.file.obj, Pipe) and not src.file.obj.bufs \
        and src.file.obj.writers > 0


CAT_BUFFER = 128 * 1024  # GNU cat's read size: io_blksize, at least 128 KiB


def _cat_input(proc: Process) -> str | None:
    """The input cat is on: a path, "-" (its stdin, also when it has no arguments), or
    None once it has been through them all."""
    assert proc.cat is not None and proc.program is not None
    inputs = proc.program.args or ("-",)
    return inputs[proc.cat.index] if proc.cat.index < len(inputs) else None


def _run_cat(k: Kernel, proc: Process) -> bool:
    """GNU cat 9.1 without options (src/cat.c: main, simple_cat; copy_cat moves the
    same bytes between regular files): fstat stdout (closed: status 1), then each
    input in turn (its arguments, "-" its stdin, the default): open it (a failure is
    reported and cat goes on with the next), fstat it, skip one that is the output,
    then read a block and write all of it, once per call (the kernel calls again
    while it makes progress: a cat that feeds itself stays within the bound on work)
    until end of file, and close it. A failed read (EBADF, EISDIR) ends that input;
    cat's status is 1 if any input failed. A failed write ends it with status 1 at
    once; SIGPIPE, unless ignored or blocked, ends it first. A write to a full pipe
    waits for room (:func:`forklab.sim.fdops.pipe_put` goes on with :func:`wrote`);
    cat reads nothing meanwhile. True if it did anything."""
    state = proc.cat
    assert state is not None
    dst = proc.files.fds.get(1)
    if dst is None:
        exit_wait.die(k, proc, code=1)
        return True
    name = _cat_input(proc)
    if name is None:
        exit_wait.die(k, proc, code=0 if state.ok else 1)
        return True
    if not state.started:
        state.started = True
        if name != "-":
            opened = fdops.open_file(k, name, write=False, create=False)
            number = proc.files.lowest_free(fd_limit(proc))
            if isinstance(opened, str) or number is None:
                _next_input(proc, ok=False)  # "cat: NAME: No such file or directory"
                return True
            proc.files.install(number, opened)
            state.fd = number
        src = proc.files.fds.get(0 if state.fd is None else state.fd)
        if src is None or _input_is_output(src.file, dst.file):  # fstat: EBADF
            _next_input(proc, ok=False)
            return True
    src = proc.files.fds.get(0 if state.fd is None else state.fd)
    assert src is not None  # cat's own fd, or a stdin only cat could close
    obj, out = src.file.obj, dst.file
    if not src.file.readable or isinstance(obj, Directory):  # EBADF, EISDIR
        _next_input(proc, ok=False)
        return True
    if isinstance(obj, Pipe):
        if not obj.bufs and obj.writers > 0:
            return False
        data = obj.take(CAT_BUFFER)
    elif isinstance(obj, (RegularFile, MQueue)):
        data = obj.read(src.file.offset, CAT_BUFFER)
        src.file.offset += len(data)
    else:
        data = b""
    if not data:
        _next_input(proc, ok=True)
    elif out.writable and isinstance(out.obj, Pipe) and not out.obj.collector:
        assert k.op is not None
        k.block(proc, proc.main, k.op, OnPipeRoom(out.obj, data))  # pipe_put: wrote()
    else:
        wrote(k, proc, failed=not fdops.write(k, proc, proc.main, out,
                                              data.decode(errors="replace")))
    return True


def _next_input(proc: Process, ok: bool) -> None:
    """Done with this input: close the file cat opened for it, go on to the next."""
    state = proc.cat
    assert state is not None
    if state.fd is not None:
        proc.files.close(state.fd)
    proc.cat = replace(state, index=state.index + 1, fd=None, started=False,
                       ok=state.ok and ok)


def _input_is_output(src: OpenFile, dst: OpenFile) -> bool:
    """cat's "-: input file is output file": stdout is a regular file, stdin the same
    file, and stdin's offset is before its end (tests/scenarios/cat-edges.toml)."""
    return isinstance(dst.obj, RegularFile) and src.obj is dst.obj \
        and src.offset < dst.obj.size


def wrote(k: Kernel, proc: Process, failed: bool) -> None:
    """cat's full_write returned: a failure ("write error") ends cat with status 1."""
    if failed and not proc.ended:
        exit_wait.die(k, proc, code=1)
