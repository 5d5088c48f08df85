"""Bad scenarios are refused with a ScenarioError that points at the right line and column."""
from __future__ import annotations

import os

import pytest

from forklab.scenario.model import ScenarioError, ScenarioErrors
from forklab.scenario.parse import parse_file, parse_text

HEAD = 'id = "t"\ntitle = "T"\nsummary = "S"\n'

PRELUDE = """\
parent: mmap heap 16p
parent: pipe -> r, w
parent: fork -> child
parent: thread -> t1
parent: malloc 64 -> a
parent: spawn_template probe -> tpl
parent: pidfd_empty -> b
parent: lock m
parent: semget -> sem"""
PRELUDE_LINES = PRELUDE.count("\n") + 1


def doc(script: str, *, real: bool = False) -> str:
    """One step; script line k (1-based) sits on file line 6 + k, column 1."""
    return (HEAD + f"real = {'true' if real else 'false'}\n[[step]]\n"
            f"do = '''\n{script}\n'''\n")


def error(text: str, filename: str = "<string>") -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_text(text, filename)
    err = info.value
    assert err.where is not None and err.where.file == filename
    return err


def at(err: ScenarioError) -> tuple[int, int]:
    assert err.where is not None
    return err.where.line, err.where.col


# (bad line after PRELUDE, the token the error must point at (None: the end of the line),
#  a fragment of the message)
LINE_ERRORS = [
    # verbs and actors
    ("parent: frok -> c", "frok", "unknown verb 'frok'"),
    ("parent: frok -> c", "frok", "unknown verb 'frok'; expected one of: _exit, "),
    ("parent: frok -> c", "frok", "writefd (did you mean 'fork'?)"),
    ("parent: thread_exit", "thread_exit", "unknown verb"),
    ("parent fork -> c", "parent", "expected 'ACTOR: VERB"),
    ("parent:", None, "expected a verb"),
    ("ghost: fork -> c", "ghost", "unknown name 'ghost'"),
    ("heap: fork -> c", "heap", "'heap' is a mapping; an actor must be a process"),
    ("t1: lock m", "t1", "write it with its process, as 'parent/t1'"),
    ("child/t1: lock m", "t1", "thread 't1' belongs to 'parent', not 'child'"),
    ("parent/heap: lock m", "heap", "must be a thread"),
    ("Parent: fork -> c", "Parent", "expected a name"),
    # binding
    ("parent: fork", None, "fork must name what it creates"),
    ("parent: fork -> c, d", "d", "fork binds exactly one name"),
    ("parent: pipe -> r2", None, "pipe binds exactly two names"),
    ("parent: pipe -> r2 w2", "w2", "expected ','"),
    ("parent: fork ->", None, "expected a name after '->'"),
    ("parent: write heap -> x", "->", "write binds no name"),
    ("parent: fork -> child", "child", "name 'child' is already bound (line 9)"),
    ("parent: fork -> parent", "parent", "name 'parent' is already bound"),
    ("parent: mmap r 4p", "r ", "name 'r' is already bound (line 8)"),
    ("parent: fork -> Kid", "Kid", "expected a name ([a-z_][a-z0-9_]*)"),
    ("parent: fork -> 9lives", "9lives", "expected a name"),
    ("parent: fork -> stdout", "stdout", "reserved"),
    ("parent: fork -> lambda", "lambda", "reserved"),
    ("parent: fork -> __class__", "__class__", "may not start with '__'"),
    ("parent: mmap state 4p", "state", "P.state is already a process observable"),
    # wrong kinds and unbound names
    ("parent: write nothing", "nothing", "unknown name 'nothing'"),
    ("parent: write child", "child", "'child' is a process; write needs a mapping"),
    ("parent: munmap r", "r", "'r' is an fd; munmap needs a mapping"),
    ("parent: close heap", "heap", "'heap' is a mapping; close needs an fd"),
    ("parent: close nofd", "nofd", "unknown name 'nofd'"),
    ("parent: wait r", "r", "wait needs a process"),
    ("parent: kill heap SIGTERM", "heap", "kill needs a process"),
    ("parent: free m", "m", "free needs an allocation"),
    ("parent: lock heap", "heap", "lock needs a lock"),
    ("parent: spawn_from b -> c", "b -> c", "spawn_from needs a spawn template"),
    ("parent: configure tpl setsid", "tpl", "configure needs a blank process"),
    ("parent: pidfd_exec child probe -> c", "child", "pidfd_exec needs a blank process"),
    ("parent: spawn probe dup2=heap:1 -> c", "heap", "spawn needs an fd"),
    # sizes
    ("parent: mmap x 12q", "12q", "expected a size like 4KiB, 16p or 64MiB, got '12q'"),
    ("parent: mmap x 4kib", "4kib", "expected a size like"),
    ("parent: mmap x 1.5GiB", "1.5GiB", "expected a size like"),
    ("parent: mmap x 5000", "5000", "positive multiple of the page size"),
    ("parent: mmap x 0", "0", "positive multiple of the page size"),
    ("parent: mmap x 129TiB", "129TiB", "larger than forklab's limit"),
    ("parent: mmap x " + "9" * 40, "9" * 40, "too large"),
    ("parent: mmap x", None, "expected a mapping name and a size"),
    ("parent: malloc 1p1 -> x", "1p1", "expected a size"),
    # mmap options
    ("parent: mmap x 4p anon file=d.txt", "file=", "conflicts with 'anon'"),
    ("parent: mmap x 4p shared shared", "shared", "given twice"),
    ("parent: mmap x 4p ro rx", "rx", "conflicts with 'ro'"),
    ("parent: mmap x 4p huge", "huge", "unknown mmap option 'huge'"),
    ("parent: mmap x 4p file=/etc/passwd", "/etc", "absolute path '/etc/passwd'"),
    ("parent: mmap x 4p file=/dev/null", "/dev", "not /dev/null"),
    ("parent: mmap x 4p sysv private", "private", "mmap sysv is always shared"),
    ("parent: mmap x 4p sysv fd=0", "fd=", "conflicts with 'sysv'"),
    # ranges
    ("parent: write heap[0:100]", "100", "range bound 100 is not a page multiple"),
    ("parent: write heap[5000:2p]", "5000", "not a page multiple"),
    ("parent: read heap[0:100p]", "100p", "range end 100p is not inside 'heap' (16 pages)"),
    ("parent: read heap[16p]", "16p", "page 16p is not inside 'heap' (16 pages)"),
    ("parent: read heap[16p:]", "16p", "range start 16p is not inside 'heap'"),
    ("parent: munmap heap[0:17p]", "17p", "range end 17p is not inside 'heap' (16 pages)"),
    ("parent: mlock heap[3p", "heap[3p", "expected a range like heap"),
    ("parent: mprotect heap[2p:1p] ro", "2p", "range start 2p must be below its end 1p"),
    ("parent: madvise heap[1p] forget", "forget", "dontfork|dofork"),
    ("parent: mremap heap 3GiB", "3GiB", "'heap' can grow in place to 2 GiB"),
    ("parent: mremap heap 100", "100", "mremap size must be a positive multiple"),
    ("parent: mremap heap 4p move", "move", "maymove"),
    ("parent: read heap[4p:4p]", "4p:", "must be below its end"),
    ("parent: read heap[8p:2p]", "8p", "must be below its end"),
    ("parent: read heap[]", "]", "expected a page inside"),
    ("parent: read heap[1p", "heap", "expected a range like"),
    ("parent: read heap[x:2p]", "x:", "expected a size"),
    ("parent: write heap = 256", "256", "a byte is 0-255"),
    ("parent: write heap = x", "x", "expected a byte"),
    ("parent: write heap 7", "7", "expected '= BYTE'"),
    ("parent: write heap =", None, "expected a byte"),
    # strings
    ('parent: printf "abc', '"abc', "unterminated string"),
    (r'parent: printf "a\qb"', "\\q", "unknown escape '\\q'"),
    ("parent: printf hello", "hello", "expected a double-quoted string"),
    ('parent: writefd w "a" "b"', '"b"', "unexpected"),
    ('parent: printf "' + "é" * 32769 + '"', '"é', "text of 65538 bytes; a writefd or printf"),
    ('parent: writefd w "' + "x" * 65537 + '"', '"x', "at most 65536 bytes"),
    # offsets, positioned I/O, shared-memory objects
    ("parent: lseek w 3 here", "here", "expected set, cur or end (set|cur|end), got 'here'"),
    ("parent: lseek w", None, "an fd and an offset"),
    ("parent: lseek w -x", "x", "expected a size"),
    ("parent: lseek w 2TiB", "2TiB", "at most 1TiB"),
    ("parent: pread r -1", "-1", "expected a size"),
    ("parent: pread r 0 65537", "65537", "pread reads at most 65536 bytes"),
    ('parent: pwrite w 0 text', "text", "expected a double-quoted string"),
    ("parent: ftruncate w 1.5", "1.5", "expected a size"),
    ("parent: ftruncate nofd 0", "nofd", "unknown name 'nofd'"),
    ("parent: memfd a/b -> x", "a/b", "not a path"),
    ("parent: memfd Box -> x", "Box", "lower-case"),
    ("parent: shm_open box exclusive -> x", "exclusive", "unknown shm_open option"),
    ("parent: mq_open /box -> q", "/box", "not a path"),
    ("parent: opendir .. -> d", "..", "leads out of the scratch directory"),
    ("parent: opendir a b -> d", "b", "opendir"),
    ("parent: readdir", None, "expected an fd"),
    # namespaces
    ("parent: clone none exitsig=FOO -> c", "FOO", "unknown signal 'FOO'"),
    ("parent: clone none exitsig=SIGSTOP -> c", "SIGSTOP", "exitsig=SIGSTOP is refused"),
    ("parent: clone exitsig=SIGUSR1 -> c", "exitsig=SIGUSR1", "clone: expected FLAGS before"),
    ("parent: clone vm exitsig=USR1 exitsig=USR2 -> c", "exitsig=USR1", "given twice"),
    ("parent: wait any all all", "all", "given twice"),
    ("parent: chroot ../x", "..", "'..'"),
    ("parent: chroot", None, "a path"),
    ("parent: mlockall", None, "expected current, future or current,future"),
    ("parent: mlockall past", "past", "unknown mlockall flag 'past'"),
    ("parent: mlockall current,", None, "expected an mlockall flag after ','"),
    ("parent: mlockall current current", "current", "expected ',' between mlockall flags"),
    ("parent: munlockall now", "now", "unexpected 'now'"),
    ("parent: unshare", None, "expected KIND"),
    ("parent: unshare uts,", None, "expected a namespace kind after ','"),
    ("parent: unshare hostname", "hostname", "unknown namespace kind 'hostname'"),
    ("parent: unshare uts,uts", "uts", "given twice"),
    ("parent: unshare uts ipc", "ipc", "expected ',' between namespace kinds"),
    ("parent: clone newmnt -> c", "newmnt", "unknown clone flag 'newmnt'"),
    ("parent: semget", None, "semget must name what it creates"),
    ("parent: semget 3 -> s", "3", "semget: unexpected '3'"),
    ("parent: semget -> sem", "sem", "name 'sem' is already bound"),
    ("parent: semop nosuch +1", "nosuch", "unknown name 'nosuch'"),
    ("parent: semop heap +1", "heap", "'heap' is a mapping; semop needs a semaphore set"),
    ("parent: semop sem 1", "1", "expected a change of +1 to +1000"),
    ("parent: semop sem +1001", "+1001", "expected a change of +1 to +1000"),
    ("parent: semop sem -01", "-01", "expected a change"),
    ("parent: semop sem", None, "a semaphore set, a change"),
    ("parent: semop sem +1 nowait", "nowait", "expected an option (undo)"),
    ("parent: mmap s 1p fd=nofd", "nofd", "unknown name 'nofd'"),
    ("parent: mmap s 1p fd=r file=a.txt", "file=a.txt", "conflicts with 'fd=r'"),
    # signals
    ("parent: raise SIGCONT", "SIGCONT", "stop and continue signals are sent with kill"),
    ("parent: raise TTIN", "TTIN", "raise with SIGTTIN is refused"),
    # waits and mutexes
    ("parent: wait any nowait", "nowait", "unknown wait option 'nowait'"),
    ("parent: waitid child untraced", "untraced", "unknown waitid option 'untraced'"),
    ("parent: wait child nohang nohang", "nohang", "nohang"),
    ("parent: wait", None, "expected a child process or any"),
    ("parent: fork -> any", "any", "reserved"),
    ("parent: mutex m errorcheck", "m", "'m' is used from line 14 on; a mutex is set up before"),
    ("parent: mutex child normal", "child", "'child' is a process; mutex needs a new lock name"),
    ("parent: mutex k recursive", "recursive", "expected a mutex kind (normal|errorcheck)"),
    ("parent: mutex k", None, "expected a lock name and its kind"),
    ("parent: signal SIGSEGV catch", "catch", "faults again, forever"),
    ("parent: signal BUS catch", "catch", "catching SIGBUS is refused"),
    ("parent: signal SIGFPE catch", "catch", "faults again"),
    ("parent: signal SIGILL catch", "catch", "faults again"),
    ("parent: signal SIGFOO ignore", "SIGFOO", "unknown signal 'SIGFOO'"),
    ("parent: signal sigint ignore", "sigint", "write 'SIGINT'"),
    ("parent: signal 9 ignore", "9", "by name"),
    ("parent: signal SIGRTMIN+30 ignore", "SIGRTMIN+30", "SIGRTMIN+N, N from 0 to 29"),
    ("parent: raise SIGRTMAX", "SIGRTMAX", "SIGRTMIN+N, N from 0 to 29"),
    ("parent: sigaction SIGUSR1 catch restart", "restart", "a sigaction flag"),
    ("parent: sigaction SIGUSR1 catch nocldwait", "nocldwait", "a flag of SIGCHLD's action"),
    ("parent: sigaction SIGUSR1 catch resethand resethand", "resethand", "given twice"),
    ("parent: sigaction SIGSEGV catch", "catch", "write 'sigaction SIGSEGV exit CODE'"),
    ("parent: sigaction SIGBUS exit", None, "needs the handler's exit code"),
    ("parent: sigaction SIGSEGV exit 256", "256", "0-255"),
    ("parent: sigaction SIGCHLD exit 1", "exit", "an exit handler is for a fault's signal"),
    ("parent: sigaction SIGUSR1 handle", "handle", "catch|ignore|default|exit"),
    ("parent: kill child/t1 SIGUSR1", "t1", "belongs to 'parent'"),
    ("parent: signal SIGINT handle", "handle", "ignore|default|catch"),
    ("parent: spawn probe sigmask=SIGINT+BOGUS -> c", "BOGUS", "unknown signal 'BOGUS'"),
    # scheduling, prctl and credentials
    ("parent: nice 20", "20", "a nice value is -20 to 19"),
    ("parent: nice -21", "-21", "a nice value is -20 to 19"),
    ("parent: nice", None, "expected a nice value"),
    ("parent: sched fifo", "fifo", "expected a scheduling policy (other|batch|idle)"),
    ("parent: sched batch reset", "reset", "expected an option (resetonfork)"),
    ("parent: affinity 512", "512", "CPU numbers are 0-511"),
    ("parent: affinity 0,0", "0", "CPU 0 is given twice"),
    ("parent: affinity 0,", None, "expected a CPU number after ','"),
    ("parent: affinity 0 1", "1", "expected ',' between CPU numbers"),
    ("parent: comm a/b", "a/b", "expected a name of 1-32 letters"),
    ("parent: dumpable 2", "2", "expected a dumpable value (0|1)"),
    ("parent: timerslack 2000000000", "2000000000", "at most 1000000000 ns"),
    ("parent: no_new_privs 1", "1", "unexpected '1'"),
    ("parent: setresuid 0 1000 0", "1000", "a scenario's ids are 0 (root) and 65534"),
    ("parent: setresuid 0 65534 65534", "65534 65534", "got effective id 65534"),
    ("parent: setresgid 65534 0 0", "65534", "the real and effective ids stay 0"),
    ("parent: setresgid 0 0", None, "expected the real, effective and saved ids"),
    ("parent: setgroups 65534,65534", "65534", "group 65534 is given twice"),
    ("parent: setgroups 7", "7", "a scenario's ids are 0 (root) and 65534"),
    ("parent: capdrop CAP_KILL", "CAP_KILL", "capdrop takes one of CAP_CHOWN"),
    ("parent: capdrop CHOWN effective", "effective", "expected an option (bounding)"),
    # durations
    ("parent: sleep 11s", "11s", "limited to 10s"),
    ("parent: sleep 10", "10", "expected a duration like 10ms"),
    ("parent: sleep 1h", "1h", "expected a duration"),
    ("parent: sleep -1s", "-1s", "expected a duration"),
    ("parent: alarm 10", "10", "a timer is 0 (disarmed) or 100-1000000 seconds"),
    ("parent: alarm 1s", "1s", "expected a number of seconds"),
    ("parent: setitimer wall 100", "wall", "expected a timer (real|virtual|prof)"),
    ("parent: timer_create 2000000", "2000000", "never fires within a run"),
    ("parent: sigaltstack 4KiB", "4KiB", "a page multiple of 64KiB to 8MiB"),
    ("parent: sigaltstack 0", "0", "write off for no alternate stack"),
    ("parent: fcntl_lock w exclusive", "exclusive", "expected a lock mode (read|write|unlock)"),
    ("parent: fcntl_lock w read shared", "shared", "unknown fcntl_lock option 'shared'"),
    ("parent: flock w write", "write", "expected a flock mode (sh|ex|un)"),
    ("parent: atexit bye", "bye", "expected a double-quoted string"),
    # paths
    ("parent: open /etc/passwd -> f", "/etc/passwd", "absolute path '/etc/passwd' is not allowed"),
    ("parent: open ../x -> f", "..", "'..' is not allowed in a path"),
    ("parent: open sub/../../x -> f", "../../x", "'..' is not allowed"),
    ("parent: open a//b -> f", "/b", "empty component"),
    ("parent: open sub/ -> f", " -> f", "empty component"),
    ("parent: open ./x -> f", "./x", "'.' is not allowed"),
    ("parent: open a$b -> f", "$", "character '$' is not allowed"),
    ("parent: open " + "a" * 256 + " -> f", "a" * 256, "longer than 255"),
    ("parent: open data.txt rw ro -> f", "ro ->", "conflicts with 'rw'"),
    ("parent: open data.txt excl -> f", "excl", "unknown open option 'excl'"),
    ("parent: spawn probe chdir=/tmp -> c", "/tmp", "absolute path"),
    ("parent: spawn probe open=3:../etc -> c", "..", "'..' is not allowed"),
    # programs
    ("parent: exec /bin/sh", "/bin/sh", "program '/bin/sh' is not allowed"),
    ("parent: exec /usr/bin/true", "/usr/bin/true", "not allowed"),
    ("parent: spawn python -> c", "python", "not allowed"),
    ("parent: exec /bin/cat /etc/passwd", "/etc/passwd", "absolute path"),
    ("parent: exec /bin/cat a.txt -n", "-n", "not options like '-n'"),
    ("parent: exec /bin/cat ../x", "..", "'..' is not allowed"),
    ("parent: exec /bin/cat a b c d e f g h i", "i", "at most 8 inputs"),
    ("parent: exec /bin/true now", "now", "takes no arguments"),
    ("parent: exec probe x", "x", "'probe' takes no arguments"),
    ("parent: exec /bin/sleep", None, "/bin/sleep needs one argument"),
    ("parent: exec /bin/sleep 11", "11", "limited to 10 seconds"),
    ("parent: exec /bin/sleep 1 2", "2", "exactly one argument"),
    ("parent: exec /bin/sleep 1s", "1s", "a number of seconds"),
    ('parent: exec /bin/sleep "1"', '"1"', "without quotes"),
    ("parent: exec probe close=3", "close=3", "exec takes no spawn actions"),
    ("parent: exec", None, "expected a program"),
    ("parent: spawn probe setsid 1 -> c", "1 ->", "unknown spawn action '1'"),
    # spawn actions
    ("parent: spawn probe frob=1 -> c", "frob=1", "unknown spawn action 'frob=1'"),
    ("parent: spawn probe close= -> c", " -> c", "close= needs a value"),
    ("parent: spawn probe dup2=w -> c", "w -> c", "dup2= needs two parts"),
    ("parent: spawn probe dup2=w:512 -> c", "512", "fd numbers in a script are 0-511"),
    ("parent: spawn probe open=x:data.txt -> c", "x:", "expected an fd number"),
    ("parent: configure b setsid setpgroup", "setpgroup", "unexpected"),
    # clone
    ("parent: clone -> c", " ->", "clone: expected FLAGS"),
    ("parent: clone vm,thread -> c", "thread", "unknown clone flag 'thread'"),
    ("parent: clone vm,vm -> c", "vm ->", "given twice"),
    ("parent: clone vm into=../x -> c", "../x", "expected into=NAME"),
    ("parent: clone none, vm -> c", "none", "cannot be combined"),
    ("parent: clone vm vfork -> c", "vfork", "expected ','"),
    ("parent: clone vm, -> c", " -> c", "expected a clone flag after ','"),
    # fds and numbers
    ("parent: close 512", "512", "fd numbers in a script are 0-511"),
    ("parent: dup2 w 1024", "1024", "0-511"),
    ("parent: close_range 3 600", "600", "0-511"),
    ("parent: close_range 3 max please", "please", "unknown close_range option"),
    ("parent: close_range lo max", "lo", "expected an fd number"),
    ("parent: cloexec w yes", "yes", "on|off"),
    ("parent: exit 256", "256", "an exit code is 0-255"),
    ("parent: exit -1", "-1", "expected an exit code"),
    ("parent: exit 1 2", "2", "unexpected"),
    ("parent/t1: exit 3", "3", "a thread's exit takes no code"),
    ("parent: setvbuf big", "big", "none|line|full"),
    ("parent: madvise heap forget", "forget", "dontfork|dofork"),
    ("parent: mprotect heap rx", "rx", "ro|rw|none"),
    ("parent: create_process probe inherit=0+0 -> c", "0 -> c", "listed twice"),
    ("parent: create_process probe inherit= -> c", " -> c", "inherit= needs fds"),
    ("parent: create_process probe keep=1 -> c", "keep=1", "expected inherit=FD+FD"),
    ("parent: fflush now", "now", "unexpected"),
    # repeat
    ("repeat 0: parent: fork -> c", "0", "repeat count must be 1..1000"),
    ("repeat 1001: parent: fork -> c", "1001", "1..1000"),
    ("repeat many: parent: fork -> c", "many", "expected a repeat count"),
    ("repeat 3 parent: fork -> c", "repeat", "expected 'repeat N: LINE'"),
    ("repeat 2: repeat 2: parent: fork -> c", "repeat 2: parent", "cannot be nested"),
    ("repeat 2:", None, "expected a script line after 'repeat N:'"),
    ("repeat 300: parent: fork -> c", "c", "at most 256"),
    # identity, working directory and environment
    ("parent: chdir ../up", "../up", "'..'"),
    ("parent: umask 0999", "0999", "1 to 4 octal digits"),
    ("parent: umask 1000", "1000", "at most 0777"),
    ("parent: cgroup ../up", "../up", "not a path"),
    ("parent: cgroup", None, "a control group's name"),
    ("parent: setpgid child", None, "the process whose group it joins"),
    ("parent: setpgid child heap", "heap", "'heap' is a mapping"),
    ("parent: setsid now", "now", "unexpected 'now' (usage: P: setsid)"),
    ('parent: setenv FORKLAB_CHAN "3"', "FORKLAB_CHAN", "forklab's own"),
    ('parent: setenv 9LIVES "x"', "9LIVES", "not an environment variable name"),
    ("parent: setenv FL_X value", "value", "double-quoted string"),
    ("parent: unsetenv A=B", "A=B", "not an environment variable name"),
    ("parent: pdeathsig sigterm", "sigterm", "write 'SIGTERM'"),
    ("parent: setrlimit files 10", "files", "expected a resource"),
    ("parent: setrlimit nofile 100", "100", "nofile limits below 1024 are refused"),
    ("parent: setrlimit stack 1MiB", "1MiB", "stack limits below 8388608 are refused"),
    ("parent: setrlimit as lots", "lots", "expected a size"),
    ("parent: setrlimit core 1MiB", "1MiB", "a core limit other than 0 is refused"),
]


