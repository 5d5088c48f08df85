"""The driver: starts probes, talks to each task over its channel, and waits
for the world to settle after every op.

Mechanics only; what the ops mean is in :mod:`forklab.real.backend`.

Channels. Every task (a process's main thread, or a `thread`) has a
SOCK_SEQPACKET socket of its own; the probe's end sits at a high fd
(>= the run's fd floor, close-on-exec). The first probe gets its end from
posix_spawn; a fork/vfork/clone child or a new thread gets a fresh
socketpair end, passed to the creating task over SCM_RIGHTS with the
command (the child keeps it and closes the rest of forklab's fds); a probe
that `spawn` starts connects to a unix socket the driver listens on (its path
and a random token in its environment), so no scenario file action —
closefrom included — can break its channel; `exec probe` keeps the one
channel it clears close-on-exec for.

Trust. The listening socket lives in a directory of its own that only
forklab's user can enter, so no other local user can even connect to it; a
connection is kept only when the kernel says (SO_PEERCRED) that its peer runs
as forklab's user, is a child of the probe that spawned it, and names the
token of that spawn. Every pid a probe reports is checked against the kernel
before the run adopts it (it must be a child of the process that created it),
so the run never signals or reads a process it did not create (see
docs/security.md).

Settling. After an op is sent, :meth:`Driver.settle` pumps messages until
every op in flight has completed, or is *blocked*: its task sleeps in a
system call other than reading its channel, while every task of every
process sleeps too (none runnable, no deliverable signal pending, no real
program in a timed sleep that could still end), twice in a row a few
milliseconds apart. So a wait that can never end is seen within
milliseconds, from the kernel's own state, not from a timeout. A blocked
wait for a process that has since ended is in flight again: the parent
reaps inside the call, asleep, after the child's pidfd said it ended.
"""
from __future__ import annotations

import errno as errno_mod
import fcntl
import functools
import os
import resource
import secrets
import select
import shutil
import signal
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forklab.observe import STDOUT_KEPT
from forklab.real import procfs
from forklab.real._native import ffi, lib
from forklab.real.guard import GUARD_NAME, Guard, GuardError, guard
from forklab.real.scratch import make_dir
from forklab.scenario.contract import timed_enders

REPLY_SIZE = ffi.sizeof("struct fl_reply")
DEATH_FAULTS = {lib.FL_R_BEGIN: "begin_minflt", lib.FL_R_FAULTED: "death_minflt"}
"""The messages of an access loop that may kill its process, and where their count goes."""
PROBE_NAME = "forklab-probe"
KEPT_BYTES = 4 * STDOUT_KEPT  # UTF-8 takes at most 4 bytes a character
MAX_SOCKET_PATH = 108  # sizeof(sockaddr_un.sun_path), the terminating NUL included

RECVMSG = procfs.SYSCALLS["recvmsg"]
WAIT4, WAITID = procfs.SYSCALLS["wait4"], procfs.SYSCALLS["waitid"]
P_ALL, P_PID = 0, 1  # waitid's idtypes: any child, one pid
ANY_CHILD = (1 << 32) - 1  # wait4's pid -1, as a pid_t's 32 bits
WCLONE, WALL = 0x80000000, 0x40000000  # the wait options __WCLONE and __WALL
STOPPED = (-1, ())
"""What a task whose process is stopped "waits in": it stays put until SIGCONT."""
RELEASE_WAIT_S = 2.0  # a dead process's release takes microseconds; a loaded machine, more
RELEASE_POLL_S = 0.0002


class KernelPrograms:
    """The kernel's answers to :class:`forklab.scenario.contract.Programs`: a wait
    is the system call a task sleeps in, with its arguments. A probe never acts on
    its own, so only the run's other programs are asked about."""

    def __init__(self, driver: Driver, sleepers: list[Proc]) -> None:
        self.driver = driver
        self.sleepers = sleepers  # the programs seen in a timed sleep

    def enders(self, waiter: Proc, call: tuple[int, tuple[int, ...]]) -> list[Proc] | None:
        nr, args = call
        programs = [p for p in self.driver.procs.values()
                    if not p.dead and p.image != "probe" and p is not waiter]
        if nr in (procfs.SYSCALLS["wait4"], procfs.SYSCALLS["waitid"]):
            pid = args[1] if nr == procfs.SYSCALLS["waitid"] else args[0]
            pid = pid - (1 << 64) if pid >= 1 << 63 else pid
            # the pid as the waiter numbers it (in a PID namespace the run made, its own)
            return [p for p in programs if pid <= 0 or waiter.pid_of(p) == pid]
        if nr == procfs.SYSCALLS["read"] and args:
            mine = procfs.fd_target(waiter.pid, args[0])
            if mine is None:
                return None
            return [p for p in programs if mine in procfs.fd_targets(p.pid)]
        return []

    def timed(self, program: Proc) -> bool:
        return program in self.sleepers

    def wait_of(self, program: Proc) -> tuple[int, tuple[int, ...]] | None:
        return procfs.task_syscall(program.pid, program.pid)


class DriverError(Exception):
    """Something forklab itself could not do (not the scenario's fault)."""


class RunTimeout(DriverError):
    """The run went past its wall-clock bound."""


class RunCancelled(DriverError):
    """Whoever started the run no longer wants it (the lesson player quits)."""


@dataclass
class Reply:
    kind: int
    err: int
    v: tuple[int, ...]
    data: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Reply:
        if len(raw) < REPLY_SIZE:
            raise DriverError(f"short message from a probe ({len(raw)} bytes)")
        reply = ffi.cast("struct fl_reply *", ffi.from_buffer(raw))
        return cls(reply.kind, reply.err, tuple(reply.v), raw[REPLY_SIZE:])


