"""The fd calls: open, memfd, shm_open, pipe, dup, dup2, close, cloexec, close_range,
writefd, readfd, lseek, pread, pwrite, ftruncate.

The objects (fd tables, open file descriptions, pipes, files) are
:mod:`forklab.sim.files`'; this module is the calls, the scratch directory's
path lookup, and the write and read paths of a pipe (a reader with nothing to
read, or a writer with no room, waits: :mod:`forklab.sim.waits`). The calls
that return a count or an offset record it for ``P.last_result`` (-1 when they
fail); tests/kernel_facts/proc_offsets.c settles their error numbers.
"""
from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING

from forklab.scenario import ops
from forklab.scenario.model import FdRef
from forklab.sim import libc_calls, mman, namespaces, programs, signal_calls
from forklab.sim.files import (
    MAX_FILE_PAGES,
    READ_SIZE,
    DevNull,
    Directory,
    Fd,
    MQueue,
    OpenFile,
    PidFd,
    Pipe,
    RegularFile,
)
from forklab.sim.memory import SharedObject
from forklab.sim.rlimits import fd_limit
from forklab.sim.syscall import HANDLERS, set_errno, set_result
from forklab.sim.waits import OnPipeData, OnPipeRoom
from forklab.vocabulary import PAGE

if TYPE_CHECKING:
    from forklab.sim.kernel import Kernel
    from forklab.sim.tasks import Process, Thread


def resolve(k: Kernel, path: str) -> tuple[str, RegularFile | None]:
    """Walk a scratch path as the kernel's lookup does: ("file", f), ("dir", None) or
    ("missing", None), or ("ENOENT" | "ENOTDIR", None) when a leading component is
    missing or is a regular file (a path through a file is ENOTDIR, not ENOENT)."""
    parts = path.split("/")
    dirs = _directories(k)
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if prefix in k.files:
            return "ENOTDIR", None
        if prefix not in dirs:
            return "ENOENT", None
    if path in k.files:
        return "file", k.files[path]
    return ("dir" if path in dirs else "missing"), None


def entries(k: Kernel, directory: str) -> set[str]:
    """The names in a scratch directory ("." the scratch directory itself), but . and .."""
    prefix = "" if directory == "." else directory + "/"
    return {path[len(prefix):].split("/")[0] for path in k.files if path.startswith(prefix)}


def open_directory(k: Kernel, proc: Process, thread: Thread, path: str,
                   name: str) -> int | None:
    """A directory opened read-only and close-on-exec on the lowest free fd, which
    the fd name binds; None after errno (EMFILE)."""
    number = proc.files.lowest_free(fd_limit(proc))
    _install_lowest(k, proc, thread, OpenFile(Directory(path), True, False), True, name)
    return number


def _directories(k: Kernel) -> set[str]:
    dirs = {"."}
    for path in k.files:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


def open_file(k: Kernel, path: str, write: bool, create: bool, truncate: bool = False,
              read: bool = True, append: bool = False) -> OpenFile | str:
    """Open a scratch path; an errno name on failure."""
    if path == "/dev/null":
        return OpenFile(DevNull(), readable=read, writable=write)
    kind, file = resolve(k, path)
    if kind == "dir":  # a directory opens read-only, and O_CREAT on one is EISDIR too
        return "EISDIR" if write or create else OpenFile(Directory(path), read, False)
    if kind == "missing":
        if not create:
            return "ENOENT"
        k.files[path] = file = RegularFile(path)
    if file is None:
        return kind  # ENOENT or ENOTDIR from a leading component
    if truncate:
        mman.truncate(k, file, 0)
    return OpenFile(file, readable=read, writable=write, append=append)


def _install_lowest(k: Kernel, proc: Process, thread: Thread, file: OpenFile,
                    cloexec: bool, name: str) -> None:
    """Give file the lowest free fd below the limit and bind name to it, or EMFILE."""
    number = proc.files.lowest_free(fd_limit(proc))
    if number is None:
        _no_fd(k, proc, thread, name)
        return
    proc.files.install(number, file, cloexec)
    k.names.fd_names[name] = number


def _no_fd(k: Kernel, proc: Process, thread: Thread, *names: str) -> None:
    set_errno(proc, thread, "EMFILE")
    for name in names:
        k.names.failed[name] = "EMFILE"


def _fail(proc: Process, thread: Thread, errno: str) -> None:
    """A call that returns a count or an offset failed: -1 and errno."""
    set_errno(proc, thread, errno)
    set_result(proc, thread, -1)