@pytest.mark.parametrize("line,token,fragment", LINE_ERRORS,
                         ids=[f"{n}:{c[0][:40]}" for n, c in enumerate(LINE_ERRORS)])
def test_script_line_errors(line: str, token: str | None, fragment: str) -> None:
    err = error(doc(PRELUDE + "\nparent: fflush\n" + line))
    col = len(line) + 1 if token is None else line.rindex(token) + 1
    assert fragment in err.message
    assert at(err) == (6 + PRELUDE_LINES + 2, col), err.message
    assert err.where is not None and err.where.step == 1


def test_repeat_suffix_collides_with_a_bound_name() -> None:
    err = error(doc("parent: fork -> k_2\nrepeat 3: parent: fork -> k"))
    assert at(err) == (8, 27) and "name 'k_2' is already bound (line 7)" in err.message


def test_control_characters_in_a_script() -> None:
    err = error(HEAD + '[[step]]\ndo = "parent: fork -> c\\u0007"\n')
    assert at(err) == (5, 24) and "control character U+0007" in err.message


def test_inherit_needs_fds() -> None:
    err = error(doc(PRELUDE + "\nparent: create_process probe inherit=heap -> c"))
    assert "create_process needs an fd" in err.message


# --- errors point at the real line in the file --------------------------------------------