@dataclass(eq=False)
class Task:
    proc: Proc
    thread: str | None  # None: the main thread
    sock: socket.socket | None
    chan_fd: int
    tid: int
    flight: Flight | None = None
    errno_addr: int = 0  # its own errno (threads; the main thread's is Proc.errno_addr)
    attrs_addr: int = 0  # its struct fl_task_attrs (threads; the main's is Proc.attrs_addr)
    gone: bool = False
    suspended: bool = False  # waits in vfork until the child execs or exits


@dataclass(eq=False)
class Proc:
    name: str
    pid: int
    pidfd: int
    starttime: int
    parent: str | None
    main: Task | None = None
    threads: dict[str, Task] = field(default_factory=dict)
    image: str = "probe"  # or the program it exec'd
    errno_addr: int = 0
    state_addr: int = 0
    attrs_addr: int = 0  # the main thread's struct fl_task_attrs (0: none)
    dead: bool = False
    reaped: bool = False
    wait_status: int | None = None
    faults: int = 0  # this step
    minflt: int = 0
    spawn_us: float | None = None
    last_read: str | None = None
    last_result: int | None = None  # what the main thread's last counting call returned
    last_waited: int | None = None  # the pid the last wait returned (observe.ProcessObs)
    waited: bool = False  # a scenario wait's reply reaped it
    last_wait_status: str | None = None
    lock_result: int | str | None = None
    reaper_is_driver: bool = False
    pid_namespaces: tuple[int, ...] = ()  # the PID namespaces (inodes) from the first
    # process's down to its own: one more for each the run made above it
    ns_pids: tuple[int, ...] = ()  # its NSpid: its pid in /proc's namespace, then below

    def sees(self, other: Proc) -> bool:
        """Whether other's PID namespace is this one's or below it (it has a pid here)."""
        mine = self.pid_namespaces
        return other.pid_namespaces[:len(mine)] == mine

    def pid_of(self, other: Proc, tid: int | None = None) -> int | None:
        """other's pid (or its thread tid's id) as this process numbers it; None if it
        has none here, or is gone from /proc."""
        if not self.sees(other):
            return None
        if len(self.pid_namespaces) <= 1:
            return other.pid if tid is None else tid
        numbers = procfs.ns_pids(other.pid, tid) if tid is not None else other.ns_pids
        below = len(other.pid_namespaces) - len(self.pid_namespaces)
        return numbers[-1 - below] if numbers and len(numbers) > below else None

    @property
    def suspended(self) -> bool:
        """Whether the main thread waits in vfork (vfork stops only its caller;
        the process's state is its main thread's)."""
        return self.main is not None and self.main.suspended

    @property
    def tasks(self) -> list[Task]:
        out = [] if self.main is None else [self.main]
        return out + list(self.threads.values())


@dataclass(eq=False)
class Flight:
    """An op sent to a task, until it completes (or forever, if blocked)."""

    task: Task
    # op, fork, vfork, clone, thread, spawn, exec_probe, exec_prog, exit, thread_exit,
    # init, resume
    kind: str
    what: str  # the op's text, for messages
    on_done: Callable[[Flight], None] | None = None
    blockable: bool = True
    passive: bool = False  # settle does not wait for it (a vfork parent's resume)
    reply: Reply | None = None
    hello: Reply | None = None
    hello_sock: socket.socket | None = None
    token: int = 0
    blocked: bool = False
    blocked_in: tuple[int, tuple[int, ...]] | None = None  # the call it was found blocked in
    done: bool = False
    cancelled: bool = False
    exec_seen: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def guard_path() -> str:
    """Where the installed guard program is (beside the extension)."""
    return _resolved(os.path.join(os.path.dirname(__file__), GUARD_NAME))


def probe_path() -> str:
    """Where the installed probe program is (FORKLAB_PROBE overrides)."""
    return _resolved(os.environ.get("FORKLAB_PROBE") or
                     os.path.join(os.path.dirname(__file__), PROBE_NAME))


@functools.lru_cache(maxsize=8)
def _resolved(path: str) -> str:
    """A program's real path, looked up once: every run starts one."""
    return os.path.realpath(path)


