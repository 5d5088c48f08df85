"""The script-line grammar: one line of text to Ops (docs/scenario-language.md,
"Script lines" and "Verbs").

    ACTOR ":" VERB ARG* [ "->" NAME ("," NAME)* ]      # comment
    "repeat" N ":" LINE

A line is checked against what earlier lines bound (:class:`Bindings`, the one
namespace of §2), so every error is found before anything runs and names the
exact column of the token at fault. Positions come from a :class:`LineSource`,
which maps an index in the line to a line and column in the file.
"""
from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, NoReturn

from forklab import observe
from forklab.layout import MAX_MAPPING, slot_room
from forklab.scenario import ops
from forklab.scenario.model import (
    ALLOWED_PROGRAMS,
    Actor,
    FdRef,
    NameKind,
    Program,
    Range,
    ScenarioError,
    SpawnAction,
    Where,
    did_you_mean,
)
from forklab.scenario.placement import Placement
from forklab.scenario.validate import (
    MAX_CAT_INPUTS,
    MAX_ENV_VALUE,
    MAX_FD,
    MAX_SLEEP,
    SLEEP_ARGUMENT,
    altstack_problem,
    cat_input_problem,
    path_problem,
    rlimit_problem,
    text_problem,
    timer_problem,
    variable_problem,
)
from forklab.scenario.verbs import VERBS, Handlers
from forklab.vocabulary import (
    FAULTS,
    JOB_CONTROL,
    PAGE,
    SIGNAL_ALIASES,
    SIGNAL_NUMBERS,
    format_size,
    parse_size,
)

MAX_PROCESS_OPS = 256  # process-creating ops per scenario, after repeat expansion
MAX_OPS = 10_000  # ops per scenario, after repeat expansion
MAX_REPEAT = 1000
_SEM_DELTA = re.compile(r"0|[+-][1-9][0-9]{0,3}")
MAX_SEMAPHORE_SETS = 16  # `semget` per scenario: the machine's kernel.sem SEMMNI is shared
MAX_SYSV_SEGMENTS = 64  # `mmap ... sysv` per scenario: the machine has kernel.shmmni (4096)
# segment ids for all its users, and a run must not take them
READ_SIZE = 65536  # bytes one `readfd` asks read(2) for: the most a `pread` may ask
MAX_FILE_OFFSET = 1 << 40  # an offset or size written in lseek, pread, pwrite, ftruncate

# --- lexical forms ------------------------------------------------------------------------

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
OBJECT_NAME = re.compile(r"[a-z0-9_][a-z0-9_-]{0,31}")  # a memfd's or shm object's name
_INT = re.compile(r"0x[0-9a-fA-F]+|[0-9]+")
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(us|ms|s)")
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_RANGE = re.compile(r"([^\[\]]*)(?:\[([^\[\]]*)\])?")
_REPEAT = re.compile(r"[ \t]*repeat(?![A-Za-z0-9_])")
_REPEAT_HEAD = re.compile(r"([ \t]*)repeat[ \t]+([^ \t:]*)[ \t]*:[ \t]*")
_ACTOR = re.compile(r"([ \t]*)([^ \t:]*)[ \t]*:")
_MAX_DIGITS = 24  # longer numbers are refused before int() sees them
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")


# Names that would be ambiguous in a script or in an expression (§4).
RESERVED_NAMES = frozenset(
    {kw for kw in keyword.kwlist if kw.islower()}
    | {"repeat", "max", "any", "stdout", "processes", "len", "sorted", "set", "min", "abs", "count",
       "approx"}
)
# A mapping is read as P.NAME, so it cannot share a name with a process observable
# (nor with a field of the process's record).
PROCESS_OBSERVABLES = frozenset(
    {o.name for o in observe.PROCESS_OBSERVABLES} | {f.name for f in fields(observe.ProcessObs)}
)

_ARTICLE = {"process": "a process", "thread": "a thread", "mapping": "a mapping", "fd": "an fd",
            "lock": "a lock", "allocation": "an allocation", "template": "a spawn template",
            "blank": "a blank process (pidfd_empty)", "semaphore": "a semaphore set (semget)"}

WRITTEN_VERBS = tuple(sorted(v for v in VERBS if v != "thread_exit"))
CLONE_FLAGS = ("vm", "vfork", "files", "sighand", "fs", "sysvsem", "pidfd", "clear_sighand",
               *ops.CLONE_NAMESPACE_FLAGS)
SPAWN_ACTIONS = ("close=FD", "dup2=FD:NUM", "open=NUM:PATH", "closefrom=NUM", "chdir=PATH",
                 "setsid", "setpgroup", "sigmask=SIG+SIG", "sigdefault=SIG+SIG")
_ACTION_KEYS = frozenset({"close", "dup2", "open", "closefrom", "chdir", "sigmask", "sigdefault"})
_ACTION_WORDS = frozenset({"setsid", "setpgroup"})
_MMAP_OPTIONS = {"anon": "backing", "sysv": "backing", "private": "share", "shared": "share",
                 "rw": "prot", "ro": "prot", "rx": "prot", "thp": "thp", "noreserve": "noreserve"}
_OPEN_OPTIONS = {"ro": "mode", "wo": "mode", "rw": "mode", "cloexec": "cloexec",
                 "append": "append", "create": "create"}
MUTEX_KINDS = ("normal", "errorcheck")
_OCTAL_MODE = re.compile(r"[0-7]{1,4}")
_WAIT_OPTIONS = {"nohang": "nohang", "untraced": "untraced", "all": "all"}
_WAITID_OPTIONS = {"nowait": "nowait", "nohang": "nohang"}
SCHED_POLICIES = ("other", "batch", "idle")
"""The scheduling policies any user may take (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE)."""
MAX_CPU = 511  # the highest CPU number an affinity list may name
MAX_TIMER_SLACK = 10 ** 9  # ns: a second
COMM = re.compile(r"[A-Za-z0-9._-]{1,32}")  # a thread name as `comm` takes it
SCENARIO_IDS = (0, 65534)
"""The user and group ids a scenario may name: root's and nobody's (docs/scenario-language.md,
"Credentials")."""
DROPPABLE_CAPS = ("CAP_CHOWN", "CAP_FSETID", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
                  "CAP_SYS_TIME", "CAP_SYS_BOOT", "CAP_AUDIT_WRITE", "CAP_WAKE_ALARM",
                  "CAP_LEASE", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_SYS_NICE",
                  "CAP_SYS_CHROOT")
"""The capabilities `capdrop` may drop: those no other verb's outcome depends on, and those
the model follows per thread (setting ids, dropping capabilities, lowering nice, chroot)."""
_CHOICES = {
    "madvise": ("dontfork", "dofork", "wipeonfork", "keeponfork", "dontneed", "free", "hugepage",
                "nohugepage"),
    "mprotect": ("ro", "rw", "none"),
    "setvbuf": ("none", "line", "full"),
    "sched": SCHED_POLICIES,
    "dumpable": ("0", "1"),
    "signal": ("ignore", "default", "catch"),
    "sigaction": ("catch", "ignore", "default", "exit"),
    "cloexec": ("on", "off"),
    "lseek": ("set", "cur", "end"),
    "setitimer": ("real", "virtual", "prof"),
    "fcntl_lock": ("read", "write", "unlock"),
    "flock": ("sh", "ex", "un"),
}

OPTION_WORDS: dict[str, frozenset[str]] = {
    "mmap": frozenset({*_MMAP_OPTIONS, "file=PATH", "fd=FD"}),
    "memfd": frozenset({"cloexec"}), "shm_open": frozenset({"create"}),
    "open": frozenset(_OPEN_OPTIONS),
    **{verb: frozenset(words) for verb, words in _CHOICES.items()},
    "sigaction": frozenset({*_CHOICES["sigaction"], *ops.SIGACTION_FLAGS}),
    "mremap": frozenset({"maymove"}),
    "mlockall": frozenset(ops.MLOCKALL_FLAGS),
    "pipe": frozenset({"cloexec"}), "dup": frozenset({"cloexec"}),
    "close_range": frozenset({"cloexec", "max"}),
    "clone": frozenset({*CLONE_FLAGS, "none", "into=NAME", "exitsig=SIG"}),
    "unshare": frozenset(ops.NAMESPACE_KINDS),
    "wait": frozenset({"any", "nohang", "untraced", "all"}),
    "waitid": frozenset({"any", "nowait", "nohang"}),
    "mutex": frozenset(MUTEX_KINDS),
    "semop": frozenset({"undo"}),
    "pdeathsig": frozenset({"none"}),
    "setrlimit": frozenset({*ops.RLIMITS, "unlimited"}),
    "sched": frozenset({*SCHED_POLICIES, "resetonfork"}),
    "setgroups": frozenset({"none"}),
    "capdrop": frozenset({"bounding"}),
    "fcntl_lock": frozenset({*_CHOICES["fcntl_lock"], "ofd"}), "sigaltstack": frozenset({"off"}),
    "spawn": frozenset(SPAWN_ACTIONS), "spawn_template": frozenset(SPAWN_ACTIONS),
    "configure": frozenset(SPAWN_ACTIONS), "create_process": frozenset({"inherit=FD+FD"}),
}
"""Every word the parser takes as an option of a verb (its docs must name each)."""