def test_error_in_a_later_step_names_step_and_line() -> None:
    text = (HEAD + '[[step]]\ndo = "parent: fork -> c"\n\n[[step]]\nsay = "x"\n'
            'do = """\nc: exit\n  c: frok\n"""\n')
    err = error(text, "f.toml")
    assert at(err) == (11, 6) and err.where.step == 2
    assert str(err).startswith("f.toml:11:6 (step 2): unknown verb 'frok'")


def test_error_in_a_one_line_string_with_escapes() -> None:
    text = HEAD + '[[step]]\ndo = "parent: printf \\"\\t\\"\\nparent: frok"\n'
    err = error(text)
    line = text.splitlines()[4]
    assert at(err) == (5, line.index("frok") + 1)


def test_error_in_an_inline_step_table() -> None:
    text = HEAD + 'step = [ { do = "parent: fork -> c" }, { do = "c: wait nobody" } ]\n'
    err = error(text)
    assert at(err) == (4, text.splitlines()[3].index("nobody") + 1)
    assert err.where.step == 2


def test_names_are_bound_in_file_order() -> None:
    text = HEAD + '[[step]]\ndo = "c: exit"\n[[step]]\ndo = "parent: fork -> c"\n'
    err = error(text)
    assert at(err) == (5, 7) and "unknown name 'c'" in err.message