class Output:
    """A pipe the scenario writes into (its stdout or stderr), drained whenever the
    driver looks (each pump, and before it decides all is quiet), so that a writer a
    full pipe put to sleep is woken before the run is read; keeps only its start
    (enough bytes for STDOUT_KEPT characters), as the model does. Nothing in a run
    writes while the driver is not looking: processes run only in the ops it applies
    and settles (a draining thread per pipe cost each run two threads)."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.data = bytearray()
        self.eof = False

    def drain(self) -> None:
        while not self.eof:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                self.eof = True
                return
            if not chunk:
                self.eof = True
                return
            self.data += chunk[:max(0, KEPT_BYTES - len(self.data))]

    def unread(self) -> bool:
        """Whether bytes wait in the pipe: a writer blocked on a full pipe is asleep,
        but the next drain wakes it."""
        try:
            return fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0") != b"\0\0\0\0"
        except OSError:
            return False

    def text(self) -> str:
        self.drain()
        return self.data.decode("utf-8", "replace")[:STDOUT_KEPT]

    def close(self) -> None:
        self.drain()
        try:
            os.close(self.fd)
        except OSError:
            pass


_subreaper_lock = threading.Lock()
_subreaper_users = 0
_subreaper_before = 0


def _subreaper_acquire() -> None:
    global _subreaper_users, _subreaper_before
    with _subreaper_lock:
        if _subreaper_users == 0:
            _subreaper_before = max(lib.fl_get_subreaper(), 0)
            rc = lib.fl_set_subreaper(1)
            if rc < 0:
                raise DriverError(f"PR_SET_CHILD_SUBREAPER failed: {os.strerror(-rc)}")
        _subreaper_users += 1


def _subreaper_release() -> None:
    global _subreaper_users
    with _subreaper_lock:
        _subreaper_users -= 1
        if _subreaper_users == 0 and not _subreaper_before:
            lib.fl_set_subreaper(0)


class Driver:
    """The live processes of one run, their channels, and the settle loop."""

    def __init__(self, scratch: str, timeout: float,
                 cancel: threading.Event | None = None, fd_floor: int = lib.FL_FD_MIN) -> None:
        self.scratch = scratch
        self.probe = probe_path()
        if not os.access(self.probe, os.X_OK):
            raise DriverError(f"the probe program is missing ({self.probe}); "
                              "build it with: pip install . (Linux, with a C compiler)")
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < fd_floor + lib.FL_FD_RESERVE:
            raise DriverError(f"forklab keeps its own fds at {fd_floor} and above in every "
                              f"scenario process (above every fd this scenario can have), "
                              f"but the fd limit is {soft}: raise it to at least "
                              f"{fd_floor + lib.FL_FD_RESERVE} (`ulimit -n`)")
        self.fd_floor = fd_floor  # forklab's own fds are at or above it
        self.timeout = timeout
        self.cancel = cancel  # set from another thread: the run stops at its next check
        self.spent = 0.0  # seconds spent inside apply/observe so far
        self._clock_start: float | None = None
        self.procs: dict[str, Proc] = {}  # by scenario name, in creation order
        self.by_pid: dict[int, Proc] = {}
        self.flights: list[Flight] = []
        self.hello_socks: dict[socket.socket, Flight] = {}
        self.tokens: dict[int, Flight] = {}
        self.unclaimed: list[socket.socket] = []
        self.closed = False
        self.my_pid = os.getpid()
        self.stdout: Output | None = None
        self.stderr: Output | None = None
        self.on_image: Callable[[Proc], None] | None = None
        self.listener: socket.socket | None = None
        self.control_dir: str | None = None
        self.semaphore_sets: dict[int, int] = {}  # the run's System V sets: id -> sem_ctime
        self.guard: Guard | None = None
        _subreaper_acquire()
        self._subreaper = True
        try:
            try:
                self.guard = guard(guard_path())
                self.guard_key = self.guard.new_key()
                self.guard.hold_dir(self.guard_key, scratch)
            except GuardError as err:
                raise DriverError(str(err)) from err
            self.control_dir = make_dir("ctl", os.path.dirname(scratch) or None)
            self.guard.hold_dir(self.guard_key, self.control_dir)
            self.address = os.path.join(self.control_dir, "channel")
            if len(os.fsencode(self.address)) >= MAX_SOCKET_PATH:
                raise DriverError(f"the temporary directory's path is too long for a unix "
                                  f"socket ({self.address}); set TMPDIR to a shorter one")
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self.listener.bind(self.address)
            self.listener.listen(64)
            self.listener.setblocking(False)
        except BaseException:
            self.close()
            raise

    # -- time ----------------------------------------------------------------------------------
    def clock_on(self) -> None:
        self._clock_start = time.monotonic()

    def clock_off(self) -> None:
        if self._clock_start is not None:
            self.spent += time.monotonic() - self._clock_start
            self._clock_start = None

    def _check_deadline(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise RunCancelled("the run was cancelled")
        now = self.spent + (time.monotonic() - self._clock_start if self._clock_start else 0)
        if now > self.timeout:
            raise RunTimeout(f"the run took longer than its bound of {self.timeout:g} s")

    # -- messages --------------------------------------------------------------------------------
    @staticmethod
    def token() -> int:
        """A spawn's token: unguessable, so that only the probe it was given to
        (in its environment, which only forklab's user can read) can claim it."""
        return secrets.randbits(62) + 1

    def send(self, task: Task, op: int, args: tuple[int, ...] = (), data: bytes = b"",
             fd: int | None = None, second_fd: int | None = None) -> None:
        if task.sock is None:
            raise DriverError(f"'{task.proc.name}' has no channel")
        if len(data) > lib.FL_MAX_DATA:
            raise DriverError(f"an op's data is limited to {lib.FL_MAX_DATA} bytes")
        cmd = ffi.new("struct fl_cmd *", {"op": op, "len": len(data),
                                          "a": [int(x) for x in args]})
        msg = bytes(ffi.buffer(cmd)) + data
        try:
            fds = [f for f in (fd, second_fd) if f is not None]
            if fds:
                socket.send_fds(task.sock, [msg], fds)
            else:
                task.sock.send(msg)
        except (BrokenPipeError, ConnectionResetError, OSError) as err:
            raise DriverError(f"the channel to '{task.proc.name}' is closed ({err})") from err

    def channel_pair(self) -> tuple[socket.socket, socket.socket]:
        """A fresh channel: (forklab's end, the new task's end)."""
        try:
            return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError as err:
            raise DriverError(_fd_shortage(err)) from None

    def fly(self, flight: Flight) -> Flight:
        flight.task.flight = flight
        self.flights.append(flight)
        return flight

    # -- processes -------------------------------------------------------------------------------
    def start_first(self, name: str) -> Proc:
        """posix_spawn the first probe: stdin /dev/null, stdout/stderr collected."""
        ours, theirs = self.channel_pair()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            keep = []
            def cstr(s: str) -> Any:
                p = ffi.new("char[]", s.encode())
                keep.append(p)
                return p
            argv = ffi.new("char*[]", [cstr(self.probe), ffi.NULL])
            envp = ffi.new("char*[]", [cstr(f"FORKLAB_CHAN={lib.FL_FIRST_CHANNEL_FD}"),
                                       cstr("FORKLAB_FIRST=1"),
                                       cstr(f"FORKLAB_FD_FLOOR={self.fd_floor}"),
                                       cstr(f"FORKLAB_PROBE={self.probe}"), ffi.NULL])
            pid_out = ffi.new("int *")
            rc = lib.fl_spawn_probe(self.probe.encode(), argv, envp, theirs.fileno(), out_w,
                                    err_w, self.scratch.encode(), pid_out)
            if rc != 0:
                raise DriverError(f"posix_spawn of the probe failed: {os.strerror(rc)}")
        finally:
            theirs.close()
            os.close(out_w)
            os.close(err_w)
        self.stdout = Output(out_r)
        self.stderr = Output(err_r)
        pid = pid_out[0]
        proc = self._register(name, pid, None)
        proc.reaper_is_driver = True
        task = Task(proc, None, ours, lib.FL_FIRST_CHANNEL_FD, pid)
        proc.main = task
        flight = self.fly(Flight(task, "image", "start", blockable=False))
        flight.extra["image_hello_on"] = task
        self.settle()
        if proc.dead or proc.errno_addr == 0:
            err = self.stderr.text() if self.stderr else ""
            raise DriverError(f"the probe did not start: {err.strip() or 'no hello'}")
        return proc

    def _register(self, name: str, pid: int, parent: str | None) -> Proc:
        """Adopt pid as the scenario process `name`, created by `parent` (None: by
        forklab itself). The pid is the kernel's to confirm: a pidfd pins it first,
        then /proc must name the creator as its parent and forklab's user as its
        owner; a pid that fails is refused, never signalled or read."""
        creator = self.procs[parent] if parent is not None else None
        parents: tuple[int, ...] = (self.my_pid,) if creator is None else (creator.pid,)
        if creator is not None and creator.dead:  # its orphans now have forklab, the subreaper
            parents += (self.my_pid,)
        if pid <= 0:
            raise DriverError(f"a probe reported an impossible pid ({pid}) for '{name}'")
        pidfd = lib.fl_pidfd_open(pid)
        if pidfd < 0 and pidfd != -errno_mod.ESRCH:
            raise DriverError(_fd_shortage(OSError(-pidfd, os.strerror(-pidfd))))
        st = procfs.stat(pid)
        if pidfd >= 0 and not _is_child(pid, parents):
            os.close(pidfd)
            if os.path.exists(f"/proc/{pid}"):
                raise DriverError(f"pid {pid}, reported for '{name}', is not a child of its "
                                  f"creator (pid {parents[0]}) run by forklab's user: refused")
            pidfd = -1  # gone meanwhile, reaped at once (its parent ignores SIGCHLD)
        proc = Proc(name, pid, pidfd, st.starttime if st else -1, parent)
        pidns = procfs.namespace(pid, "pid")
        above = creator.pid_namespaces if creator is not None else ()
        proc.pid_namespaces = above if pidns is None or above[-1:] == (pidns,) \
            else (*above, pidns)
        proc.ns_pids = procfs.ns_pids(pid) or (pid,)
        if pidfd < 0:  # already reaped (SIGCHLD ignored): nothing of it is left to reach
            proc.pidfd = -1
            proc.dead = True
            proc.reaped = True
        else:
            self._hold(pidfd)
        self.procs[name] = proc
        self.by_pid[pid] = proc
        return proc

    def _own_number(self, creator: Proc, number: int) -> int | None:
        """The pid forklab (/proc) numbers the child creator numbers `number`: in a PID
        namespace the run made, the creator's numbers are that namespace's own (its
        init is 1), so the child is found among creator's children by its NSpid at
        the creator's level. None if no such child is left to find."""
        level = len(creator.pid_namespaces) - 1
        if level <= 0:
            return number
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            st = procfs.stat(int(entry))
            if st is None or st.ppid != creator.pid:
                continue
            numbers = procfs.ns_pids(int(entry))
            if numbers is not None and len(numbers) > level and numbers[level] == number:
                return int(entry)
        return None

    def _hold(self, pidfd: int) -> None:
        """Tell the guard: if forklab dies, this process goes too."""
        assert self.guard is not None
        try:
            self.guard.hold_process(self.guard_key, pidfd)
        except GuardError as err:
            raise DriverError(str(err)) from err

    def new_child(self, name: str, hello: Reply, parent: str | None,
                  sock: socket.socket | None) -> Proc:
        pid = hello.v[lib.FL_H_PID]
        if hello.v[lib.FL_H_TID] != pid:
            raise DriverError(f"a new process's hello names thread {hello.v[lib.FL_H_TID]}, "
                              f"not its main thread {pid}")
        proc = self._register(name, pid, parent)
        task = Task(proc, None, sock, hello.v[lib.FL_H_CHANNEL], hello.v[lib.FL_H_TID])
        proc.main = task
        self._adopt_hello(proc, hello)
        return proc

    def new_thread(self, proc: Proc, name: str, hello: Reply, sock: socket.socket) -> Task:
        """Adopt a new thread of proc; the kernel must list its tid among proc's tasks."""
        tid = hello.v[lib.FL_H_TID]
        if hello.v[lib.FL_H_PID] != proc.pid or tid not in procfs.tasks(proc.pid):
            raise DriverError(f"thread {tid}, reported for '{proc.name}/{name}', is not a "
                              f"thread of pid {proc.pid}: refused")
        task = Task(proc, name, sock, hello.v[lib.FL_H_CHANNEL], tid,
                    errno_addr=hello.v[lib.FL_H_ERRNO_ADDR],
                    attrs_addr=hello.v[lib.FL_H_ATTRS_ADDR])
        proc.threads[name] = task
        return task

    def new_program(self, name: str, pid: int, parent: str | None, image: str) -> Proc:
        """Adopt a program `parent` spawned; pid is what posix_spawn returned to it."""
        creator = self.procs[parent] if parent is not None else None
        own = pid if creator is None else self._own_number(creator, pid)
        if own is None:  # gone already: reaped at once (its creator ignores SIGCHLD)
            proc = Proc(name, 0, -1, -1, parent, dead=True, reaped=True)
            assert creator is not None
            proc.pid_namespaces = creator.pid_namespaces
            self.procs[name] = proc
        else:
            proc = self._register(name, own, parent)
        proc.image = image
        proc.main = Task(proc, None, None, -1, proc.pid)  # no channel: it is observed only
        return proc

    def _adopt_hello(self, proc: Proc, hello: Reply) -> None:
        if hello.v[lib.FL_H_VERSION] != lib.FL_PROTOCOL_VERSION:
            raise DriverError("the probe speaks another protocol version; reinstall forklab")
        proc.errno_addr = hello.v[lib.FL_H_ERRNO_ADDR]
        proc.state_addr = hello.v[lib.FL_H_STATE_ADDR]
        proc.attrs_addr = hello.v[lib.FL_H_ATTRS_ADDR]
        proc.image = "probe"

    def send_init(self, task: Task) -> None:
        """Give a fresh probe image the scratch directory (a dirfd it keeps high)."""
        dfd = os.open(self.scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.send(task, lib.FL_OP_INIT, (), b"", dfd)
        finally:
            os.close(dfd)
        self.fly(Flight(task, "init", "init", blockable=False))

    # -- the settle loop --------------------------------------------------------------------------
    def _poll_set(self) -> dict[int, tuple[str, Any]]:
        fds: dict[int, tuple[str, Any]] = {}
        for proc in self.procs.values():
            if not proc.dead and proc.pidfd >= 0:
                fds[proc.pidfd] = ("pidfd", proc)
            for task in proc.tasks:
                if task.sock is not None and not task.gone:
                    fds[task.sock.fileno()] = ("task", task)
        for sock, flight in self.hello_socks.items():
            fds[sock.fileno()] = ("hello", flight)
        for sock in self.unclaimed:
            fds[sock.fileno()] = ("unclaimed", sock)
        if self.listener is not None and self.tokens:
            fds[self.listener.fileno()] = ("listener", None)
        for out in (self.stdout, self.stderr):
            if out is not None and not out.eof:
                fds[out.fd] = ("output", out)
        return fds

    def pump(self, timeout: float) -> bool:
        """Handle whatever arrives within timeout seconds; whether anything did."""
        fds = self._poll_set()
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        try:
            ready = poller.poll(max(0, int(timeout * 1000)))
        except InterruptedError:
            return True
        got = False
        for fd, _ in ready:
            kind, obj = fds[fd]
            got = True
            if kind == "pidfd":
                if obj.pidfd == fd:
                    self._on_exit(obj)
            elif kind == "task":
                if obj.sock is not None and obj.sock.fileno() == fd:
                    self._read_task(obj)
            elif kind == "hello":
                if obj.hello_sock is not None and obj.hello_sock.fileno() == fd \
                        and obj.hello_sock in self.hello_socks:
                    self._read_hello(obj)
            elif kind == "unclaimed":
                if obj in self.unclaimed:
                    self._read_unclaimed(obj)
            elif kind == "listener":
                self._accept()
            elif kind == "output":
                obj.drain()
        return got

    def _recv(self, sock: socket.socket) -> Reply | None:
        try:
            raw = sock.recv(lib.FL_MAX_DATA + 4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return Reply(0, 0, (), b"")  # nothing after all
        except (ConnectionResetError, OSError):
            return None
        if not raw:
            return None
        return Reply.parse(raw)

    def _read_task(self, task: Task) -> None:
        assert task.sock is not None
        msg = self._recv(task.sock)
        if msg is None:  # EOF: exec'd a program, or gone
            task.sock.close()
            task.sock = None
            flight = task.flight
            if flight is not None and flight.kind == "exec_prog":
                flight.exec_seen = True
            return
        if msg.kind == 0:
            return
        if msg.kind == lib.FL_R_FAIL:
            raise DriverError(f"the probe in '{task.proc.name}' failed: "
                              f"{msg.data.decode(errors='replace')}")
        flight = task.flight
        if msg.kind in DEATH_FAULTS:  # an access loop starts, or dies; no reply yet
            if flight is not None:
                flight.extra[DEATH_FAULTS[msg.kind]] = msg.v[0]
            return
        if msg.kind == lib.FL_R_HELLO:
            if msg.v[lib.FL_H_ORIGIN] != lib.FL_O_IMAGE:
                raise DriverError("unexpected hello on a task channel")
            self._image_hello(task, msg)
            return
        if flight is None:
            raise DriverError(f"an unexpected reply from '{task.proc.name}'")
        flight.reply = msg
        flight.blocked = False  # it moves again (a fork may still wait for its child)

    def _image_hello(self, task: Task, msg: Reply) -> None:
        """A fresh probe image on this channel: the first start, or exec probe."""
        proc = task.proc
        flight = task.flight
        self._adopt_hello(proc, msg)
        # exec ended every other thread; this task is the process's main thread now
        for other in proc.tasks:
            if other is not task:
                other.gone = True
                if other.sock is not None:
                    other.sock.close()
                    other.sock = None
                if other.flight is not None:
                    self._finish(other.flight, cancelled=True)
        proc.threads = {}
        task.thread = None
        task.tid = msg.v[lib.FL_H_TID]
        task.chan_fd = msg.v[lib.FL_H_CHANNEL]
        proc.main = task
        if flight is not None:
            flight.hello = msg
            self._finish(flight)
        if self.on_image is not None:
            self.on_image(proc)
        self.send_init(task)

    def _read_hello(self, flight: Flight) -> None:
        sock = flight.hello_sock
        assert sock is not None
        msg = self._recv(sock)
        if msg is None:
            del self.hello_socks[sock]
            sock.close()
            flight.hello_sock = None
            return
        if msg.kind == 0:
            return
        if msg.kind != lib.FL_R_HELLO:
            raise DriverError("a new task spoke before saying hello")
        del self.hello_socks[sock]
        flight.hello = msg

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            if _peer(conn)[1] != os.geteuid() or len(self.unclaimed) >= MAX_UNCLAIMED:
                conn.close()  # not forklab's user (or a flood): never read
                continue
            conn.setblocking(True)
            self.unclaimed.append(conn)

    def _read_unclaimed(self, sock: socket.socket) -> None:
        """A connection's first message must be the hello of a probe that a
        `spawn` in flight started: its token, its own pid (by the kernel's word),
        and the spawning process as its parent. Anything else is dropped."""
        msg = self._recv(sock)
        self.unclaimed.remove(sock)
        if msg is None or msg.kind != lib.FL_R_HELLO:
            sock.close()
            return
        flight = self.tokens.get(msg.v[lib.FL_H_TOKEN])
        peer_pid = _peer(sock)[0]
        if flight is None or peer_pid != msg.v[lib.FL_H_PID] \
                or not _is_child(peer_pid, (flight.task.proc.pid,)):
            sock.close()  # not one of ours
            return
        del self.tokens[msg.v[lib.FL_H_TOKEN]]
        flight.hello = msg
        flight.hello_sock = sock

    def _on_exit(self, proc: Proc) -> None:
        """A process has exited (its pidfd is readable)."""
        if proc.dead:
            return
        proc.dead = True
        self._note_death_faults(proc)
        for task in proc.tasks:
            task.gone = True
            task.suspended = False
            if task.sock is not None:
                task.sock.close()
                task.sock = None
            if task.flight is not None:
                self._finish(task.flight, cancelled=True)
        self.collect(proc)

    def _note_death_faults(self, proc: Proc) -> None:
        """An access loop that killed its process never replies: its flight gets
        the process's minor faults at the fatal fault (FL_R_FAULTED, sent by the
        probe's handler), to set against the count the probe sent just before the
        loop began (FL_R_BEGIN), so that the faults the loop took before dying
        count, and the runtime's never do. The count arrives whoever reaps the
        process; only if the handler could not run (the scenario blocked the
        signal, so the kernel ended the process at once) is it read from the
        zombie's /proc/PID/stat, which a reaper may have taken first."""
        for task in proc.tasks:
            flight = task.flight
            if flight is None:
                continue
            # the channel may already be closed: its end-of-file (the fd table goes
            # early in exit) can be read before the pidfd says the process is gone
            while task.sock is not None and "death_minflt" not in flight.extra:
                msg = self._recv(task.sock)
                if msg is None or msg.kind == 0:
                    break
                if msg.kind in DEATH_FAULTS:
                    flight.extra[DEATH_FAULTS[msg.kind]] = msg.v[0]
            if "begin_minflt" not in flight.extra or "death_minflt" in flight.extra:
                continue
            st = procfs.stat(proc.pid)
            if st is not None and st.starttime == proc.starttime and st.state in "ZX":
                flight.extra["death_minflt"] = st.minflt

    def collect(self, proc: Proc) -> None:
        """For a dead process: reap it if forklab is its parent; else note zombie or
        reaped. A process reaped by its parent's `wait` gets its status from that
        wait's reply; one the kernel reaped at once (its parent ignores SIGCHLD)
        has none: the kernel discarded it (tests/kernel_facts/proc_signals.c), and
        the model shows the same."""
        if proc.reaped or not proc.dead:
            return
        st = procfs.stat(proc.pid)
        if st is not None and st.starttime == proc.starttime and st.state == "Z":
            if st.ppid == self.my_pid:
                try:
                    pid, status = os.waitpid(proc.pid, os.WNOHANG)
                except ChildProcessError:
                    pid, status = 0, 0
                if pid == proc.pid:
                    proc.reaped = True
                    proc.reaper_is_driver = True
                    proc.wait_status = status
                    return
            proc.wait_status = st.exit_code
            return
        self._await_release(proc)
        proc.reaped = True

    @staticmethod
    def _await_release(proc: Proc) -> None:
        """A process the kernel reaps at once (its parent ignores SIGCHLD) is released a
        moment after its pidfd says it ended (exit_notify marks it dead, release_task
        frees its pid after): until then a kill of it still succeeds. Wait for the
        release, so that whatever comes next finds it gone (ESRCH), as the model says."""
        deadline = time.monotonic() + RELEASE_WAIT_S
        while proc.pidfd >= 0 and lib.fl_pidfd_send_signal(proc.pidfd, 0) == 0 \
                and time.monotonic() < deadline:
            time.sleep(RELEASE_POLL_S)

    def _finish(self, flight: Flight, cancelled: bool = False) -> None:
        if flight.done:
            return
        flight.done = True
        flight.blocked = False
        flight.cancelled = cancelled
        if flight.task.flight is flight:
            flight.task.flight = None
        if flight.hello_sock is not None and flight.hello_sock in self.hello_socks:
            del self.hello_socks[flight.hello_sock]
        self.flights.remove(flight)
        if flight.on_done is not None:
            flight.on_done(flight)

    def _complete(self, flight: Flight) -> bool:
        """Whether a flight has all it waits for."""
        k = flight.kind
        r = flight.reply
        if k in ("op", "init", "resume"):
            return r is not None
        if k in ("fork", "clone", "thread"):
            if r is None:
                return False
            ok = r.v[0] == 0 if k == "thread" else r.v[0] > 0
            return not ok or flight.hello is not None
        if k == "vfork":
            return flight.hello is not None or (r is not None and r.v[0] <= 0)
        if k == "spawn":
            if r is None:
                return False
            if r.v[0] <= 0 or not flight.extra.get("probe"):
                return True
            return flight.hello is not None
        if k == "exec_probe":
            return r is not None  # the hello finishes it directly
        if k == "exec_prog":
            if r is not None or flight.exec_seen:
                return True
            proc = flight.task.proc
            exe = procfs.exe(proc.pid)
            if exe is not None and exe != self.probe and not exe.startswith(self.probe + " "):
                flight.exec_seen = True
                return True
            return False
        if k == "exit":
            return flight.task.proc.dead
        if k == "thread_exit":
            return r is not None and flight.task.tid not in procfs.tasks(flight.task.proc.pid)
        if k == "image":
            return False  # finished by the hello
        raise DriverError(f"unknown flight kind {k}")

    def _waiting_in_op(self, flight: Flight) -> tuple[int, tuple[int, ...]] | None:
        """The system call the flight's task sleeps in for its op, or None."""
        task = flight.task
        st = procfs.task_stat(task.proc.pid, task.tid)
        if st is not None and st.state in "Tt":
            return STOPPED  # its process was stopped in the op: it replies once continued
        if st is None or st.state not in "SD":
            return None
        sc = procfs.task_syscall(task.proc.pid, task.tid)
        if sc is None:
            return None
        nr, args = sc
        if nr == RECVMSG and args and args[0] == task.chan_fd:
            return None  # back on its channel: the reply is on its way
        if self._reaping(task.proc, sc):
            return None
        return sc

    def _reaping(self, waiter: Proc, call: tuple[int, tuple[int, ...]]) -> bool:
        """Whether a wait4 or waitid sleeps for a scenario process that has ended (for
        any child of the waiter, with pid -1 or P_ALL), or for no process of the run:
        it completes. A parent that
        reaps a child sleeps inside the call while the kernel releases the child
        (its /proc entries are dropped, and any reader of them is waited for), well
        after the child's pidfd said it ended."""
        nr, args = call
        if nr == WAIT4 and len(args) > 2:
            pid = args[0] & 0xFFFFFFFF  # a pid_t: /proc shows -1 as 0xffffffff
            options = args[2]
        elif nr == WAITID and len(args) > 3 and args[0] in (P_PID, P_ALL):
            pid = args[1] if args[0] == P_PID else ANY_CHILD
            options = args[3]
        else:
            return False
        if pid == ANY_CHILD:
            return any(self._zombie_of(p, waiter, options) for p in self.procs.values())
        proc = next((p for p in self.procs.values() if waiter.pid_of(p) == pid), None)
        # a pid of no process of the run: glibc's own wait in posix_spawn for a child
        # whose exec failed, which it reaps before posix_spawn returns
        return proc is None or proc.dead

    @staticmethod
    def _zombie_of(proc: Proc, parent: Proc, options: int) -> bool:
        """Whether proc has ended and parent has yet to return its status: a zombie
        whose parent it is and that a wait with these options takes (a "clone child",
        whose exit signal is not SIGCHLD, only with __WCLONE or __WALL; any other only
        without __WCLONE: eligible_child), or one already gone while its parent, asleep
        in the wait that reaps it, has not replied (``waited``: a wait's reply named it)."""
        if not proc.dead or proc.waited:
            return False
        st = procfs.stat(proc.pid)
        if st is not None and st.starttime == proc.starttime and st.state == "Z":
            clone_child = st.exit_signal != signal.SIGCHLD
            takes = bool(options & WALL) or clone_child == bool(options & WCLONE)
            return st.ppid == parent.pid and takes
        return not proc.reaper_is_driver and proc.parent == parent.name

    def _unblock_reapers(self) -> None:
        """A blocked wait for a process that has since ended is in flight again."""
        for flight in self.flights:
            if flight.blocked and flight.blocked_in is not None \
                    and self._reaping(flight.task.proc, flight.blocked_in):
                flight.blocked = False

    def _may_wake(self, flight: Flight, call: tuple[int, tuple[int, ...]],
                  sleepers: list[Proc]) -> bool:
        """Whether a program in a timed sleep (or one still running) could end this
        wait: the language's rule, :func:`forklab.scenario.contract.timed_enders`."""
        return bool(timed_enders(flight.task.proc, call, KernelPrograms(self, sleepers)))

    def _quiet(self) -> tuple[bool, list[Proc]]:
        """(every task of every live process sleeps, the real programs in a timed
        sleep).

        Nothing is quiet while the scenario's stdout or stderr holds unread bytes:
        their drain wakes any writer that a full pipe put to sleep.

        A signal sent to a sleeping task wakes it (makes it runnable) before the
        sending call returns, so "every task sleeps" also means no signal is
        about to be handled; only a thread in vfork, in its killable wait, may
        keep one pending, and it is suspended anyway (its process's other
        threads are sampled as any others).

        A task that stops shows T before it has woken its parent (to report the
        stop) and left the CPU; reading its /proc syscall file waits until it has
        left (``wait_task_inactive``), so when a task is seen stopped every task
        is sampled again.
        """
        timed: list[Proc] = []
        outputs = [out for out in (self.stdout, self.stderr) if out is not None]
        for out in outputs:
            out.drain()
        if any(out.unread() for out in outputs):
            return False, timed
        for sweep in ("first", "after a stop"):
            timed, stopped = [], False
            for proc in self.procs.values():
                if proc.dead:
                    continue
                for task in proc.tasks:
                    if task.gone:
                        continue
                    st = procfs.task_stat(proc.pid, task.tid)
                    if st is None:
                        continue
                    state = st.state
                    if state in "Tt" and sweep == "first":
                        procfs.task_syscall(proc.pid, task.tid)
                        stopped = True
                    if state in "SZXTt":
                        if state == "S" and proc.image != "probe":
                            sc = procfs.task_syscall(proc.pid, task.tid)
                            if sc is not None and sc[0] in procfs.TIMED_SLEEPS:
                                timed.append(proc)
                        continue
                    if state == "D" and task.suspended:
                        continue
                    return False, timed
            if not stopped:
                break
        return True, timed

    def _reap_orphans(self) -> None:
        for proc in self.procs.values():
            if proc.dead and not proc.reaped:
                self.collect(proc)

    def settle(self) -> None:
        """Wait until every op in flight has completed or is blocked, and all is quiet."""
        stable = 0
        delay = 0.001
        while True:
            self._check_deadline()
            waiting = any(not (f.done or f.blocked or f.passive) for f in self.flights)
            got = self.pump(delay if waiting else 0)
            for flight in list(self.flights):
                if not flight.done and self._complete(flight):
                    self._finish(flight)
            self._reap_orphans()
            self._unblock_reapers()
            # blocked flights stay blocked while all is quiet: a task that an op
            # wakes is runnable, so the world is not quiet until it has replied
            active = [f for f in self.flights if not (f.done or f.blocked or f.passive)]
            if got and active:
                stable = 0
                continue  # things move: read on before sampling the kernel
            quiet, timed = self._quiet()
            settled = False
            calls: list[tuple[int, tuple[int, ...]] | None] = []
            if quiet:
                if not active:
                    settled = True
                else:
                    calls = [self._waiting_in_op(f) if f.blockable else None for f in active]
                    if all(c is not None for c in calls) and not any(
                            timed and self._may_wake(f, c, timed)
                            for f, c in zip(active, calls) if c is not None):
                        stable += 1
                        settled = stable >= 2
                    else:
                        stable = 0
            else:
                stable = 0
            if settled:
                # one last look: a message that raced the samples wins
                if self.pump(0):
                    stable = 0
                    continue
                for f, call in zip(active, calls):
                    f.blocked, f.blocked_in = True, call
                return
            delay = min(delay * 2, 0.004)

    # -- the end ----------------------------------------------------------------------------------
    def kill_all(self) -> None:
        for proc in self.procs.values():
            if not proc.reaped and proc.pidfd >= 0:
                lib.fl_pidfd_send_signal(proc.pidfd, signal.SIGKILL)

    def close(self) -> None:
        """Kill and reap every process of the run; close every fd. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self.kill_all()
            self._close_channels()  # first: a run that used up the fds needs some back to reap
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                pending = False
                for proc in self.procs.values():
                    if proc.reaped:
                        continue
                    if not proc.dead:
                        st = procfs.stat(proc.pid)
                        if st is None or st.starttime != proc.starttime or st.state in "ZX":
                            proc.dead = True
                        else:
                            lib.fl_pidfd_send_signal(proc.pidfd, signal.SIGKILL)
                    if proc.dead:
                        self.collect(proc)
                    if not proc.reaped:
                        pending = True
                if not pending:
                    break
                self._await_an_end()
        finally:
            self._close_channels()
            for proc in self.procs.values():
                if proc.pidfd >= 0:
                    os.close(proc.pidfd)
                    proc.pidfd = -1
            if self.control_dir is not None:
                shutil.rmtree(self.control_dir, ignore_errors=True)
                self.control_dir = None
            for semid, made in self.semaphore_sets.items():
                lib.fl_sem_remove(semid, made)
            self.semaphore_sets.clear()
            if self.guard is not None:
                try:
                    self.guard.release(self.guard_key)
                except GuardError:
                    pass  # gone with nothing left to do: everything is ended above
                self.guard = None
            for out in (self.stdout, self.stderr):
                if out is not None:
                    out.close()
            if self._subreaper:
                self._subreaper = False
                _subreaper_release()


    def hold_semaphore_set(self, semid: int) -> None:
        """A set a probe made: removed when the run closes, or by the guard should forklab
        die first."""
        made = lib.fl_sem_made(semid)
        if made < 0:
            raise DriverError(f"cannot read the semaphore set the run made: "
                              f"{os.strerror(-made)}")
        self.semaphore_sets[semid] = made
        assert self.guard is not None
        try:
            self.guard.hold_semaphore_set(self.guard_key, semid, made)
        except GuardError as err:
            raise DriverError(str(err)) from err

    def _await_an_end(self) -> None:
        """Sleep until a killed process of the run ends (its pidfd is readable); a
        while only when none is left to end (a zombie waits for its parent's end
        to be handed to forklab, which happens as that parent exits)."""
        living = [proc.pidfd for proc in self.procs.values()
                  if not proc.dead and proc.pidfd >= 0]
        poller = select.poll()
        for pidfd in living:
            poller.register(pidfd, select.POLLIN)
        poller.poll(50 if living else 1)

    def _close_channels(self) -> None:
        for proc in self.procs.values():
            for task in proc.tasks:
                if task.sock is not None:
                    task.sock.close()
                    task.sock = None
        for sock in list(self.hello_socks) + self.unclaimed:
            sock.close()
        self.hello_socks.clear()
        self.unclaimed.clear()
        if self.listener is not None:
            self.listener.close()
            self.listener = None


MAX_UNCLAIMED = 64  # connections that have not said hello yet, at most


def _fd_shortage(err: OSError, what: str = "open a channel") -> str:
    """What to say when forklab cannot get an fd it needs."""
    if err.errno not in (errno_mod.EMFILE, errno_mod.ENFILE):
        return f"forklab could not {what}: {err.strerror}"
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (f"forklab ran out of file descriptors ({err.strerror}): it keeps about three "
            f"for every process and thread of a run, and its limit is {soft} "
            "(raise it with `ulimit -n`)")


def _peer(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of a unix socket's peer, as the kernel recorded them at connect."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


def _is_child(pid: int, parents: tuple[int, ...]) -> bool:
    """Whether the kernel shows pid as a child of one of parents, running as
    forklab's user. A process that is gone is no child; /proc that cannot be
    read (no fd left) is an error, never a verdict."""
    def read(name: str) -> str | None:
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (FileNotFoundError, ProcessLookupError):
            return None
        except OSError as err:
            raise DriverError(_fd_shortage(err, f"read /proc/{pid}/{name}")) from None

    stat_text, status_text = read("stat"), read("status")
    st = None if stat_text is None else procfs.parse_stat(stat_text)
    if st is None or status_text is None or st.ppid not in parents:
        return False
    uids = next((line.split()[1:] for line in status_text.splitlines()
                 if line.startswith("Uid:")), [])
    return len(uids) > 1 and uids[1] == str(os.geteuid())


ERRNO_NAMES = {errno_mod.EDEADLK: "EDEADLK", errno_mod.EOPNOTSUPP: "EOPNOTSUPP"}
"""The name glibc's strerrorname_np gives where Python's table keeps an alias
(EDEADLOCK, ENOTSUP)."""


def errno_name(value: int) -> str | None:
    if value == 0:
        return None
    return ERRNO_NAMES.get(value) or errno_mod.errorcode.get(value, f"E{value}")