def _quote_list(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(items)


# --- where things are ---------------------------------------------------------------------

@dataclass(frozen=True)
class LineSource:
    """One script line and where each of its characters sits in the file."""

    text: str
    file: str
    step: int | None
    locate: Callable[[int], tuple[int, int]]  # index in text -> (file line, column)

    def where(self, index: int) -> Where:
        line, col = self.locate(max(0, min(index, len(self.text))))
        return Where(self.file, line, col, self.step)

    def fail(self, index: int, message: str) -> NoReturn:
        raise ScenarioError(message, self.where(index))


# --- the namespace ------------------------------------------------------------------------

@dataclass
class Bindings:
    """Every name bound so far (one namespace, §2), and the counts the bounds of §5 need."""

    kinds: dict[str, NameKind]
    bound_at: dict[str, int | None] = field(default_factory=dict)  # line; None: the first process
    mapping_sizes: dict[str, int] = field(default_factory=dict)  # names bound by an mmap we saw
    grown_sizes: dict[str, int] = field(default_factory=dict)  # the largest an mremap made one
    # (what the ranges that follow may reach)
    thread_owner: dict[str, str] = field(default_factory=dict)  # thread -> its process
    placement: Placement | None = None  # the mappings placed so far; None if unknown
    process_ops: int = 0
    ops: int = 0
    sysv_segments: int = 0
    semaphore_sets: int = 0

    @classmethod
    def start(cls, first: str) -> Bindings:
        """A scenario's namespace before its first line: just the first process."""
        return cls(kinds={first: "process"}, bound_at={first: None}, placement=Placement())

    @classmethod
    def from_names(cls, names: dict[str, NameKind]) -> Bindings:
        """A namespace known only by its names (a sandbox): sizes and owners are unknown."""
        return cls(kinds=dict(names), bound_at={name: None for name in names})


def check_name_syntax(name: str) -> str | None:
    """Why ``name`` cannot be bound, or None if it can."""
    if not _NAME.fullmatch(name):
        return f"expected a name ([a-z_][a-z0-9_]*), got '{name}'"
    if name in RESERVED_NAMES:
        return f"'{name}' cannot be a name: it is reserved (a keyword or an expression function)"
    if name.startswith("__"):
        return f"'{name}' cannot be a name: names may not start with '__'"
    return None


# --- tokens -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # "word", "string", "arrow", "comma"
    text: str  # a word as written; a string decoded
    start: int  # index in the line
    end: int


def _comment_start(src: LineSource) -> int:
    """Index of the `#` that starts the comment (outside strings), or the line's length."""
    text = src.text
    if "#" not in text:
        return len(text)
    i, quoted = 0, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "#":
            return i
        i += 1
    return len(text)


def _check_characters(src: LineSource, end: int) -> None:
    """Refuse control characters (tab aside): a script line is one line of plain text."""
    bad = _CONTROL.search(src.text, 0, end)
    if bad is None:
        return
    if bad.group() == "\n":
        src.fail(bad.start(), "a script line cannot contain a line break (one line at a time)")
    src.fail(bad.start(), f"control character U+{ord(bad.group()):04X} is not allowed in a "
                          "script line")


def tokenize(src: LineSource, start: int, end: int) -> list[Token]:
    """Words, double-quoted strings, `->` and `,` of ``src.text[start:end]``."""
    text = src.text
    tokens: list[Token] = []
    i = start
    while i < end:
        ch = text[i]
        if ch in " \t":
            i += 1
        elif ch == ",":
            tokens.append(Token("comma", ",", i, i + 1))
            i += 1
        elif text.startswith("->", i):
            tokens.append(Token("arrow", "->", i, i + 2))
            i += 2
        elif ch == '"':
            tokens.append(_string(src, i, end))
            i = tokens[-1].end
        else:
            j = i
            while j < end and text[j] not in ' \t,"' and not text.startswith("->", j):
                j += 1
            tokens.append(Token("word", text[i:j], i, j))
            i = j
    return tokens


def _string(src: LineSource, start: int, end: int) -> Token:
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}
    out: list[str] = []
    i = start + 1
    while i < end:
        ch = src.text[i]
        if ch == '"':
            return Token("string", "".join(out), start, i + 1)
        if ch == "\\":
            nxt = src.text[i + 1] if i + 1 < end else ""
            if nxt not in escapes:
                src.fail(i, f"unknown escape '\\{nxt}' in a string; "
                            'expected \\n, \\t, \\\\ or \\"')
            out.append(escapes[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    src.fail(start, 'unterminated string: expected a closing "')


# --- one line -----------------------------------------------------------------------------

def parse_script_line(src: LineSource, names: Bindings) -> list[ops.Op]:
    """The ops of one script line (none for a blank or comment line; N for `repeat N:`)."""
    end = _comment_start(src)
    _check_characters(src, end)
    if not src.text[:end].strip(" \t"):
        return []
    if not _REPEAT.match(src.text, 0, end):
        return [_Line(src, 0, end, names, "").parse()]
    head = _REPEAT_HEAD.match(src.text, 0, end)
    if head is None:
        lead = len(src.text) - len(src.text.lstrip(" \t"))
        src.fail(lead, "expected 'repeat N: LINE' (a count, a colon, then a script line)")
    count_at = head.start(2)
    count = _integer(src, head.group(2), count_at, "a repeat count")
    if not 1 <= count <= MAX_REPEAT:
        src.fail(count_at, f"repeat count must be 1..{MAX_REPEAT}, got {count}")
    inner = head.end()
    if _REPEAT.match(src.text, inner, end):
        src.fail(inner, "repeat cannot be nested; write the inner line with one repeat")
    if not src.text[inner:end].strip(" \t"):
        src.fail(inner, "expected a script line after 'repeat N:'")
    return [_Line(src, inner, end, names, f"_{k}").parse() for k in range(1, count + 1)]


RULES = Handlers("the parser")
"""The parser's rule for each verb: argument tokens to the op's field values."""


class _Line:
    """Parses one (possibly repeated) script line into one Op."""

    def __init__(self, src: LineSource, start: int, end: int, names: Bindings, suffix: str):
        self.src = src
        self.start = start
        self.end = end
        self.names = names
        self.suffix = suffix
        self.binds: list[str] = []
        self.renames: list[tuple[int, int, str]] = []
        self.verb = ""
        self.actor = Actor("")
        self.tail = end  # where a missing argument would go

    def fail(self, index: int, message: str) -> NoReturn:
        self.src.fail(index, message)

    # -- the line --------------------------------------------------------------------------
    def parse(self) -> ops.Op:
        text = self.src.text
        m = _ACTOR.match(text, self.start, self.end)
        if m is None:
            lead = len(text[self.start:self.end]) - len(text[self.start:self.end].lstrip(" \t"))
            self.fail(self.start + lead, "expected 'ACTOR: VERB ...' "
                                         "(a process name, a colon, then a verb)")
        actor_at = m.start(2)
        tokens = tokenize(self.src, m.end(), self.end)
        self.tail = tokens[-1].end if tokens else m.end()
        if not tokens or tokens[0].kind != "word":
            self.fail(tokens[0].start if tokens else m.end(),
                      "expected a verb after ':' (like fork, mmap or write)")
        self.actor = self.parse_actor(m.group(2), actor_at)
        verb_tok = tokens[0]
        verb = verb_tok.text
        if verb not in VERBS or verb == "thread_exit":
            self.fail(verb_tok.start, f"unknown verb '{verb}'; expected one of: "
                                      f"{_quote_list(WRITTEN_VERBS)}"
                                      f"{did_you_mean(verb, WRITTEN_VERBS)}")
        if verb == "exit" and self.actor.thread is not None:
            verb = "thread_exit"
        self.verb = verb
        arrow = next((n for n, t in enumerate(tokens) if t.kind == "arrow"), None)
        args = tokens[1:arrow] if arrow is not None else tokens[1:]
        self.tail = args[-1].end if args else verb_tok.end
        bound = self.arrow_names(tokens, arrow)
        op_class = VERBS[verb].op
        values = RULES.by_op[op_class](self, args)
        for tok, kind in bound:
            self.bind(tok.text, tok.start, kind)
        self.count_op(actor_at)
        return op_class(actor=self.actor, binds=tuple(self.binds),
                        where=self.src.where(actor_at), text=self.rendered(), **values)

    def parse_actor(self, text: str, at: int, role: str | None = "an actor") -> Actor:
        """PROCESS or PROCESS/THREAD: who runs a line (or, with role None, whom
        a verb names, as kill's target)."""
        if not text:
            self.fail(at, "expected an actor (a process name, or PROCESS/THREAD) before ':'")
        if "/" not in text:
            if self.names.kinds.get(text) == "thread":
                known = self.names.thread_owner.get(text, "PROCESS")
                self.fail(at, f"'{text}' is a thread; write it with its process, "
                              f"as '{known}/{text}'")
            self.use(text, at, ("process",), role)
            return Actor(text)
        process, _, thread = text.partition("/")
        self.use(process, at, ("process",), role)
        self.use(thread, at + len(process) + 1, ("thread",), "the thread after '/'")
        owner = self.names.thread_owner.get(thread)
        if owner is not None and owner != process:
            self.fail(at + len(process) + 1,
                      f"thread '{thread}' belongs to '{owner}', not '{process}' "
                      "(a child gets only the thread that forked it)")
        return Actor(process, thread)

    def arrow_names(self, tokens: list[Token],
                    arrow: int | None) -> list[tuple[Token, NameKind]]:
        """The names after `->`, checked against how many this verb binds."""
        kinds = VERBS[self.verb].binds
        usage = VERBS[self.verb].usage
        if arrow is None:
            if kinds:
                self.fail(self.tail, f"{self.verb} must name what it creates: {usage}")
            return []
        if not kinds:
            self.fail(tokens[arrow].start, f"{self.verb} binds no name; remove '-> ...' "
                                           f"(usage: {usage})")
        names: list[Token] = []
        rest = tokens[arrow + 1:]
        for n, tok in enumerate(rest):
            want_name = n % 2 == 0
            if want_name and tok.kind != "word":
                self.fail(tok.start, f"expected a name after '{'->' if n == 0 else ','}'")
            if not want_name and tok.kind != "comma":
                self.fail(tok.start, f"expected ',' between the names after '->', "
                                     f"got '{tok.text}'")
            if want_name:
                names.append(tok)
        if not rest or rest[-1].kind == "comma":
            where = rest[-1].end if rest else tokens[arrow].end
            self.fail(where, f"expected a name after '{'->' if not rest else ','}'")
        if len(names) != len(kinds):
            at = names[len(kinds)].start if len(names) > len(kinds) else rest[-1].end
            count = "one name" if len(kinds) == 1 else "two names"
            self.fail(at, f"{self.verb} binds exactly {count}: {usage}")
        return list(zip(names, kinds))

    def count_op(self, at: int) -> None:
        self.names.ops += 1
        if self.names.ops > MAX_OPS:
            self.fail(at, f"too many ops: a scenario has at most {MAX_OPS} "
                          "(after expanding repeat)")

    def rendered(self) -> str:
        """The line as written (without its comment), with repeat's suffixed names."""
        text = self.src.text
        out, last = [], self.start
        for start, end, new in sorted(self.renames):
            out.append(text[last:start])
            out.append(new)
            last = end
        out.append(text[last:self.end])
        return "".join(out).strip(" \t")

    # -- names -----------------------------------------------------------------------------
    def use(self, name: str, at: int, kinds: tuple[NameKind, ...], role: str | None = None) -> str:
        """A name that must already be bound, as one of ``kinds``."""
        wanted = " or ".join(_ARTICLE[k] for k in kinds)
        if not _NAME.fullmatch(name):
            self.fail(at, f"expected a name ([a-z_][a-z0-9_]*) for {wanted}, got '{name}'")
        kind = self.names.kinds.get(name)
        if kind is None:
            hint = did_you_mean(name, [n for n, k in self.names.kinds.items() if k in kinds])
            self.fail(at, f"unknown name '{name}': nothing is bound to it before this line"
                          f"{hint} (expected {wanted})")
        if kind not in kinds:
            needs = f"{role} must be {wanted}" if role else f"{self.verb} needs {wanted} here"
            self.fail(at, f"'{name}' is {_ARTICLE[kind]}; {needs}")
        return name

    def bind(self, name: str, at: int, kind: NameKind) -> str:
        problem = check_name_syntax(name)
        if problem is None and kind == "mapping" and name in PROCESS_OBSERVABLES:
            problem = (f"'{name}' cannot name a mapping: P.{name} is already a process "
                       "observable")
        if problem:
            self.fail(at, problem)
        full = name + self.suffix
        if self.suffix:
            self.renames.append((at, at + len(name), full))
        if full in self.names.kinds:
            line = self.names.bound_at.get(full)
            where = f" (line {line})" if line is not None else ""
            self.fail(at, f"name '{full}' is already bound{where}; "
                          "a name is bound once per scenario")
        if kind == "process":
            self.names.process_ops += 1
            if self.names.process_ops > MAX_PROCESS_OPS:
                self.fail(at, f"too many processes: a scenario may create at most "
                              f"{MAX_PROCESS_OPS} (after expanding repeat)")
        if kind == "thread":
            self.names.thread_owner[full] = self.actor.process
        self.names.kinds[full] = kind
        self.names.bound_at[full] = self.src.where(at).line
        self.binds.append(full)
        return full

    # -- argument helpers ------------------------------------------------------------------
    def arity(self, args: list[Token], low: int, high: int, what: str) -> None:
        usage = VERBS[self.verb].usage
        if len(args) < low:
            self.fail(self.tail, f"{self.verb}: expected {what} (usage: {usage})")
        if len(args) > high:
            self.fail(args[high].start, f"{self.verb}: unexpected '{args[high].text}' "
                                        f"(usage: {usage})")

    def word(self, tok: Token, what: str) -> str:
        if tok.kind != "word":
            shown = "a string" if tok.kind == "string" else f"'{tok.text}'"
            self.fail(tok.start, f"expected {what}, got {shown}")
        return tok.text

    def text_arg(self, tok: Token) -> str:
        if tok.kind != "string":
            self.fail(tok.start, f'expected a double-quoted string like "hello\\n", '
                                 f"got '{tok.text}'")
        return tok.text

    def choice(self, tok: Token, choices: tuple[str, ...], what: str) -> str:
        value = self.word(tok, what)
        if value not in choices:
            self.fail(tok.start, f"expected {what} ({'|'.join(choices)}), got '{value}'"
                                 f"{did_you_mean(value, choices)}")
        return value

    def fd(self, text: str, at: int) -> FdRef:
        if text[:1].isdigit():
            return _fd_number(self.src, text, at)
        return self.use(text, at, ("fd",))

    def mapping(self, text: str, at: int) -> str:
        return self.use(text, at, ("mapping",))

    def flags(self, args: list[Token], allowed: dict[str, str], what: str) -> dict[str, str]:
        """Options that may each be given once (``group -> word``)."""
        seen: dict[str, tuple[str, Token]] = {}
        for tok in args:
            value = self.word(tok, what)
            group = allowed.get(value)
            if group is None:
                if (value.startswith("file=") and "file=PATH" in allowed) or \
                        (value.startswith("fd=") and "fd=FD" in allowed):
                    group = "backing"
                else:
                    self.fail(tok.start, f"unknown {self.verb} option '{value}'"
                                         f"{did_you_mean(value, list(allowed))}; expected "
                                         f"{_quote_list(list(allowed))}")
            if group in seen:
                before = seen[group][0]
                how = "given twice" if before == value else f"conflicts with '{before}'"
                self.fail(tok.start, f"{self.verb} option '{value}' {how}")
            seen[group] = (value, tok)
        return {group: value for group, (value, _) in seen.items()}

    def program(self, args: list[Token]) -> tuple[Program, list[Token]]:
        """PROG [ARG...]; returns the program and the tokens after its arguments."""
        if not args:
            self.fail(self.tail, f"{self.verb}: expected a program (probe, missing, "
                                 f"{_quote_list(ALLOWED_PROGRAMS)}) "
                                 f"(usage: {VERBS[self.verb].usage})")
        head = args[0]
        path = self.word(head, "a program")
        n = 1
        while n < len(args) and not _looks_like_option(args[n]):
            n += 1
        prog_args = args[1:n]
        for tok in prog_args:
            self.word(tok, "a program argument (written without quotes)")
        if path in ("probe", "missing"):
            program = Program(path)  # type: ignore[arg-type]
        elif path in ALLOWED_PROGRAMS:
            program = Program("program", path, tuple(t.text for t in prog_args))
        else:
            self.fail(head.start, f"program '{path}' is not allowed; expected probe, missing, "
                                  "/bin/true, /bin/false, /bin/sleep SECONDS or /bin/cat "
                                  "(a scenario cannot run other programs)")
        if path == "/bin/sleep":
            if not prog_args:
                self.fail(head.end, "/bin/sleep needs one argument: seconds, at most 10")
            if len(prog_args) > 1:
                self.fail(prog_args[1].start, "/bin/sleep takes exactly one argument")
            value = prog_args[0].text
            if not SLEEP_ARGUMENT.fullmatch(value) or len(value) > _MAX_DIGITS:
                self.fail(prog_args[0].start, f"/bin/sleep takes a number of seconds like 1 "
                                              f"or 0.5, got '{value}'")
            if float(value) > MAX_SLEEP:
                self.fail(prog_args[0].start, f"/bin/sleep is limited to {MAX_SLEEP:g} "
                                              f"seconds, got {value}")
        elif path == "/bin/cat":
            if len(prog_args) > MAX_CAT_INPUTS:
                self.fail(prog_args[MAX_CAT_INPUTS].start,
                          f"/bin/cat takes at most {MAX_CAT_INPUTS} inputs")
            for tok in prog_args:
                problem = cat_input_problem(tok.text)
                if problem is not None:
                    self.fail(tok.start + problem[0], problem[1])
        elif prog_args:
            self.fail(prog_args[0].start, f"'{path}' takes no arguments")
        return program, args[n:]

    def actions(self, args: list[Token]) -> tuple[SpawnAction, ...]:
        return tuple(self.action(tok) for tok in args)

    def action(self, tok: Token) -> SpawnAction:
        text = self.word(tok, "a spawn action")
        if text in _ACTION_WORDS:
            return SpawnAction(text)
        key, sep, value = text.partition("=")
        if not sep or key not in _ACTION_KEYS:
            self.fail(tok.start, f"unknown spawn action '{text}'; expected "
                                 f"{_quote_list(SPAWN_ACTIONS)}")
        at = tok.start + len(key) + 1
        if not value:
            self.fail(at, f"{key}= needs a value (like {_action_example(key)})")
        if key == "close":
            return SpawnAction("close", fd=self.fd(value, at))
        if key == "closefrom":
            return SpawnAction("closefrom", num=_fd_number(self.src, value, at))
        if key == "chdir":
            return SpawnAction("chdir", path=_path(self.src, value, at))
        if key in ("sigmask", "sigdefault"):
            signals, offset = set(), 0
            for part in value.split("+"):
                signals.add(_signal(self.src, part, at + offset, "spawn"))
                offset += len(part) + 1
            return SpawnAction(key, signals=frozenset(signals))
        first, colon, second = value.partition(":")
        if not colon:
            self.fail(at, f"{key}= needs two parts separated by ':' (like "
                          f"{_action_example(key)})")
        second_at = at + len(first) + 1
        if key == "dup2":
            return SpawnAction("dup2", fd=self.fd(first, at),
                               num=_fd_number(self.src, second, second_at))
        return SpawnAction("open", num=_fd_number(self.src, first, at),
                           path=_path(self.src, second, second_at))

    def range(self, tok: Token) -> Range:
        text = self.word(tok, "a range like heap, heap[0:100p] or heap[7p]")
        m = _RANGE.fullmatch(text)
        if m is None:
            self.fail(tok.start, f"expected a range like heap, heap[0:100p] or heap[7p], "
                                 f"got '{text}'")
        name = self.mapping(m.group(1), tok.start)
        if m.group(2) is None:
            return Range(name)
        inner, at = m.group(2), tok.start + len(m.group(1)) + 1
        single = ":" not in inner
        low_text, _, high_text = inner.partition(":")
        high_at = at + len(low_text) + 1
        start = self.bound(low_text, at) if low_text else 0
        if single:
            if not low_text:
                self.fail(at, "expected a page inside [ ], like heap[7p]")
            end: int | None = start + PAGE
        else:
            end = self.bound(high_text, high_at) if high_text else None
        if end is not None and start >= end:
            self.fail(at, f"range start {low_text or 0} must be below its end {high_text}")
        size = self.names.mapping_sizes.get(name)
        if size is not None:
            size = max(size, self.names.grown_sizes.get(name, 0))
            pages = f"{size // PAGE} page{'s' if size != PAGE else ''}"
            if single and end is not None and end > size:
                self.fail(at, f"page {low_text} is not inside '{name}' ({pages})")
            if end is not None and end > size:
                self.fail(high_at, f"range end {high_text} is not inside '{name}' ({pages})")
            if start >= size:
                self.fail(at, f"range start {low_text} is not inside '{name}' ({pages})")
        return Range(name, start, end)

    def bound(self, text: str, at: int) -> int:
        value = _size(self.src, text, at)
        if value % PAGE:
            self.fail(at, f"range bound {text} is not a page multiple; ranges are "
                          f"page-granular (write pages, like 7p, or 28KiB)")
        return value

    # -- verbs: memory ---------------------------------------------------------------------
    @RULES.handles(ops.Mmap)
    def v_mmap(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2 + 5, "a mapping name and a size")
        name_tok, size_tok = args[0], args[1]
        name = self.word(name_tok, "a mapping name")
        size = _size(self.src, self.word(size_tok, "a size"), size_tok.start)
        if size <= 0 or size % PAGE:
            self.fail(size_tok.start, f"mmap size must be a positive multiple of the page size "
                                      f"({PAGE}), got {size_tok.text}")
        if size > MAX_MAPPING:
            self.fail(size_tok.start, f"mmap size {size_tok.text} is larger than forklab's "
                                      f"limit of {MAX_MAPPING >> 40}TiB per mapping")
        options = self.flags(args[2:], {**_MMAP_OPTIONS, "file=PATH": "backing",
                                        "fd=FD": "backing"}, "an mmap option")
        path = fd = None
        backing = options.get("backing", "anon")
        if backing.startswith("fd="):
            tok = next(t for t in args[2:] if t.text == backing)
            fd = self.fd(backing[3:], tok.start + 3)
            backing = "fd"
        elif backing.startswith("file="):
            tok = next(t for t in args[2:] if t.text == backing)
            path = _path(self.src, backing[5:], tok.start + 5)
            if path == "/dev/null":
                self.fail(tok.start + 5, "mmap file= needs a file in the scratch directory, "
                                         "not /dev/null")
            backing = "file"
        elif backing == "sysv":
            if options.get("share") == "private":
                tok = next(t for t in args[2:] if t.text == "private")
                self.fail(tok.start, "mmap sysv is always shared: shmat(2) maps a System V "
                                     "segment MAP_SHARED (drop 'private')")
            self.names.sysv_segments += 1
            if self.names.sysv_segments > MAX_SYSV_SEGMENTS:
                tok = next(t for t in args[2:] if t.text == "sysv")
                self.fail(tok.start, f"too many System V segments: a scenario may make at "
                                     f"most {MAX_SYSV_SEGMENTS}")
        share = "shared" if backing == "sysv" else options.get("share", "private")
        placement = self.names.placement
        if placement is not None and not placement.fits(size):
            self.fail(size_tok.start, "this mapping does not fit: the scenario's mappings "
                                      "together exceed forklab's address-space region")
        full = self.bind(name, name_tok.start, "mapping")
        self.names.mapping_sizes[full] = size
        if placement is not None:
            placement.add(full, size)
        return {"name": full, "size": size, "backing": backing, "path": path, "fd": fd,
                "share": share, "prot": options.get("prot", "rw"),
                "thp": "thp" in options, "noreserve": "noreserve" in options}

    @RULES.handles(ops.Mremap)
    def v_mremap(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 3, "a mapping name, a size and maybe maymove")
        name = self.mapping(self.word(args[0], "a mapping name"), args[0].start)
        size_tok = args[1]
        size = _size(self.src, self.word(size_tok, "a size"), size_tok.start)
        if size <= 0 or size % PAGE:
            self.fail(size_tok.start, f"mremap size must be a positive multiple of the page "
                                      f"size ({PAGE}), got {size_tok.text}")
        room = slot_room(self.names.mapping_sizes.get(name, 0))
        if size > room:
            self.fail(size_tok.start, f"'{name}' can grow in place to {format_size(room)}; "
                                      "past that the kernel would move it (maymove) to an "
                                      "address of its choosing, which forklab's layout does "
                                      "not follow")
        maymove = False
        if len(args) == 3:
            self.choice(args[2], ("maymove",), "maymove")
            maymove = True
        self.names.grown_sizes[name] = max(size, self.names.grown_sizes.get(name, 0))
        return {"name": name, "size": size, "maymove": maymove}

    @RULES.handles(ops.Munmap, ops.Mlock, ops.Munlock)
    def v_range_only(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a range")
        return {"range": self.range(args[0])}

    @RULES.handles(ops.Mlockall)
    def v_mlockall(self, args: list[Token]) -> dict[str, Any]:
        choices = ops.MLOCKALL_FLAGS
        if not args:
            self.fail(self.tail, f"mlockall: expected current, future or current,future "
                                 f"(usage: {VERBS['mlockall'].usage})")
        given: dict[str, Token] = {}
        for n, tok in enumerate(args):
            if n % 2 == 1:
                if tok.kind != "comma":
                    self.fail(tok.start, f"expected ',' between mlockall flags, got '{tok.text}'")
                continue
            flag = self.word(tok, "an mlockall flag")
            if flag not in choices:
                self.fail(tok.start, f"unknown mlockall flag '{flag}'"
                                     f"{did_you_mean(flag, choices)}; expected current or future")
            if flag in given:
                self.fail(tok.start, f"mlockall flag '{flag}' given twice")
            given[flag] = tok
        if args[-1].kind == "comma":
            self.fail(args[-1].end, "expected an mlockall flag after ','")
        return {"flags": frozenset(given)}

    @RULES.handles(ops.Write)
    def v_write(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 3, "a range")
        pieces: list[Token] = []
        for tok in args:  # `heap = 7`, `heap =7`, `heap= 7` and `heap=7` all mean the same
            if tok.kind != "word" or "=" not in tok.text:
                pieces.append(tok)
                continue
            before, _, after = tok.text.partition("=")
            eq = tok.start + len(before)
            if before:
                pieces.append(Token("word", before, tok.start, eq))
            pieces.append(Token("word", "=", eq, eq + 1))
            if after:
                pieces.append(Token("word", after, eq + 1, tok.end))
        rng = self.range(pieces[0])
        if len(pieces) == 1:
            return {"range": rng, "value": 1}
        if pieces[1].text != "=":
            self.fail(pieces[1].start, f"expected '= BYTE' after the range, got "
                                       f"'{pieces[1].text}'")
        if len(pieces) < 3:
            self.fail(pieces[1].end, "expected a byte (0-255) after '='")
        if len(pieces) > 3:
            self.fail(pieces[3].start, f"write: unexpected '{pieces[3].text}' "
                                       f"(usage: {VERBS['write'].usage})")
        value = _integer(self.src, self.word(pieces[2], "a byte"), pieces[2].start, "a byte")
        if value > 255:
            self.fail(pieces[2].start, f"a byte is 0-255, got {pieces[2].text}")
        return {"range": rng, "value": value}

    @RULES.handles(ops.Read)
    def v_read(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a range")
        return {"range": self.range(args[0])}

    @RULES.handles(ops.Madvise)
    def v_madvise(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "a range and an advice")
        return {"range": self.range(args[0]),
                "advice": self.choice(args[1], _CHOICES["madvise"], "an advice")}

    @RULES.handles(ops.Mprotect)
    def v_mprotect(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "a range and a protection")
        return {"range": self.range(args[0]),
                "prot": self.choice(args[1], _CHOICES["mprotect"], "a protection")}

    # -- verbs: processes ------------------------------------------------------------------
    @RULES.handles(ops.Fork, ops.Vfork, ops.Thread, ops.Fflush, ops.PidfdEmpty, ops.Setsid,
                   ops.Munlockall)
    def v_fork(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 0, 0, "no arguments")
        return {}

    @RULES.handles(ops.ThreadExit)
    def v_thread_exit(self, args: list[Token]) -> dict[str, Any]:
        if args:
            self.fail(args[0].start, "a thread's exit takes no code (it is pthread_exit); "
                                     "to end the whole process write 'P/T: _exit CODE'")
        return {}

    @RULES.handles(ops.Clone)
    def v_clone(self, args: list[Token]) -> dict[str, Any]:
        options = self.clone_options(args)
        if not args:
            self.fail(self.tail, f"clone: expected FLAGS, a comma list of "
                                 f"{_quote_list(CLONE_FLAGS)}, or none "
                                 f"(usage: {VERBS['clone'].usage})")
        flags: dict[str, Token] = {}
        for n, tok in enumerate(args):
            if n % 2 == 1:
                if tok.kind != "comma":
                    self.fail(tok.start, f"expected ',' between clone flags, got '{tok.text}'")
                continue
            flag = self.word(tok, "a clone flag")
            if flag not in CLONE_FLAGS and flag != "none":
                self.fail(tok.start, f"unknown clone flag '{flag}'"
                                     f"{did_you_mean(flag, CLONE_FLAGS)}; "
                                     f"expected {_quote_list(CLONE_FLAGS)} or none")
            if flag in flags:
                self.fail(tok.start, f"clone flag '{flag}' given twice")
            flags[flag] = tok
        if args[-1].kind == "comma":
            self.fail(args[-1].end, "expected a clone flag after ','")
        if "none" in flags and len(flags) > 1:
            self.fail(flags["none"].start, "clone flags 'none' cannot be combined with others")
        return {"flags": frozenset(f for f in flags if f != "none"), **options}

    def into(self, tok: Token) -> str:
        """``into=NAME``: the run's control group clone's child starts in."""
        name = tok.text[len("into="):]
        if not OBJECT_NAME.fullmatch(name):
            self.fail(tok.start + len("into="), "expected into=NAME, NAME 1-32 lower-case "
                                                "letters, digits, '_' or '-', got "
                                                f"'{tok.text}'")
        return name

    def clone_options(self, args: list[Token]) -> dict[str, Any]:
        """clone's options after FLAGS, taken off args: ``into=NAME``, ``exitsig=SIG``."""
        options: dict[str, Any] = {"cgroup": None, "exit_signal": "SIGCHLD"}
        seen: set[str] = set()
        while args and args[-1].kind == "word" and args[-1].text.startswith(("into=", "exitsig=")):
            option = args.pop()
            key = option.text.partition("=")[0]
            if key in seen:
                self.fail(option.start, f"clone option {key}= given twice")
            seen.add(key)
            if key == "into":
                options["cgroup"] = self.into(option)
            else:
                options["exit_signal"] = self.exit_signal(option)
            if not args:
                self.fail(option.start, f"clone: expected FLAGS before {option.text} "
                                        f"(usage: {VERBS['clone'].usage})")
        return options

    def exit_signal(self, tok: Token) -> str | None:
        """``exitsig=SIG|none``: the signal clone's child sends its parent as it ends."""
        at = tok.start + len("exitsig=")
        text = tok.text[len("exitsig="):]
        if text == "none":
            return None
        name = _signal(self.src, text, at, "clone")
        if name in JOB_CONTROL:
            self.fail(at, f"exitsig={name} is refused: a parent stopped or continued by its "
                          "child's end is not modelled")
        return name

    @RULES.handles(ops.Unshare)
    def v_unshare(self, args: list[Token]) -> dict[str, Any]:
        kinds = ops.NAMESPACE_KINDS
        if not args:
            self.fail(self.tail, f"unshare: expected KIND, a comma list of {_quote_list(kinds)} "
                                 f"(usage: {VERBS['unshare'].usage})")
        given: dict[str, Token] = {}
        for n, tok in enumerate(args):
            if n % 2 == 1:
                if tok.kind != "comma":
                    self.fail(tok.start, f"expected ',' between namespace kinds, got "
                                         f"'{tok.text}'")
                continue
            kind = self.word(tok, "a namespace kind")
            if kind not in kinds:
                self.fail(tok.start, f"unknown namespace kind '{kind}'"
                                     f"{did_you_mean(kind, kinds)}; expected {_quote_list(kinds)}")
            if kind in given:
                self.fail(tok.start, f"namespace kind '{kind}' given twice")
            given[kind] = tok
        if args[-1].kind == "comma":
            self.fail(args[-1].end, "expected a namespace kind after ','")
        return {"kinds": frozenset(given)}

    @RULES.handles(ops.Spawn, ops.SpawnTemplate)
    def v_spawn(self, args: list[Token]) -> dict[str, Any]:
        program, rest = self.program(args)
        return {"program": program, "actions": self.actions(rest)}

    @RULES.handles(ops.Exec)
    def v_exec(self, args: list[Token]) -> dict[str, Any]:
        program, rest = self.program(args)
        if rest:
            self.fail(rest[0].start, f"{self.verb} takes no spawn actions, got '{rest[0].text}'")
        return {"program": program}

    @RULES.handles(ops.Exit, ops.SysExit)
    def v_exit(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 0, 1, "an optional exit code")
        code = 0
        if args:
            code = _integer(self.src, self.word(args[0], "an exit code"), args[0].start,
                            "an exit code")
            if code > 255:
                self.fail(args[0].start, f"an exit code is 0-255, got {args[0].text}")
        return {"code": code}

    @RULES.handles(ops.Wait)
    def v_wait(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 4, "a child process or any")
        options = self.flags(args[1:], _WAIT_OPTIONS, "a wait option")
        return {"child": self.child_or_any(args[0]), "nohang": "nohang" in options,
                "untraced": "untraced" in options, "all_children": "all" in options}

    @RULES.handles(ops.Waitid)
    def v_waitid(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 3, "a child process or any")
        options = self.flags(args[1:], _WAITID_OPTIONS, "a waitid option")
        return {"child": self.child_or_any(args[0]), "nowait": "nowait" in options,
                "nohang": "nohang" in options}

    def child_or_any(self, tok: Token) -> str | None:
        """The child a wait names, or None for ``any`` (pid -1, P_ALL)."""
        name = self.word(tok, "a process or any")
        return None if name == "any" else self.use(name, tok.start, ("process",))

    @RULES.handles(ops.Kill)
    def v_kill(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "a process (or PROCESS/THREAD) and a signal")
        target = self.parse_actor(self.word(args[0], "a process"), args[0].start, None)
        sig = _signal(self.src, self.word(args[1], "a signal"), args[1].start, "kill")
        return {"target": target.process, "thread": target.thread, "signal": sig}

    # -- verbs: identity and working directory ----------------------------------------------
    @RULES.handles(ops.Chdir)
    def v_chdir(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a path")
        return {"path": _path(self.src, self.word(args[0], "a path"), args[0].start)}

    @RULES.handles(ops.Chroot)
    def v_chroot(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a path")
        return {"path": _path(self.src, self.word(args[0], "a path"), args[0].start)}

    @RULES.handles(ops.Umask)
    def v_umask(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a mode in octal, like 027")
        text = self.word(args[0], "a mode")
        if not _OCTAL_MODE.fullmatch(text) or int(text, 8) > 0o777:
            self.fail(args[0].start, f"expected a mode of 1 to 4 octal digits, at most 0777 "
                                     f"(like 022 or 077), got '{text}'")
        return {"mask": int(text, 8)}

    @RULES.handles(ops.Cgroup)
    def v_cgroup(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a control group's name")
        return {"name": self.object_name(args[0])}

    @RULES.handles(ops.Setpgid)
    def v_setpgid(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "a process and the process whose group it joins (itself: a "
                               "new group it leads)")
        target, group = (self.use(self.word(tok, "a process"), tok.start, ("process",))
                         for tok in args)
        return {"target": target, "group": group}

    @RULES.handles(ops.Setrlimit)
    def v_setrlimit(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 3, "a resource, a soft limit and an optional hard limit")
        resource = self.choice(args[0], ops.RLIMITS, "a resource")
        soft, hard = (self.limit(tok) for tok in (args[1], args[-1]))
        problem = rlimit_problem(resource, soft, hard if len(args) == 3 else None)
        if problem is not None:
            self.fail(args[1].start, problem)
        return {"resource": resource, "soft": soft, "hard": hard if len(args) == 3 else None,
                "keep_hard": len(args) == 2}

    def limit(self, tok: Token) -> int | None:
        """A limit: a number or size (``1024``, ``8MiB``), or ``unlimited`` (None)."""
        text = self.word(tok, "a limit")
        return None if text == "unlimited" else _size(self.src, text, tok.start)

    @RULES.handles(ops.Setenv)
    def v_setenv(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, 'a variable name and a "value"')
        value = self.text_arg(args[1])
        if len(value.encode()) > MAX_ENV_VALUE:
            self.fail(args[1].start, f"an environment value is at most {MAX_ENV_VALUE} bytes")
        return {"variable": self.variable(args[0]), "value": value}

    @RULES.handles(ops.Unsetenv)
    def v_unsetenv(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a variable name")
        return {"variable": self.variable(args[0])}

    def variable(self, tok: Token) -> str:
        name = self.word(tok, "a variable name")
        problem = variable_problem(name)
        if problem is not None:
            self.fail(tok.start, problem)
        return name

    # -- verbs: files ----------------------------------------------------------------------
    @RULES.handles(ops.Open)
    def v_open(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 5, "a path")
        path = _path(self.src, self.word(args[0], "a path"), args[0].start)
        options = self.flags(args[1:], _OPEN_OPTIONS, "an open option")
        return {"path": path, "mode": options.get("mode", "ro"), "cloexec": "cloexec" in options,
                "append": "append" in options, "create": "create" in options}

    @RULES.handles(ops.Pipe)
    def v_pipe(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 0, 1, "an optional cloexec")
        return {"cloexec": bool(self.flags(args, {"cloexec": "cloexec"}, "cloexec"))}

    @RULES.handles(ops.Dup)
    def v_dup(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 2, "an fd")
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        return {"fd": fd, "cloexec": bool(self.flags(args[1:], {"cloexec": "cloexec"},
                                                     "cloexec"))}

    @RULES.handles(ops.Dup2)
    def v_dup2(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "an fd and a target number")
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        num = _fd_number(self.src, self.word(args[1], "an fd number"), args[1].start)
        return {"fd": fd, "num": num}

    @RULES.handles(ops.Close, ops.Readfd)
    def v_close(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "an fd")
        return {"fd": self.fd(self.word(args[0], "an fd"), args[0].start)}

    @RULES.handles(ops.Cloexec)
    def v_cloexec(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "an fd and on|off")
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        return {"fd": fd, "on": self.choice(args[1], _CHOICES["cloexec"], "on or off") == "on"}

    @RULES.handles(ops.CloseRange)
    def v_close_range(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 3, "LO and HI")
        lo = _fd_number(self.src, self.word(args[0], "a number"), args[0].start)
        hi_text = self.word(args[1], "a number or max")
        hi = None if hi_text == "max" else _fd_number(self.src, hi_text, args[1].start,
                                                     " (or max)")
        return {"lo": lo, "hi": hi,
                "cloexec": bool(self.flags(args[2:], {"cloexec": "cloexec"}, "cloexec"))}

    @RULES.handles(ops.Writefd)
    def v_writefd(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, 'an fd and a "string"')
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        return {"fd": fd, "data": self.data_arg(args[1])}

    @RULES.handles(ops.Memfd)
    def v_memfd(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 2, "a name")
        return {"name": self.object_name(args[0]),
                "cloexec": bool(self.flags(args[1:], {"cloexec": "cloexec"}, "cloexec"))}

    @RULES.handles(ops.ShmOpen)
    def v_shm_open(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 2, "a name")
        return {"name": self.object_name(args[0]),
                "create": bool(self.flags(args[1:], {"create": "create"}, "create"))}

    @RULES.handles(ops.ShmUnlink)
    def v_shm_unlink(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a name")
        return {"name": self.object_name(args[0])}

    @RULES.handles(ops.Opendir)
    def v_opendir(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 0, 1, "an optional path")
        return {"path": _path(self.src, self.word(args[0], "a path"), args[0].start)
                if args else None}

    @RULES.handles(ops.Readdir)
    def v_readdir(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "an fd")
        return {"fd": self.fd(self.word(args[0], "an fd"), args[0].start)}

    @RULES.handles(ops.MqOpen)
    def v_mq_open(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a name")
        return {"name": self.object_name(args[0])}

    def object_name(self, tok: Token) -> str:
        """The name of a memfd or a shared-memory object: a short word, not a path."""
        text = self.word(tok, "a name")
        if not OBJECT_NAME.fullmatch(text):
            self.fail(tok.start, "expected a name of 1-32 lower-case letters, digits, '_' "
                                 f"or '-' (not a path), got '{text}'")
        return text

    @RULES.handles(ops.Lseek)
    def v_lseek(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 3, "an fd and an offset")
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        text = self.word(args[1], "an offset")
        sign = -1 if text.startswith("-") else 1
        offset = sign * self.file_offset(text[1:] if sign < 0 else text,
                                         args[1].start + (sign < 0))
        whence = self.choice(args[2], _CHOICES["lseek"], "set, cur or end") if args[2:] else "set"
        return {"fd": fd, "offset": offset, "whence": whence}

    @RULES.handles(ops.Pread)
    def v_pread(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 3, "an fd and an offset")
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        offset = self.file_offset(self.word(args[1], "an offset"), args[1].start)
        count = READ_SIZE
        if args[2:]:
            count = _size(self.src, self.word(args[2], "a byte count"), args[2].start)
            if count > READ_SIZE:
                self.fail(args[2].start, f"pread reads at most {READ_SIZE} bytes (64KiB), "
                                         f"got {args[2].text}")
        return {"fd": fd, "offset": offset, "count": count}

    @RULES.handles(ops.Pwrite)
    def v_pwrite(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 3, 3, 'an fd, an offset and a "string"')
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        offset = self.file_offset(self.word(args[1], "an offset"), args[1].start)
        return {"fd": fd, "offset": offset, "data": self.data_arg(args[2])}

    @RULES.handles(ops.Ftruncate)
    def v_ftruncate(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "an fd and a size")
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        return {"fd": fd, "size": self.file_offset(self.word(args[1], "a size"), args[1].start)}

    def file_offset(self, text: str, at: int) -> int:
        """A byte offset or file size (``100``, ``4KiB``, ``2p``) of at most MAX_FILE_OFFSET."""
        value = _size(self.src, text, at)
        if value > MAX_FILE_OFFSET:
            self.fail(at, f"file offsets and sizes in a script are at most 1TiB, got {text}")
        return value

    @RULES.handles(ops.Printf)
    def v_printf(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, 'a "string"')
        return {"data": self.data_arg(args[0])}

    def data_arg(self, tok: Token) -> str:
        """The text of a writefd or printf: a string of at most MAX_TEXT bytes."""
        text = self.text_arg(tok)
        problem = text_problem(text)
        if problem is not None:
            self.fail(tok.start, problem)
        return text

    @RULES.handles(ops.Setvbuf)
    def v_setvbuf(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "none, line or full")
        return {"mode": self.choice(args[0], _CHOICES["setvbuf"], "a buffering mode")}

    # -- verbs: threads and locks ----------------------------------------------------------
    @RULES.handles(ops.Lock, ops.Unlock, ops.Trylock, ops.Atfork)
    def v_lock(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a lock name")
        tok = args[0]
        name = self.word(tok, "a lock name")
        if name in self.names.kinds or not _NAME.fullmatch(name):
            return {"name": self.use(name, tok.start, ("lock",))}
        return {"name": self.bind_lock(name, tok)}

    @RULES.handles(ops.Mutex)
    def v_mutex(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "a lock name and its kind")
        tok = args[0]
        name = self.word(tok, "a lock name")
        if name in self.names.kinds:
            bound = self.names.kinds[name]
            if bound != "lock":
                self.fail(tok.start, f"'{name}' is {_ARTICLE[bound]}; mutex needs a new lock name")
            self.fail(tok.start, f"mutex {name}: '{name}' is used from line "
                                 f"{self.names.bound_at[name]} on; a mutex is set up before "
                                 "its first use (pthread_mutex_init of a mutex in use is "
                                 "undefined)")
        kind = self.choice(args[1], MUTEX_KINDS, "a mutex kind")
        return {"name": self.bind_lock(name, tok), "kind": kind}

    @RULES.handles(ops.Semget)
    def v_semget(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 0, 0, "nothing but '-> S'")
        self.names.semaphore_sets += 1
        if self.names.semaphore_sets > MAX_SEMAPHORE_SETS:
            self.fail(self.tail, f"too many semaphore sets: a scenario may make at most "
                                 f"{MAX_SEMAPHORE_SETS}")
        return {}

    @RULES.handles(ops.Semop)
    def v_semop(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 3, "a semaphore set, a change (+N, -N or 0) and 'undo'")
        name = self.use(self.word(args[0], "a semaphore set"), args[0].start, ("semaphore",))
        text = self.word(args[1], "a change")
        if not _SEM_DELTA.fullmatch(text) or abs(int(text)) > ops.SEM_MAX_DELTA:
            self.fail(args[1].start, f"expected a change of +1 to +{ops.SEM_MAX_DELTA}, -1 to "
                                     f"-{ops.SEM_MAX_DELTA}, or 0 (wait for zero), got '{text}'")
        if len(args) == 3:
            self.choice(args[2], ("undo",), "an option")
        return {"name": name, "delta": int(text), "undo": len(args) == 3}

    def bind_lock(self, name: str, tok: Token) -> str:
        """A lock name bound by its first use (never suffixed by repeat)."""
        problem = check_name_syntax(name)
        if problem:
            self.fail(tok.start, problem)
        self.names.kinds[name] = "lock"
        self.names.bound_at[name] = self.src.where(tok.start).line
        self.binds.append(name)
        return name

    @RULES.handles(ops.Malloc)
    def v_malloc(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a size")
        size = _size(self.src, self.word(args[0], "a size"), args[0].start)
        if size > MAX_MAPPING:
            self.fail(args[0].start, f"malloc size {args[0].text} is larger than forklab's "
                                     f"limit of {MAX_MAPPING >> 40}TiB")
        return {"size": size}

    @RULES.handles(ops.Free)
    def v_free(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "an allocation")
        tok = args[0]
        return {"name": self.use(self.word(tok, "an allocation"), tok.start, ("allocation",))}

    # -- verbs: signals --------------------------------------------------------------------
    @RULES.handles(ops.Signal)
    def v_signal(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "a signal and ignore|default|catch")
        sig = _signal(self.src, self.word(args[0], "a signal"), args[0].start, "signal")
        action = self.choice(args[1], _CHOICES["signal"], "a disposition")
        if action == "catch" and sig in FAULTS:
            self.fail(args[1].start, f"catching {sig} is refused: a handler that returns goes "
                                     "back to the faulting instruction, which faults again, "
                                     "forever")
        return {"signal": sig, "action": action}

    @RULES.handles(ops.Sigaction)
    def v_sigaction(self, args: list[Token]) -> dict[str, Any]:
        usage = "a signal, catch|ignore|default|exit CODE, then flags"
        self.arity(args, 2, 3 + len(ops.SIGACTION_FLAGS), usage)
        sig = _signal(self.src, self.word(args[0], "a signal"), args[0].start, "sigaction")
        action = self.choice(args[1], _CHOICES["sigaction"], "a disposition")
        rest, code = args[2:], 0
        if action == "exit":
            if sig not in FAULTS:
                self.fail(args[1].start, f"an exit handler is for a fault's signal "
                                         f"({', '.join(sorted(FAULTS))}), not {sig}: a "
                                         "signal that comes during the process's own call "
                                         "(a child's SIGCHLD) would end it before the call "
                                         "returns")
            if not rest:
                self.fail(self.tail, "sigaction ... exit needs the handler's exit code (0-255)")
            code = _integer(self.src, self.word(rest[0], "an exit code"), rest[0].start,
                            "an exit code")
            if code > 255:
                self.fail(rest[0].start, f"an exit code is 0-255, got {rest[0].text}")
            rest = rest[1:]
        elif action == "catch" and sig in FAULTS:
            self.fail(args[1].start, f"catching {sig} is refused: a handler that returns goes "
                                     "back to the faulting instruction, which faults again, "
                                     f"forever (write 'sigaction {sig} exit CODE')")
        flags: set[str] = set()
        for tok in rest:
            flag = self.choice(tok, ops.SIGACTION_FLAGS, "a sigaction flag")
            if flag in flags:
                self.fail(tok.start, f"flag '{flag}' is given twice")
            if flag in ("nocldwait", "nocldstop") and sig != "SIGCHLD":
                self.fail(tok.start, f"{flag} is a flag of SIGCHLD's action, not {sig}'s")
            flags.add(flag)
        return {"signal": sig, "action": action, "code": code, "flags": frozenset(flags)}

    @RULES.handles(ops.Block, ops.Unblock, ops.Raise)
    def v_block(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a signal")
        return {"signal": _signal(self.src, self.word(args[0], "a signal"), args[0].start,
                                  self.verb)}

    @RULES.handles(ops.Pdeathsig)
    def v_pdeathsig(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a signal or none")
        word = self.word(args[0], "a signal or none")
        return {"signal": None if word == "none" else
                _signal(self.src, word, args[0].start, self.verb)}

    @RULES.handles(ops.Sleep)
    def v_sleep(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a duration like 10ms")
        return {"seconds": _duration(self.src, self.word(args[0], "a duration"), args[0].start)}

    # -- verbs: scheduling and prctl -------------------------------------------------------
    @RULES.handles(ops.Nice)
    def v_nice(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a nice value (-20 to 19)")
        text = self.word(args[0], "a nice value")
        sign = -1 if text.startswith("-") else 1
        value = sign * _integer(self.src, text[1:] if sign < 0 else text,
                                args[0].start + (sign < 0), "a nice value")
        if not -20 <= value <= 19:
            self.fail(args[0].start, f"a nice value is -20 to 19, got {text}")
        return {"value": value}

    @RULES.handles(ops.Sched)
    def v_sched(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 2, "a policy (other, batch or idle)")
        policy = self.choice(args[0], SCHED_POLICIES, "a scheduling policy")
        if args[1:]:
            self.choice(args[1], ("resetonfork",), "an option")
        return {"policy": policy, "reset_on_fork": bool(args[1:])}

    @RULES.handles(ops.Affinity)
    def v_affinity(self, args: list[Token]) -> dict[str, Any]:
        if not args:
            self.fail(self.tail, f"affinity: expected a comma list of CPU numbers "
                                 f"(usage: {VERBS['affinity'].usage})")
        cpus: set[int] = set()
        for n, tok in enumerate(args):
            if n % 2 == 1:
                if tok.kind != "comma":
                    self.fail(tok.start, f"expected ',' between CPU numbers, got '{tok.text}'")
                continue
            cpu = _integer(self.src, self.word(tok, "a CPU number"), tok.start, "a CPU number")
            if cpu > MAX_CPU:
                self.fail(tok.start, f"CPU numbers are 0-{MAX_CPU}, got {tok.text}")
            if cpu in cpus:
                self.fail(tok.start, f"CPU {cpu} is given twice")
            cpus.add(cpu)
        if args[-1].kind == "comma":
            self.fail(args[-1].end, "expected a CPU number after ','")
        return {"cpus": frozenset(cpus)}

    @RULES.handles(ops.Comm)
    def v_comm(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a name")
        name = self.word(args[0], "a name")
        if not COMM.fullmatch(name):
            self.fail(args[0].start, "expected a name of 1-32 letters, digits, '.', '_' or "
                                     f"'-', got '{name}'")
        return {"name": name}

    @RULES.handles(ops.Dumpable)
    def v_dumpable(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "0 or 1")
        return {"value": int(self.choice(args[0], _CHOICES["dumpable"], "a dumpable value"))}

    @RULES.handles(ops.Timerslack)
    def v_timerslack(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "nanoseconds (0: the thread's default)")
        ns = _integer(self.src, self.word(args[0], "nanoseconds"), args[0].start,
                      "nanoseconds")
        if ns > MAX_TIMER_SLACK:
            self.fail(args[0].start, f"timer slack is at most {MAX_TIMER_SLACK} ns (1 s) "
                                     f"here, got {args[0].text}")
        return {"ns": ns}

    @RULES.handles(ops.NoNewPrivs)
    def v_no_new_privs(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 0, 0, "nothing")
        return {}

    # -- verbs: credentials ----------------------------------------------------------------
    @RULES.handles(ops.Setresuid, ops.Setresgid)
    def v_setresid(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 3, 3, "the real, effective and saved ids")
        ids = tuple(self.scenario_id(tok) for tok in args)
        for n, what in ((1, "effective"), (0, "real")):
            if ids[n] != 0:
                self.fail(args[n].start, f"{self.verb}: the real and effective ids stay 0 "
                                         f"(root's), got {what} id {ids[n]}: one whose "
                                         "effective id left root's would lose its way to "
                                         "forklab and its scratch directory, and a real id "
                                         "other than the effective one makes exec run glibc "
                                         "in secure mode (AT_SECURE), which the model does "
                                         "not follow (docs/scenario-language.md, "
                                         "\"Credentials\")")
        return {"ids": ids}

    def scenario_id(self, tok: Token) -> int:
        value = _integer(self.src, self.word(tok, "an id"), tok.start, "an id")
        if value not in SCENARIO_IDS:
            self.fail(tok.start, f"a scenario's ids are 0 (root) and 65534 (nobody), "
                                 f"got {tok.text}")
        return value

    @RULES.handles(ops.Setgroups)
    def v_setgroups(self, args: list[Token]) -> dict[str, Any]:
        if not args:
            self.fail(self.tail, f"setgroups: expected a comma list of group ids, or none "
                                 f"(usage: {VERBS['setgroups'].usage})")
        if len(args) == 1 and args[0].kind == "word" and args[0].text == "none":
            return {"groups": ()}
        groups: list[int] = []
        for n, tok in enumerate(args):
            if n % 2 == 1:
                if tok.kind != "comma":
                    self.fail(tok.start, f"expected ',' between group ids, got '{tok.text}'")
                continue
            group = self.scenario_id(tok)
            if group in groups:
                self.fail(tok.start, f"group {group} is given twice")
            groups.append(group)
        if args[-1].kind == "comma":
            self.fail(args[-1].end, "expected a group id after ','")
        return {"groups": tuple(groups)}

    @RULES.handles(ops.Capdrop)
    def v_capdrop(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 2, "a capability")
        text = self.word(args[0], "a capability")
        name = text if text.startswith("CAP_") else "CAP_" + text
        if name not in DROPPABLE_CAPS:
            self.fail(args[0].start, f"capdrop takes one of {_quote_list(DROPPABLE_CAPS)} "
                                     f"(the others change what verbs the model does not "
                                     f"follow per thread), got '{text}'"
                                     f"{did_you_mean(name, DROPPABLE_CAPS)}")
        if args[1:]:
            self.choice(args[1], ("bounding",), "an option")
        return {"capability": name, "bounding": bool(args[1:])}
    # -- verbs: timers, file locks, the alternate stack, exit handlers -------------------
    @RULES.handles(ops.Alarm, ops.TimerCreate)
    def v_alarm(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a number of seconds")
        return {"timer_seconds": self.timer_seconds(args[0])}

    @RULES.handles(ops.Setitimer)
    def v_setitimer(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "real, virtual or prof, and a number of seconds")
        return {"which": self.choice(args[0], _CHOICES["setitimer"], "a timer"),
                "timer_seconds": self.timer_seconds(args[1])}

    def timer_seconds(self, tok: Token) -> int:
        seconds = _integer(self.src, self.word(tok, "a number of seconds"), tok.start,
                           "a number of seconds")
        problem = timer_problem(seconds)
        if problem is not None:
            self.fail(tok.start, problem)
        return seconds

    @RULES.handles(ops.Sigaltstack)
    def v_sigaltstack(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a size or off")
        text = self.word(args[0], "a size or off")
        size = 0 if text == "off" else _size(self.src, text, args[0].start)
        problem = altstack_problem(size)
        if problem is not None or (size == 0 and text != "off"):
            self.fail(args[0].start, problem or "write off for no alternate stack")
        return {"stack_size": size}

    @RULES.handles(ops.FcntlLock)
    def v_fcntl_lock(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 3, "an fd and read, write or unlock")
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        mode = self.choice(args[1], _CHOICES["fcntl_lock"], "a lock mode")
        ofd = bool(self.flags(args[2:], {"ofd": "ofd"}, "ofd"))
        return {"fd": fd, "mode": mode, "ofd": ofd}

    @RULES.handles(ops.Flock)
    def v_flock(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "an fd and sh, ex or un")
        fd = self.fd(self.word(args[0], "an fd"), args[0].start)
        return {"fd": fd, "mode": self.choice(args[1], _CHOICES["flock"], "a flock mode")}

    @RULES.handles(ops.Atexit)
    def v_atexit(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, 'a "string"')
        return {"data": self.data_arg(args[0])}

    # -- verbs: what-if APIs ---------------------------------------------------------------
    @RULES.handles(ops.SpawnFrom)
    def v_spawn_from(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 1, 1, "a spawn template")
        tok = args[0]
        return {"template": self.use(self.word(tok, "a template"), tok.start, ("template",))}

    def blank(self, tok: Token) -> str:
        return self.use(self.word(tok, "a blank process"), tok.start, ("blank",))

    @RULES.handles(ops.Configure)
    def v_configure(self, args: list[Token]) -> dict[str, Any]:
        self.arity(args, 2, 2, "a blank process and one spawn action")
        return {"blank": self.blank(args[0]), "action": self.action(args[1])}

    @RULES.handles(ops.PidfdExec)
    def v_pidfd_exec(self, args: list[Token]) -> dict[str, Any]:
        if not args:
            self.fail(self.tail, f"pidfd_exec: expected a blank process and a program "
                                 f"(usage: {VERBS['pidfd_exec'].usage})")
        blank = self.blank(args[0])
        program, rest = self.program(args[1:])
        if rest:
            self.fail(rest[0].start, f"pidfd_exec takes no spawn actions (use configure), "
                                     f"got '{rest[0].text}'")
        return {"blank": blank, "program": program}

    @RULES.handles(ops.CreateProcess)
    def v_create_process(self, args: list[Token]) -> dict[str, Any]:
        program, rest = self.program(args)
        inherit: list[FdRef] = []
        if rest:
            tok = rest[0]
            key, sep, value = tok.text.partition("=")
            if tok.kind != "word" or key != "inherit" or not sep:
                self.fail(tok.start, f"expected inherit=FD+FD, got '{tok.text}'")
            if len(rest) > 1:
                self.fail(rest[1].start, f"create_process: unexpected '{rest[1].text}' "
                                         f"(usage: {VERBS['create_process'].usage})")
            at = tok.start + len("inherit=")
            if not value:
                self.fail(at, "inherit= needs fds joined by '+', like inherit=0+1+w")
            for part in value.split("+"):
                fd = self.fd(part, at) if part else self.fail(at, "expected an fd before '+'")
                if fd in inherit:
                    self.fail(at, f"fd {part} is listed twice in inherit=")
                inherit.append(fd)
                at += len(part) + 1
        return {"program": program, "inherit": tuple(inherit)}


# --- lexical values -----------------------------------------------------------------------

def _looks_like_option(tok: Token) -> bool:
    return tok.kind == "word" and ("=" in tok.text or tok.text in _ACTION_WORDS)


def _action_example(key: str) -> str:
    return next(a for a in SPAWN_ACTIONS if a.startswith(key + "="))


def _integer(src: LineSource, text: str, at: int, what: str) -> int:
    if not _INT.fullmatch(text):
        src.fail(at, f"expected {what} (a decimal or 0x hex integer), got '{text}'")
    if len(text) > _MAX_DIGITS:
        src.fail(at, f"{what} {text[:12]}... is too large")
    return int(text, 0) if text.startswith("0x") else int(text, 10)


def _fd_number(src: LineSource, text: str, at: int, extra: str = "") -> int:
    if not _INT.fullmatch(text):
        src.fail(at, f"expected an fd number (0-{MAX_FD}){extra}, got '{text}'")
    value = _integer(src, text, at, "an fd number")
    if value > MAX_FD:
        src.fail(at, f"fd numbers in a script are 0-{MAX_FD} (forklab keeps the ones above), "
                     f"got {text}")
    return value


def _size(src: LineSource, text: str, at: int) -> int:
    """``4096``, ``0x1000``, ``4KiB``, ``16p``, ``64MiB``, ``1GiB``, ``2TiB`` (K/M/G/T too)."""
    try:
        return parse_size(text)
    except ValueError as err:
        src.fail(at, str(err))


def _duration(src: LineSource, text: str, at: int) -> float:
    m = _DURATION.fullmatch(text)
    if m is None or len(text) > _MAX_DIGITS:
        src.fail(at, f"expected a duration like 10ms, 0.5s or 500us, got '{text}'")
    seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if seconds > MAX_SLEEP:
        src.fail(at, f"sleep is limited to {MAX_SLEEP:g}s, got {text}")
    return seconds


def _path(src: LineSource, text: str, at: int) -> str:
    """A path inside the scratch directory, or /dev/null; never anything that leads out."""
    problem = path_problem(text)
    if problem is not None:
        src.fail(at + problem[0], problem[1])
    return text


def _signal(src: LineSource, text: str, at: int, use: str) -> str:
    """A signal name normalised to ``SIGxxx`` (aliases resolved), checked for its use."""
    if not text:
        src.fail(at, "expected a signal name like SIGINT")
    if text.isdigit():
        src.fail(at, f"signals are written by name (like SIGTERM), not by number ('{text}')")
    name = text if text.startswith("SIG") else "SIG" + text
    name = SIGNAL_ALIASES.get(name, name)
    if name not in SIGNAL_NUMBERS:
        upper = text.upper()
        guess = upper if upper.startswith("SIG") else "SIG" + upper
        guess = SIGNAL_ALIASES.get(guess, guess)
        if guess in SIGNAL_NUMBERS:
            src.fail(at, f"signal names are upper case: write '{guess}', not '{text}'")
        if name.startswith(("SIGRTMIN", "SIGRTMAX")):
            src.fail(at, f"unknown signal '{text}': real-time signals are written "
                         "SIGRTMIN+N, N from 0 to 29")
        src.fail(at, f"unknown signal '{text}'{did_you_mean(name, SIGNAL_NUMBERS)}; "
                     "expected a Linux signal name like SIGINT, SIGUSR1 or TERM")
    if name in JOB_CONTROL and use == "raise":
        src.fail(at, f"raise with {name} is refused: stop and continue signals are sent "
                     "with kill")
    return name