def test_rebinding_names_the_first_line() -> None:
    err = error(doc("parent: fork -> c\n\nparent: vfork -> c"))
    assert at(err) == (9, 18) and "name 'c' is already bound (line 7)" in err.message


def test_thread_of_another_process() -> None:
    err = error(doc("parent: thread -> t\nparent: fork -> c\nc/t: lock m"))
    assert at(err) == (9, 3) and "belongs to 'parent'" in err.message


def test_too_many_sysv_segments() -> None:
    script = "\n".join(f"parent: mmap m{i} 1p sysv" for i in range(65))
    err = error(doc(script))
    assert at(err) == (7 + 64, len("parent: mmap m64 1p ") + 1)
    assert "too many System V segments: a scenario may make at most 64" in err.message


def test_too_many_forks_across_lines() -> None:
    script = "\n".join(["repeat 200: parent: fork -> a", "repeat 56: parent: fork -> b",
                        "parent: clone none -> last"])
    err = error(doc(script))
    assert at(err) == (9, 23) and "at most 256" in err.message


@pytest.mark.parametrize("verb", ["fork", "vfork", "clone vm", "spawn probe", "spawn_from tpl",
                                  "create_process probe"])
def test_every_process_creating_verb_counts(verb: str) -> None:
    err = error(doc("parent: spawn_template probe -> tpl\n" + f"repeat 257: parent: {verb} -> k"))
    assert "at most 256" in err.message and err.where.line == 8