def _counted_slot(k: Kernel, proc: Process, thread: Thread, ref: FdRef) -> Fd | None:
    """The fd of a call that returns a count or an offset, or -1 and EBADF."""
    slot = _slot(k, proc, thread, ref)
    if slot is None:
        set_result(proc, thread, -1)
    return slot


def _slot(k: Kernel, proc: Process, thread: Thread, ref: FdRef) -> Fd | None:
    slot = proc.files.fds.get(k.names.fd_number(ref))
    if slot is None:
        set_errno(proc, thread, "EBADF")
    return slot


@HANDLERS.handles(ops.Open)
def op_open(k: Kernel, proc: Process, thread: Thread, op: ops.Open) -> None:
    mode = op.mode
    file = open_file(k, proc.fs.looked_up(op.path), write=mode in ("wo", "rw"), create=op.create,
                     read=mode in ("ro", "rw"), append=op.append)
    if isinstance(file, str):
        set_errno(proc, thread, file)
        k.names.failed[op.binds[0]] = file
        return
    _install_lowest(k, proc, thread, file, op.cloexec, op.binds[0])


@HANDLERS.handles(ops.Memfd)
def op_memfd(k: Kernel, proc: Process, thread: Thread, op: ops.Memfd) -> None:
    """memfd_create(2): a new, empty file in memory that only fds reach."""
    if proc.files.lowest_free(fd_limit(proc)) is None:
        _no_fd(k, proc, thread, op.binds[0])  # no fd, no file
        return
    path = f"/memfd:{op.name} ({next(_memfds)})"  # as /proc/PID/fd shows it, made unique
    _install_lowest(k, proc, thread, OpenFile(shmem_file(k, path), True, True), op.cloexec,
                    op.binds[0])


@HANDLERS.handles(ops.ShmOpen)
def op_shm_open(k: Kernel, proc: Process, thread: Thread, op: ops.ShmOpen) -> None:
    """glibc's shm_open(3): open("/dev/shm/NAME", O_RDWR | O_CLOEXEC [| O_CREAT])."""
    path = f"/dev/shm/{op.name}"
    cache = k.caches.get(path)
    if proc.files.lowest_free(fd_limit(proc)) is None:
        _no_fd(k, proc, thread, op.binds[0])  # the fd is taken before the name is looked up
        return
    if cache is None and not op.create:
        set_errno(proc, thread, "ENOENT")
        k.names.failed[op.binds[0]] = "ENOENT"
        return
    file = cache.file if cache is not None else shmem_file(k, path)
    _install_lowest(k, proc, thread, OpenFile(file, True, True), True, op.binds[0])


@HANDLERS.handles(ops.ShmUnlink)
def op_shm_unlink(k: Kernel, proc: Process, thread: Thread, op: ops.ShmUnlink) -> None:
    """shm_unlink(3): the name goes (ENOENT if there is none); the object lives on, as
    "/dev/shm/NAME (deleted)", while an fd or a mapping holds it, and a later
    `shm_open NAME create` makes a new one."""
    path = f"/dev/shm/{op.name}"
    cache = k.caches.pop(path, None)
    if cache is None or cache.file is None:
        set_errno(proc, thread, "ENOENT")
        return
    gone = f"{path} (deleted {next(_unlinked)})"
    cache.file.path = gone
    k.caches[gone] = cache


_unlinked = itertools.count(1)


@HANDLERS.handles(ops.MqOpen)
def op_mq_open(k: Kernel, proc: Process, thread: Thread, op: ops.MqOpen) -> None:
    """mq_open(3) of a new queue (its name removed at once: each call makes its own);
    the kernel makes its fd close-on-exec, always (tests/kernel_facts/proc_mqueue.c).
    It takes the fd first, then creates the inode: EOVERFLOW in a user namespace where
    the caller's ids have no mapping (tests/kernel_facts/proc_mq_userns.c)."""
    if proc.files.lowest_free(fd_limit(proc)) is None:
        _no_fd(k, proc, thread, op.binds[0])
        return
    if not namespaces.ids_mapped_for_ipc(k, thread):
        set_errno(proc, thread, "EOVERFLOW")
        k.names.failed[op.binds[0]] = "EOVERFLOW"
        return
    _install_lowest(k, proc, thread, OpenFile(MQueue(), True, True), True, op.binds[0])