def test_pidfd_exec_counts_too() -> None:
    lines = [f"parent: pidfd_empty -> b{n}\nparent: pidfd_exec b{n} probe -> c{n}"
             for n in range(257)]
    err = error(doc("\n".join(lines)))
    assert "at most 256" in err.message and err.where.line == 6 + 2 * 257


def test_too_many_ops() -> None:
    script = "\n".join(["repeat 1000: parent: fflush"] * 10 + ["parent: fflush"])
    err = error(doc(script))
    assert at(err) == (17, 1) and "at most 10000" in err.message


def test_mappings_must_fit_the_layout() -> None:
    script = "\n".join(f"parent: mmap m{n} 16TiB" for n in range(9))
    err = error(doc(script))
    # 128 TiB holds seven, each with its 1 GiB gap after it
    assert at(err) == (14, 17) and "does not fit" in err.message


def test_what_if_verb_in_a_real_step() -> None:
    err = error(doc("parent: fork -> c\n  parent: pidfd_empty -> b", real=True))
    assert at(err) == (8, 3) and "set real = false" in err.message


# --- the TOML layer -----------------------------------------------------------------------

TOML_ERRORS = [
    # (text, (line, col), fragment)
    (HEAD + "titel = 'x'\n[[step]]\n", (4, 1), "unknown key 'titel' in the scenario"),
    (HEAD + "[[step]]\ndoo = 'x'\n", (5, 1), "unknown key 'doo' in step 1"),
    (HEAD + "[[step]]\n[[step]]\n  expct = []\n", (6, 3), "unknown key 'expct' in step 2"),
    (HEAD + "[[step]]\nask = [{ q = 'q', a = 'parent.threads', answer = 1 }]\n", (5, "answer"),
     "unknown key 'answer' in an ask entry"),
    ('title = "T"\nsummary = "S"\n[[step]]\n', (1, 1), "missing required key 'id'"),
    ('id = "t"\nsummary = "S"\n[[step]]\n', (1, 1), "missing required key 'title'"),
    ('id = "t"\ntitle = "T"\n[[step]]\n', (1, 1), "missing required key 'summary'"),
    (HEAD, (1, 1), "at least one [[step]]"),
    (HEAD + "step = []\n", (4, 8), "at least one [[step]]"),
    (HEAD + "step = 3\n", (4, 8), "'step' must be an array of tables"),
    (HEAD + "[step]\n", (4, 1), "'step' must be an array of tables"),
    ('id = "Cow"\ntitle = "T"\nsummary = "S"\n[[step]]\n', (1, 6), "'id' must match [a-z0-9-]+"),
    ('id = 3\ntitle = "T"\nsummary = "S"\n[[step]]\n', (1, 6), "'id' must be"),
    ('id = "t"\ntitle = ""\nsummary = "S"\n[[step]]\n', (2, 9), "'title' must not be empty"),
    (HEAD + "tags = 'memory'\n[[step]]\n", (4, 8), "'tags' must be an array of strings"),
    (HEAD + "tags = ['a', 2]\n[[step]]\n", (4, 14), "'tags' must hold only strings"),
    (HEAD + "real = 'yes'\n[[step]]\n", (4, 8), "'real' must be true or false, got a string"),
    (HEAD + "first = 'Init'\n[[step]]\n", (4, 9), "'first': expected a name"),
    (HEAD + "first = 'max'\n[[step]]\n", (4, 9), "reserved"),
    (HEAD + "first = 7\n[[step]]\n", (4, 9), "'first' must be a process name, got an integer"),
    (HEAD + "[[step]]\ndo = ['parent: fork -> c']\n", (5, 6), "'do' must be a string"),
    (HEAD + "[[step]]\nsay = 1979-05-27\n", (5, 7), "'say' must be a string, got a date/time"),
    (HEAD + "[[step]]\nreal = 1\n", (5, 8), "'real' must be true or false, got an integer"),
    (HEAD + "[[step]]\nexpect = 'parent.threads == 1'\n", (5, 10), "'expect' must be an array"),
    (HEAD + "[[step]]\nexpect = ['x', 1.5]\n", (5, 16), "'expect' must hold only strings"),
    (HEAD + "[[step]]\nask = { q = 'q', a = 'x' }\n", (5, 7), "'ask' must be an array"),
    (HEAD + "[[step]]\nask = ['q']\n", (5, 8), "each ask entry must be an inline table"),
    (HEAD + "[[step]]\nask = [{ a = 'parent.threads' }]\n", (5, 8), "missing required key 'q'"),
    (HEAD + "[[step]]\nask = [{ q = 'Why?' }]\n", (5, 8), "missing required key 'a'"),
    (HEAD + "[[step]]\nask = [{ q = 'Why?', a = 'parent.threads', choices = 'a' }]\n", (5, "'a' }"),
     "'choices' must be an array of strings"),
    (HEAD + "[[step]]\nask = [{ q = 'Why?', a = 'parent.threads', hint = [] }]\n", (5, "[] }"),
     "'hint' must be a string"),
    (HEAD + "[[step]]\nnote = false\n", (5, 8), "'note' must be a string"),
    # TOML syntax, reported where tomllib found it
    (HEAD + "[[step]]\ndo = 'unterminated\n", (5, 19), "invalid TOML"),
    (HEAD + "x = = 1\n", (4, 5), "invalid TOML: Invalid value"),
    (HEAD + "id = 'again'\n", (4, 13), "invalid TOML: Cannot overwrite a value"),
    (HEAD + "[[step]]\nask = [\n  { q = 'q',\n    a = 'x' }\n  oops\n]\n", (8, 3),
     "invalid TOML"),
    (HEAD + "[[step]]\n" + "x = " + "[" * 2000 + "]" * 2000 + "\n", (5, 105),
     "nest too deeply"),
    (HEAD + "n = " + "9" * 5000 + "\n", (4, 5), "too large"),
]


@pytest.mark.parametrize("text,position,fragment", TOML_ERRORS,
                         ids=[f"{n}:{c[2][:30]}" for n, c in enumerate(TOML_ERRORS)])
def test_toml_errors(text: str, position: tuple[int, int | str], fragment: str) -> None:
    err = error(text, "s.toml")
    line, col = position
    if isinstance(col, str):  # the column of a marker on that line
        col = text.splitlines()[line - 1].index(col) + 1
    assert fragment in err.message
    assert at(err) == (line, col), err.message


def test_toml_syntax_error_names_the_step() -> None:
    err = error(HEAD + "[[step]]\n[[step]]\ndo = = 1\n")
    assert at(err) == (6, 6) and err.where.step == 2


def test_toml_syntax_error_positions_survive_joined_inline_tables() -> None:
    text = HEAD + "[[step]]\nask = [\n  { q = 'q',\n  a = 'x' },\n]\nbad\n"
    err = error(text)
    assert at(err) == (9, 4)


def test_expression_errors_point_into_the_file() -> None:
    text = HEAD + "[[step]]\nexpect = [\"parent.threads == 1\", \"parent.__class__\"]\n"
    err = error(text)
    line = text.splitlines()[4]
    assert err.where.line == 5 and err.where.step == 1
    assert line.index('"parent.__class__"') + 2 <= err.where.col <= len(line)