def shmem_file(k: Kernel, path: str) -> RegularFile:
    """A new file of a memory file system (tmpfs: memfd and /dev/shm), with its page
    cache: a page is in it once written, and a hole (a page ftruncate only made
    room for) is not until something touches it."""
    file = RegularFile(path)
    k.caches[path] = SharedObject(k.memory, MAX_FILE_PAGES, populated=False, file=file)
    return file


_memfds = itertools.count(1)


def mappable(k: Kernel, proc: Process, thread: Thread, op: ops.Mmap) -> SharedObject | None:
    """The page cache an `mmap ... fd=FD` maps, or None after errno: EBADF (no such
    fd), EACCES (not open for reading; or a shared writable mapping of an fd not
    open for writing), EPERM (`rx` of a pipe, a pidfd or a message queue: their file systems
    are noexec, and do_mmap checks that before it asks whether the file can be mapped at
    all), ENODEV (nothing that can be mapped: a pipe, /dev/null, a directory, a pidfd),
    in the kernel's order (do_mmap)."""
    assert op.fd is not None
    slot = _slot(k, proc, thread, op.fd)
    if slot is None:
        return None
    file = slot.file
    if (op.share == "shared" and op.prot == "rw" and not file.writable) or not file.readable:
        set_errno(proc, thread, "EACCES")
        return None
    if op.prot == "rx" and isinstance(file.obj, (Pipe, PidFd, MQueue)):
        set_errno(proc, thread, "EPERM")
        return None
    if not isinstance(file.obj, RegularFile):
        set_errno(proc, thread, "ENODEV")
        return None
    cache = k.caches.get(file.obj.path)
    if cache is None or cache.file is not file.obj:  # a scratch file: its pages are cached
        cache = k.caches[file.obj.path] = SharedObject(k.memory, op.size // PAGE,
                                                       populated=False, file=file.obj)
        cache.frames(0, min(cache.pages.size, file.obj.pages))
    cache.resize(op.size // PAGE)
    return cache


@HANDLERS.handles(ops.Pipe)
def op_pipe(k: Kernel, proc: Process, thread: Thread, op: ops.Pipe) -> None:
    pipe = Pipe()
    read_end = OpenFile(pipe, readable=True, writable=False, end="r")
    write_end = OpenFile(pipe, readable=False, writable=True, end="w")
    first = proc.files.lowest_free(fd_limit(proc))
    if first is None or proc.files.lowest_free(fd_limit(proc), first + 1) is None:
        _no_fd(k, proc, thread, *op.binds)  # pipe2 takes both fds or neither
        return
    _install_lowest(k, proc, thread, read_end, op.cloexec, op.binds[0])
    _install_lowest(k, proc, thread, write_end, op.cloexec, op.binds[1])


@HANDLERS.handles(ops.Dup)
def op_dup(k: Kernel, proc: Process, thread: Thread, op: ops.Dup) -> None:
    slot = _slot(k, proc, thread, op.fd)
    if slot is not None:
        _install_lowest(k, proc, thread, slot.file, op.cloexec, op.binds[0])


@HANDLERS.handles(ops.Dup2)
def op_dup2(k: Kernel, proc: Process, thread: Thread, op: ops.Dup2) -> None:
    slot = _slot(k, proc, thread, op.fd)
    if slot is not None and k.names.fd_number(op.fd) != op.num:
        proc.files.install(op.num, slot.file, cloexec=False)


@HANDLERS.handles(ops.Close)
def op_close(k: Kernel, proc: Process, thread: Thread, op: ops.Close) -> None:
    if not proc.files.close(k.names.fd_number(op.fd)):
        set_errno(proc, thread, "EBADF")


@HANDLERS.handles(ops.Cloexec)
def op_cloexec(k: Kernel, proc: Process, thread: Thread, op: ops.Cloexec) -> None:
    slot = _slot(k, proc, thread, op.fd)
    if slot is not None:
        slot.cloexec = op.on


@HANDLERS.handles(ops.CloseRange)
def op_close_range(k: Kernel, proc: Process, thread: Thread, op: ops.CloseRange) -> None:
    lo, hi = op.lo, op.hi
    if hi is not None and hi < lo:
        set_errno(proc, thread, "EINVAL")
        return
    for number in proc.files.numbers():
        if number >= lo and (hi is None or number <= hi):
            if op.cloexec:
                proc.files.fds[number].cloexec = True
            else:
                proc.files.close(number)


@HANDLERS.handles(ops.Writefd)
def op_writefd(k: Kernel, proc: Process, thread: Thread, op: ops.Writefd) -> None:
    slot = _counted_slot(k, proc, thread, op.fd)
    if slot is None:
        return
    obj = slot.file.obj
    if slot.file.writable and isinstance(obj, Pipe) and not obj.collector:
        k.block(proc, thread, op, OnPipeRoom(obj, op.data.encode(), returns=True))
    elif write(k, proc, thread, slot.file, op.data):
        set_result(proc, thread, len(op.data.encode()))
    else:
        set_result(proc, thread, -1)


def pipe_write(k: Kernel, proc: Process, thread: Thread, wait: OnPipeRoom) -> OnPipeRoom | None:
    """write(2) to a pipe: what fits goes in at once; the writer waits for a reader
    to make room for the rest. With no reader left: SIGPIPE, and EPIPE if nothing
    was written."""
    pipe, data, done = wait.pipe, wait.data, wait.done
    if pipe.readers == 0:
        signal_calls.send(k, proc, "SIGPIPE", thread)
        if not proc.ended and done == 0:
            set_errno(proc, thread, "EPIPE")
        if not proc.ended and wait.returns:
            set_result(proc, thread, done or -1)
        return None
    done += pipe.put(data[done:], merge=not wait.started)
    if done < len(data):
        return replace(wait, done=done, started=True)
    if wait.returns:
        set_result(proc, thread, done)
    return None


def pipe_put(k: Kernel, proc: Process, thread: Thread, wait: OnPipeRoom) -> OnPipeRoom | None:
    """A writer waiting on a full pipe tries again; once its write is done, what the
    caller had left goes on: stdio's later writes and exit(), or /bin/cat's copy."""
    left = pipe_write(k, proc, thread, wait)
    if left is not None or proc.ended:
        return left
    if proc.program is not None:
        programs.wrote(k, proc, failed=wait.pipe.readers == 0)
        return None
    if wait.file_after is None:  # writefd: nothing follows
        return None
    return libc_calls.stdio_writes(k, proc, thread, wait.after, wait.file_after,
                                   wait.exit_code)


def write(k: Kernel, proc: Process, thread: Thread, file: OpenFile, text: str) -> bool:
    """write(2) of text to an open file that is not a pipe a reader empties (those
    are :func:`pipe_write`'s): a regular file, /dev/null, forklab's stdout and stderr.
    False if it failed."""
    if not file.writable:
        set_errno(proc, thread, "EBADF")
        return False
    obj = file.obj
    if isinstance(obj, Pipe):
        assert obj.collector, "a pipe a reader empties is written by pipe_write"
        obj.collect(text)
    elif isinstance(obj, RegularFile):
        file.offset = _store(k, obj, obj.size if file.append else file.offset, text.encode())
    elif isinstance(obj, (PidFd, MQueue)):
        set_errno(proc, thread, "EINVAL")
        return False
    return True


def _store(k: Kernel, file: RegularFile, at: int, data: bytes) -> int:
    """Write data into a file at ``at`` (its page cache sees it); where it ends."""
    file.write(at, data)
    if data:
        cache = k.caches.get(file.path)
        if cache is not None and cache.file is file:
            cache.file_written(at, len(data))
    return at + len(data)


@HANDLERS.handles(ops.Readfd)
def op_readfd(k: Kernel, proc: Process, thread: Thread, op: ops.Readfd) -> None:
    slot = _counted_slot(k, proc, thread, op.fd)
    if slot is None:
        return
    file = slot.file
    if not file.readable:
        _fail(proc, thread, "EBADF")
        return
    obj = file.obj
    if file.offset + READ_SIZE > LARGEST_OFFSET:
        # vfs_read checks the range (rw_verify_area) before the file system's read:
        # a directory read to its end (ext4's end is the largest offset) is EINVAL,
        # not EISDIR (tests/kernel_facts/proc_dir_read.c)
        _fail(proc, thread, "EINVAL")
    elif isinstance(obj, Pipe):
        k.block(proc, thread, op, OnPipeData(obj))
    elif isinstance(obj, (RegularFile, MQueue)):
        data = obj.read(file.offset, READ_SIZE)
        file.offset += len(data)
        _got(proc, thread, data)
    elif isinstance(obj, DevNull):
        _got(proc, thread, b"")
    else:
        _fail(proc, thread, "EISDIR" if isinstance(obj, Directory) else "EINVAL")


def _got(proc: Process, thread: Thread, data: bytes) -> None:
    """A read that returned data: ``P.last_read`` shows it, ``P.last_result`` its length."""
    proc.last_read = data.decode(errors="replace")
    set_result(proc, thread, len(data))


def pipe_read(proc: Process, thread: Thread, wait: OnPipeData) -> OnPipeData | None:
    """read(2) of a pipe: what is there, end-of-file once no writer is left, or wait."""
    pipe = wait.pipe
    if pipe.bufs:
        _got(proc, thread, pipe.take(READ_SIZE))
        return None
    if pipe.writers == 0:
        _got(proc, thread, b"")
        return None
    return wait


def _positioned(k: Kernel, proc: Process, thread: Thread, ref: FdRef,
                seek: bool = False) -> OpenFile | None:
    """The open file of an lseek, pread or pwrite, or None after -1 with EBADF (no
    such fd) or ESPIPE (a pipe has no offset; a pidfd none to seek)."""
    slot = _counted_slot(k, proc, thread, ref)
    if slot is None:
        return None
    if isinstance(slot.file.obj, Pipe) or (seek and isinstance(slot.file.obj, PidFd)):
        _fail(proc, thread, "ESPIPE")
        return None
    return slot.file


LARGEST_OFFSET = (1 << 63) - 1  # loff_t's
DIRECTORY_END = LARGEST_OFFSET
"""Where ``lseek`` puts a directory's end, and the largest offset it takes: ext4's
(a hashed directory's end of file), the file system forklab's scratch sits on here."""


@HANDLERS.handles(ops.Lseek)
def op_lseek(k: Kernel, proc: Process, thread: Thread, op: ops.Lseek) -> None:
    file = _positioned(k, proc, thread, op.fd, seek=True)
    if file is None:
        return
    obj = file.obj
    if isinstance(obj, DevNull):  # null_lseek: the offset is always 0
        set_result(proc, thread, 0)
        return
    end = obj.size if isinstance(obj, (RegularFile, MQueue)) else DIRECTORY_END
    base = {"set": 0, "cur": file.offset, "end": end}[op.whence]
    if not 0 <= base + op.offset <= DIRECTORY_END:
        _fail(proc, thread, "EINVAL")
        return
    file.offset = base + op.offset
    set_result(proc, thread, file.offset)


@HANDLERS.handles(ops.Pread)
def op_pread(k: Kernel, proc: Process, thread: Thread, op: ops.Pread) -> None:
    file = _positioned(k, proc, thread, op.fd)
    if file is None:
        return
    if not file.readable:
        _fail(proc, thread, "EBADF")
    elif isinstance(file.obj, (RegularFile, MQueue)):
        _got(proc, thread, file.obj.read(op.offset, op.count))
    elif isinstance(file.obj, DevNull):
        _got(proc, thread, b"")
    else:
        _fail(proc, thread, "EISDIR" if isinstance(file.obj, Directory) else "EINVAL")


@HANDLERS.handles(ops.Pwrite)
def op_pwrite(k: Kernel, proc: Process, thread: Thread, op: ops.Pwrite) -> None:
    """pwrite(2): at OFFSET, or at the end on an O_APPEND description (Linux's
    choice, which POSIX calls a bug); the offset stays where it was."""
    file = _positioned(k, proc, thread, op.fd)
    if file is None:
        return
    data = op.data.encode()
    if not file.writable:
        _fail(proc, thread, "EBADF")
        return
    if isinstance(file.obj, (PidFd, MQueue)):
        _fail(proc, thread, "EINVAL")
        return
    if isinstance(file.obj, RegularFile):
        _store(k, file.obj, file.obj.size if file.append else op.offset, data)
    set_result(proc, thread, len(data))


@HANDLERS.handles(ops.Ftruncate)
def op_ftruncate(k: Kernel, proc: Process, thread: Thread, op: ops.Ftruncate) -> None:
    """ftruncate(2): a regular file open for writing, or EINVAL; the offset stays."""
    slot = _counted_slot(k, proc, thread, op.fd)
    if slot is None:
        return
    file = slot.file
    if isinstance(file.obj, PidFd):  # pidfs refuses to change its inodes (Linux 6.9)
        _fail(proc, thread, "EOPNOTSUPP")
        return
    if isinstance(file.obj, MQueue) and file.writable:  # it sets only the inode's size
        file.obj.size = op.size
        set_result(proc, thread, 0)
        return
    if not (file.writable and isinstance(file.obj, RegularFile)):
        _fail(proc, thread, "EINVAL")
        return
    mman.truncate(k, file.obj, op.size)
    set_result(proc, thread, 0)