def test_ask_answer_errors_point_into_the_file() -> None:
    text = HEAD + "[[step]]\nask = [\n  { q = 'q',\n    a = 'lambda: 1' },\n]\n"
    err = error(text)
    assert err.where.line == 7 and err.where.col >= 10


def test_unbound_name_in_an_expression() -> None:
    err = error(HEAD + "[[step]]\nexpect = ['ghost.state == \"running\"']\n")
    assert err.where.line == 5


# --- files --------------------------------------------------------------------------------

def test_file_not_utf8(tmp_path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(HEAD.encode() + b"[[step]]\nsay = 'caf\xe9'\n")
    with pytest.raises(ScenarioError) as info:
        parse_file(path)
    assert info.value.where.file == str(path) and "not UTF-8" in info.value.message
    assert at(info.value) == (5, 11)


def test_file_missing(tmp_path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        parse_file(path)
    assert info.value.where.file == str(path) and at(info.value) == (1, 1)
    assert "cannot read" in info.value.message


def test_file_is_a_directory(tmp_path) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_file(tmp_path)
    assert "cannot read" in info.value.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_file_unreadable(tmp_path) -> None:
    path = tmp_path / "secret.toml"
    path.write_text(HEAD)
    path.chmod(0)
    with pytest.raises(ScenarioError):
        parse_file(path)


def test_file_too_big(tmp_path) -> None:
    path = tmp_path / "big.toml"
    path.write_text(HEAD + "[[step]]\nsay = '''" + "x" * (1 << 20) + "'''\n")
    with pytest.raises(ScenarioError) as info:
        parse_file(path)
    assert "larger than 1 MiB" in info.value.message
    with pytest.raises(ScenarioError):
        parse_text(path.read_text())


def test_text_with_a_lone_surrogate() -> None:
    err = error(HEAD + "[[step]]\nsay = '\ud800'\n")
    assert at(err) == (5, 8)


@pytest.mark.parametrize("text, line, col, char", [
    ('id = "t"\ntitle = "clear \\u001b[2J"\nsummary = "S"\n[[step]]\ndo = "parent: fflush"\n',
     2, 16, "U+001B"),
    ('id = "t"\ntitle = "T"\nsummary = "S"\n[[step]]\nsay = "a \u202e b"\ndo = "parent: fflush"\n',
     5, 10, "U+202E"),
    ('id = "t"\ntitle = "T"\nsummary = "S"\n[[step]]\ndo = "parent: fflush"\n'
     'ask = [{q = "x\\rfake", answer = "1"}]\n', 6, 15, "U+000D"),
    (HEAD + '[[step]]\ndo = "parent: printf \\"\\u0007\\""\n', 5, 24, "U+0007"),
])
def test_terminal_control_characters_are_refused_where_they_are_written(text, line, col, char):
    """Escape sequences (screen clearing, window titles, hyperlinks), carriage
    returns and bidi overrides in any string would act on the terminal that
    shows a title, narrative, question or printed text."""
    err = error(text)
    assert char in err.message and at(err) == (line, col)


@pytest.mark.parametrize("script, line, message", [
    ("parent: open a create -> f\nparent: mmap m 8KiB file=a/b", 8,
     "file=a/b: 'a' is a file (line 7)"),
    ("parent: spawn /bin/true open=1:out -> t\nparent: mmap m 8KiB file=out/x", 8,
     "file=out/x: 'out' is a file (line 7)"),
    ("parent: mmap a 8KiB file=sub/f\nparent: mmap n 8KiB file=sub", 8,
     "file=sub is a directory (line 7)"),
])
def test_a_file_forklab_could_not_make_is_refused_before_anything_runs(script, line, message):
    err = error(doc(script))
    assert message in err.message and at(err)[0] == line


def test_paths_that_can_be_made_are_accepted():
    parse_text(doc("parent: mmap a 8KiB file=sub/f\nparent: mmap b 8KiB file=sub/g\n"
                   "parent: open sub/h create -> f\nparent: mmap c 8KiB file=sub/f"))


@pytest.mark.parametrize("script, line, message", [
    ("parent: malloc 64 -> a\nparent: free a\nparent: free a", 9,
     "in parent's memory, 'a' was freed already (line 8)"),
    ("parent: fork -> child\nchild: malloc 64 -> a\nparent: free a", 9,
     "in parent's memory, 'a' was never allocated there"),
    ("parent: malloc 64 -> a\nparent: exec probe\nparent: free a", 9,
     "in parent's memory, 'a' was never allocated there"),
    ("parent: malloc 64 -> a\nparent: vfork -> v\nv: free a\nparent: free a", 10,
     "in parent's memory, 'a' was freed already (line 9)"),
    ("parent: malloc 64 -> a\nparent: clone vm -> c\nc: free a\nparent: free a", 10,
     "was freed already (line 9)"),
    ("parent: thread -> t1\nparent: malloc 64 -> a\nparent/t1: free a\nparent: free a", 10,
     "was freed already (line 9)"),
])
def test_a_free_that_would_abort_is_refused_before_anything_runs(script, line, message):
    """glibc aborts a process on a double free; the real backend's probe would
    die of it, so the language refuses it on every backend at parse time."""
    err = error(doc(script))
    assert message in err.message and at(err)[0] == line


def test_frees_of_copies_and_shared_memory_are_accepted():
    parse_text(doc("parent: malloc 64 -> a\nparent: fork -> child\nchild: free a\n"
                   "parent: free a\nparent: vfork -> v\nv: malloc 8 -> b\nv: exit 0\n"
                   "parent: free b\nparent: malloc 8 -> c\nparent: exec missing\n"
                   "parent: free c"))


def test_every_step_and_expression_reports_its_own_error() -> None:
    """A file's errors come all at once: each step's script (its first bad line),
    and each bad expectation and question, in file order."""
    text = (HEAD + '[[step]]\ndo = "parent: frok -> c"\nexpect = ["parent.stat == 1"]\n'
            '[[step]]\ndo = "parent: mmap heap 8KiB"\n'
            'expect = ["parent.heap.presnt == 0", "parent.state == \'running\'", "1 +"]\n'
            'ask = [{q = "x", a = "parent.thredas"}]\n')
    err = error(text)
    assert isinstance(err, ScenarioErrors)
    found = [(e.where.line, e.where.step, e.message.split(":")[0]) for e in err.errors]
    assert [(line, step) for line, step, _ in found] == [(5, 1), (9, 2), (9, 2), (10, 2)]
    assert "unknown verb 'frok'" in found[0][2] and "'presnt'" in found[1][2]
    assert "'thredas'" in found[3][2]
    assert str(err).count("\n") == 3  # one line each
