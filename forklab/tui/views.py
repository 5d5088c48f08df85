"""What the panels show, computed from a World: plain data, no Textual.

Each function here reads one step's :class:`~forklab.observe.World` and, for a
simulator World, the model's detail behind it (:mod:`forklab.sim.detail`:
frozen records of threads, fds, mutexes and page runs), and returns small
frozen records that a widget only has to draw. A World from the kernel has
no detail: the panels then show what its observables say (fd numbers,
close-on-exec, page counts, signal sets) and mark the rest unknown. Every
cost is O(processes + mappings + runs), never O(pages): an address-space bar
summarises a mapping's runs into a fixed number of cells, however many pages
it has.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from forklab.observe import UNAVAILABLE, World
from forklab.sim.detail import (
    ABSENT,
    EXCLUSIVE,
    SHARED,
    ZERO_PAGE,
    Collector,
    DevNullTarget,
    DirectoryTarget,
    FdDetail,
    FileTarget,
    MappingDetail,
    ModelDetail,
    PidFdTarget,
    PipeEnd,
    of_world,
)
from forklab.vocabulary import PAGE, format_size

# --- symbols: every state has one, so nothing relies on colour -----------------------------

STATE_SYMBOL = {
    "running": "▶", "suspended": "‖", "stopped": "□", "blocked": "■", "zombie": "◌",
    "reaped": "·",
}
OK, FAIL, UNKNOWN = "✓", "✗", "?"

PAGE_SYMBOL = {EXCLUSIVE: "▇", SHARED: "▒", ZERO_PAGE: "·", ABSENT: " "}
_PRIORITY = (EXCLUSIVE, SHARED, ZERO_PAGE, ABSENT)  # a mixed cell shows the first it holds
CELLS = 32
"""How many cells an address-space bar has, whatever the mapping's size."""


def shorten(message: str, limit: int = 150) -> str:
    """A long parser message cut to fit, keeping its "did you mean" at the end."""
    if len(message) <= limit:
        return message
    cut = message.rfind(" (did you mean")
    suffix = message[cut:] if cut > 0 else ""
    return message[: limit - len(suffix) - 1].rstrip(" ,") + "…" + suffix


def signal_text(signals: Iterable[str]) -> str:
    names = sorted(s.removeprefix("SIG") for s in signals)
    return " ".join(names) if names else "—"


def _ended(world: World, name: str) -> bool:
    return world.processes[name].state in ("zombie", "reaped")


def _known(value: Any) -> bool:
    """Whether a queried observable has a value here (the kernel may not show it)."""
    return value is not UNAVAILABLE


# --- the process tree --------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessRow:
    name: str
    prefix: str  # tree drawing before the name: "", "├─ ", "│  └─ " ...
    pid: int | None
    state: str
    symbol: str
    detail: str  # threads, exit status, program, errno


def tree_order(world: World) -> list[tuple[str, int, bool]]:
    """(name, depth, last among siblings) in tree order: parents before children."""
    procs = world.processes
    children: dict[str | None, list[str]] = {}
    for name, p in procs.items():
        parent = p.parent if p.parent in procs else None
        children.setdefault(parent, []).append(name)
    out: list[tuple[str, int, bool]] = []
    stack: list[tuple[str, int, bool]] = [
        (name, 0, i == len(children.get(None, [])) - 1)
        for i, name in enumerate(children.get(None, []))][::-1]
    seen: set[str] = set()
    while stack:
        name, depth, last = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        out.append((name, depth, last))
        kids = children.get(name, [])
        stack.extend([(kid, depth + 1, i == len(kids) - 1) for i, kid in enumerate(kids)][::-1])
    return out


def process_rows(world: World, detail: ModelDetail | None) -> list[ProcessRow]:
    rows = []
    open_levels: list[bool] = []  # per depth: whether a later sibling follows
    for name, depth, last in tree_order(world):
        p = world.processes[name]
        del open_levels[depth:]
        prefix = "".join("│  " if more else "   " for more in open_levels[1:])
        if depth:
            prefix += "└─ " if last else "├─ "
        open_levels.append(not last)
        model = detail.process(name) if detail else None
        parts = []
        if p.state in ("zombie", "reaped"):
            if p.term_signal:
                parts.append(f"killed by {p.term_signal}")
            elif p.exit_code is not None:
                parts.append(f"exit {p.exit_code}")
        else:
            parts.append("1 thread" if p.threads == 1 else f"{p.threads} threads")
            if model is not None and model.program is not None:
                parts.append(f"runs {model.program}")
        if p.errno:
            parts.append(f"errno {p.errno}")
        if p.faults:
            parts.append(f"{p.faults} faults this step")
        rows.append(ProcessRow(name, prefix, model.pid if model else None, p.state,
                               STATE_SYMBOL.get(p.state, "?"), ", ".join(parts)))
    return rows


def process_order(world: World, selected: str | None = None) -> list[str]:
    """The processes in tree order; the selected one, if given, first."""
    order = [name for name, _, _ in tree_order(world)]
    if selected in order:
        order.remove(selected)
        order.insert(0, selected)
    return order


# --- address spaces ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    process: str
    cells: str  # one symbol per cell; "" when the World does not say where the pages are
    states: tuple[str, ...]  # the state each cell shows
    present: int
    exclusive: int
    shared: int
    zero: int
    shared_with: tuple[tuple[str, int], ...]  # (other process, pages mapping the same frames)


@dataclass(frozen=True)
class MappingView:
    name: str
    pages: int | None  # None: the World does not say (the kernel's)
    kind: str  # "private anon rw", "shared file=data.txt ro thp", ...; "" if unknown
    pages_per_cell: float
    bars: tuple[Bar, ...]

    @property
    def size(self) -> str:
        return format_size(self.pages * PAGE) if self.pages is not None else ""

    @property
    def scale(self) -> str:
        """What one cell stands for."""
        per = self.pages_per_cell
        if self.pages is None:
            return "the kernel shows how many pages, not where"
        if per <= 1:
            return "1 cell = 1 page"
        if per == int(per):
            n = int(per)
            return f"1 cell = {n} pages ({format_size(n * PAGE)})"
        return f"1 cell ≈ {per:.0f} pages"


@dataclass(frozen=True)
class ProcessMemory:
    process: str
    vm_pte: int  # KiB
    faults: int
    minflt: int
    commit: int | None = 0  # bytes of its mappings charged to the commit limit; None: unknown
    note: str = ""  # why there is nothing to show (ended, runs a program)


def summarise(runs: Iterable[tuple[int, int, str]], pages: int, cells: int = CELLS
              ) -> tuple[str, ...]:
    """The state each of ``min(cells, pages)`` cells shows: O(runs + cells).

    A cell covers an equal share of the pages; when its pages are in several
    states it shows the most telling one (exclusive, then shared, then the
    zero page), so a single written page in a gigabyte still shows.
    """
    n = min(cells, pages)
    if n <= 0:
        return ()
    marks = {state: [0] * (n + 1) for state in _PRIORITY}

    def cell(page: int) -> int:
        return ((page + 1) * n - 1) // pages

    for a, b, state in runs:
        if a >= b:
            continue
        first, last = cell(a), cell(b - 1)
        marks[state][first] += 1
        marks[state][last + 1] -= 1
    out = []
    running = {state: 0 for state in _PRIORITY}
    for i in range(n):
        shown = ABSENT
        for state in reversed(_PRIORITY):
            running[state] += marks[state][i]
        for state in _PRIORITY:
            if running[state] > 0:
                shown = state
                break
        out.append(shown)
    return tuple(out)


def _kind(m: MappingDetail) -> str:
    words = [m.share, "file" if m.file_backed else "anon", m.prot]
    words += [word for word, on in (("thp", m.thp), ("dontfork", m.dontfork),
                                    ("wipeonfork", m.wipeonfork)) if on]
    return " ".join(words)


def _shares(world: World, name: str, mapping: str, holders: Iterable[str]
            ) -> tuple[tuple[str, int], ...]:
    """With which other holders the process maps the same frames, and how many pages."""
    out = []
    for other in holders:
        if other != name:
            n = world.queries.shared_with(name, mapping, other)
            if _known(n) and n:
                out.append((other, n))
    return tuple(out)


def address_spaces(world: World, detail: ModelDetail | None, selected: str | None = None,
                   cells: int = CELLS) -> tuple[list[ProcessMemory], list[MappingView]]:
    """Every live process's page-table totals, and every mapping as a bar per process.

    Within a mapping the selected process comes first; processes that share
    the same frames say with whom and how many pages.
    """
    order = process_order(world, selected)
    totals = []
    for name in order:
        p = world.processes[name]
        model = detail.process(name) if detail else None
        note = ""
        if p.state in ("zombie", "reaped"):
            note = f"{p.state}: its memory is gone"
        elif model is not None and model.memory is None:
            note = f"runs {model.program}: forklab cannot see into its memory"
        commit = world.queries.commit(name)
        totals.append(ProcessMemory(name, p.vm_pte, p.faults, p.minflt,
                                    commit if _known(commit) else None, note))
    if detail is None:
        return totals, _counted_mappings(world, order)
    views = []
    for mname in detail.mapping_names:
        holders: list[tuple[str, MappingDetail]] = []
        for name in order:
            model = detail.process(name)
            m = next((m for m in model.mappings if m.name == mname), None) if model else None
            if m is not None:
                holders.append((name, m))
        if not holders:
            continue
        bars = []
        for name, m in holders:
            states = summarise(((r.start, r.end, r.state) for r in m.runs), m.pages, cells)
            exclusive, zero = m.count(EXCLUSIVE), m.count(ZERO_PAGE)
            bars.append(Bar(name, "".join(PAGE_SYMBOL[s] for s in states), states,
                            m.pages - m.count(ABSENT), exclusive, m.count(SHARED), zero,
                            _shares(world, name, mname, (n for n, _ in holders))))
        first = holders[0][1]
        per = first.pages / max(1, min(cells, first.pages))
        views.append(MappingView(mname, first.pages, _kind(first), per, tuple(bars)))
    return totals, views


def _counted_mappings(world: World, order: list[str]) -> list[MappingView]:
    """Each mapping as the observables count it, without cells: where in the mapping
    the pages are is the model's to say."""
    views = []
    for mname in sorted(world.mapping_names):
        holders = [name for name in order if not _ended(world, name)
                   and mname in world.processes[name].mappings]
        bars = []
        for name in holders:
            m = world.processes[name].mappings[mname]
            bars.append(Bar(name, "", (), m.present, m.exclusive,
                            max(m.present - m.exclusive - m.zero, 0), m.zero,
                            _shares(world, name, mname, holders)))
        if bars:
            views.append(MappingView(mname, None, "", 0, tuple(bars)))
    return views


# --- fd tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FdRow:
    fd: int
    name: str  # the name the scenario last bound to this number, or ""
    cloexec: bool
    file: int | None  # which open file description (None: the World does not say)
    mode: str  # "r", "w", "rw", "w+append"; "" if unknown
    offset: int | None
    obj: str  # "pipe #1 write end", "file data.txt", "/dev/null", "pidfd → child"; "" unknown
    also: tuple[str, ...]  # the same open file elsewhere: "child:4"


@dataclass(frozen=True)
class FdTable:
    process: str
    rows: tuple[FdRow, ...]
    stdio: str  # libc's stdout buffer: mode and what is waiting in it
    last_read: str | None
    note: str = ""


BUFFER_MODE = {"full": "fully buffered", "line": "line buffered", "none": "unbuffered"}


def fd_tables(world: World, detail: ModelDetail | None, selected: str | None = None
              ) -> list[FdTable]:
    """Every process's fds: fd → open file description → object."""
    fd_names = {number: fname for fname, number in world.fd_names.items()}  # the last bound
    order = process_order(world, selected)
    holders: dict[int, list[str]] = {}  # open file description -> "process:fd" holding it
    for proc in detail.processes if detail else ():
        for f in proc.fds:
            holders.setdefault(f.open_file, []).append(f"{proc.name}:{f.fd}")
    tables = []
    for name in order:
        p = world.processes[name]
        if _ended(world, name):
            tables.append(FdTable(name, (), "", p.last_read,
                                  f"{p.state}: every fd was closed when it ended"))
        elif detail is None:
            rows = tuple(FdRow(fd, fd_names.get(fd, ""), fd in p.cloexec_fds, None, "", None, "",
                               _same_file_elsewhere(world, name, fd, order))
                         for fd in p.fds)
            tables.append(FdTable(name, rows, "", p.last_read))
        else:
            model = detail.process(name)
            assert model is not None
            rows = tuple(_fd_row(f, name, fd_names, holders) for f in model.fds)
            stdio = ""
            if model.stdout is not None:
                out = model.stdout
                stdio = (f"libc stdout buffer ({BUFFER_MODE.get(out.mode, out.mode)}): "
                         + (repr(out.buffer) if out.buffer else "empty"))
            tables.append(FdTable(name, rows, stdio, p.last_read))
    return tables


def _same_file_elsewhere(world: World, name: str, fd: int, order: list[str]
                         ) -> tuple[str, ...]:
    """``same_file`` asked of every other live fd: what a kernel World can tell."""
    return tuple(f"{other}:{ofd}" for other in order if not _ended(world, other)
                 for ofd in world.processes[other].fds
                 if (other, ofd) != (name, fd)
                 and world.queries.same_file(name, fd, other, ofd) is True)


def _fd_row(f: FdDetail, name: str, fd_names: dict[int, str],
            holders: dict[int, list[str]]) -> FdRow:
    mode = ("r" if f.readable else "") + ("w" if f.writable else "")
    mode = (mode or "-") + ("+append" if f.append else "")
    also = tuple(h for h in holders[f.open_file] if h != f"{name}:{f.fd}")
    return FdRow(f.fd, fd_names.get(f.fd, ""), f.cloexec, f.open_file, mode, f.offset,
                 _object_text(f), also)


def _object_text(f: FdDetail) -> str:
    target = f.target
    match target:
        case Collector(stream=stream):
            return f"{stream} pipe, read by forklab"
        case PipeEnd(pipe=pipe, end=end, fill=fill, write_ends=writers):
            waiting = f", {fill} bytes in it" if fill else ""
            if end != "r":
                return f"pipe #{pipe} write end{waiting}"
            held = " ".join(f"{p}:{fd}" for p, fd in writers)
            who = f"write end held by {held}" if held else "no write end open: EOF"
            return f"pipe #{pipe} read end{waiting}; {who}"
        case FileTarget(path=path, size=size):
            return f"file {path} ({size} bytes)"
        case DirectoryTarget(path=path):
            return f"directory {path}"
        case DevNullTarget():
            return "/dev/null"
        case PidFdTarget(process=process):
            return f"pidfd → {process}"
    raise AssertionError(f"no text for {target!r}")


# --- threads and the wait-for graph --------------------------------------------------------


@dataclass(frozen=True)
class ThreadRow:
    process: str
    thread: str  # "main" or the scenario's name
    tid: int
    waiting: str  # "" or what it waits for, with the line
    holds: tuple[str, ...]  # mutexes it owns


@dataclass(frozen=True)
class LockRow:
    process: str
    lock: str
    owner: str  # "free", "parent/t1 (tid 1001)", "tid 1001 — no such thread here"
    orphaned: bool  # owned by a thread that does not exist in any process sharing it


@dataclass(frozen=True)
class ThreadsView:
    threads: tuple[ThreadRow, ...]
    locks: tuple[LockRow, ...]
    stuck: tuple[str, ...]  # waits-forever explanations from the wait-for graph
    note: str = ""  # what a World without the model's detail can say instead


def threads_view(world: World, detail: ModelDetail | None, selected: str | None = None
                 ) -> ThreadsView:
    order = process_order(world, selected)
    if detail is None:
        counts = ", ".join(f"{name} {p.threads}" + (" (blocked)" if p.state == "blocked" else "")
                           for name in order if not _ended(world, name)
                           for p in [world.processes[name]])
        return ThreadsView((), (), (), "The kernel shows how many threads each process has, "
                                       f"not what they wait for: {counts or 'none live'}.")
    live = [model for name in order if not _ended(world, name)
            for model in [detail.process(name)] if model is not None]
    rows, locks = [], []
    seen: set[tuple[int | None, str]] = set()  # a memory shared by vfork or clone(vm): once
    for proc in live:
        for t in proc.threads:
            waiting = ""
            if t.waiting is not None:
                waiting = (f"waits for {t.waiting.what} in `{t.waiting.line_text}` "
                           f"(line {t.waiting.line})")
            holds = tuple(m.name for m in proc.mutexes if m.owner_tid == t.tid)
            rows.append(ThreadRow(proc.name, t.name or "main", t.tid, waiting, holds))
        for m in proc.mutexes:
            if (proc.memory, m.name) in seen:
                continue
            seen.add((proc.memory, m.name))
            if m.owner_tid is None:
                text = "free"
            elif m.owner is not None:
                user, thread = m.owner
                text = f"held by {user}/{thread or 'main'} (tid {m.owner_tid})"
            else:
                text = f"held by tid {m.owner_tid}, which does not exist in {proc.name}"
            locks.append(LockRow(proc.name, m.name, text,
                                 m.owner_tid is not None and m.owner is None))
    return ThreadsView(tuple(rows), tuple(locks), detail.stuck)


# --- signals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalRow:
    process: str
    caught: str
    ignored: str
    blocked: str
    pending: str
    note: str = ""
    thread: str = ""  # a thread other than the main one: its own mask and pending signals


def signal_rows(world: World, detail: ModelDetail | None, selected: str | None = None
                ) -> list[SignalRow]:
    """Each process's signal sets (the observables: its main thread's mask); then, from
    the model, each other thread's mask and the signals sent to that thread."""
    rows = []
    for name in process_order(world, selected):
        p = world.processes[name]
        note = ""
        if p.state in ("zombie", "reaped"):
            note = f"{p.state}" + (f", killed by {p.term_signal}" if p.term_signal else "")
        rows.append(SignalRow(name, signal_text(p.sig_caught), signal_text(p.sig_ignored),
                              signal_text(p.sig_blocked), signal_text(p.sig_pending), note))
        model = detail.process(name) if detail and not note else None
        for t in model.threads[1:] if model else ():
            rows.append(SignalRow(name, "", "", signal_text(t.mask), signal_text(t.pending),
                                  thread=t.name))
    return rows


# --- everything the panels show after one step ---------------------------------------------


@dataclass(frozen=True)
class PanelsView:
    """One step's panels: computed once, drawn by the widgets."""

    selected: str | None
    processes: tuple[ProcessRow, ...]
    stdout: str
    memory: tuple[ProcessMemory, ...]
    mappings: tuple[MappingView, ...]
    files: tuple[FdTable, ...]
    threads: ThreadsView
    signals: tuple[SignalRow, ...]


def panels(world: World, selected: str | None = None, cells: int = CELLS) -> PanelsView:
    if selected not in world.processes:
        selected = next(iter(world.processes), None)
    detail = of_world(world)
    totals, mappings = address_spaces(world, detail, selected, cells)
    return PanelsView(selected, tuple(process_rows(world, detail)), world.stdout,
                      tuple(totals), tuple(mappings), tuple(fd_tables(world, detail, selected)),
                      threads_view(world, detail, selected),
                      tuple(signal_rows(world, detail, selected)))


# --- the lesson text ---------------------------------------------------------------------


def _code(text: str) -> str:
    """Inline code that survives backticks inside it."""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _script(step: Any) -> list[str]:
    """The step's lines as written, a `repeat` shown once with its count."""
    seen: dict[tuple[int, int], list[Any]] = {}
    for op in step.ops:
        seen.setdefault((op.where.line, op.where.col), []).append(op)
    lines = []
    for ops in seen.values():
        lines.append(ops[0].text.strip() + (f"    # × {len(ops)}" if len(ops) > 1 else ""))
    return lines


def _touched_text(touched: dict[str, Any]) -> str:
    from forklab.tui.state import show_value
    return ", ".join(f"{k} = {show_value(v, 60)}" for k, v in touched.items()
                     if not k.endswith(".mapped"))


def _mark(ok: bool | None) -> str:
    return OK if ok is True else FAIL if ok is False else UNKNOWN


def lesson_markdown(session: Any, next_lesson: tuple[str, str] | None = None) -> str:
    """The lesson pane's Markdown for the session's current step. Until a question
    is answered, nothing in it shows the answer (forklab.questions). next_lesson:
    the (id, title) to offer when the lesson is complete."""
    from forklab.questions import answer_keys, held_back
    from forklab.tui.state import show_value

    sc = session.scenario
    out: list[str] = []
    if session.position == 0:
        out += [f"## {sc.title}", "", f"*{sc.summary}*", ""]
        facts = [f"{session.total} steps"]
        if sc.tags:
            facts.append("tags: " + ", ".join(sc.tags))
        if not sc.real:
            facts.append("simulator only (what-if APIs)")
        out += [" · ".join(facts), "",
                ("Press **n** or **→** to run step 1 on the model; **p** or **←** goes back. "
                 "The panels show the model after each step. **?** lists every key.")]
        return "\n".join(out)
    step = session.step
    frame = session.frame
    check = session.kernel.get(session.position)
    out += [f"## Step {step.index} of {session.total}", ""]
    if step.say:
        out += [step.say.strip(), ""]
    script = _script(step)
    if script:
        out += ["```text", *script, "```", ""]
    if not (sc.real and step.real):
        out += ["*Simulator only: Linux has no such call.*", ""]
    if frame.error is not None:
        line = frame.error.where.line if frame.error.where else step.where.line
        out += [f"**{FAIL} The model refused line {line}:** {frame.error.message}", ""]
    result = frame.result
    unanswered = session.unanswered()
    hidden = answer_keys(step, unanswered, result.answers if result is not None else ())
    if result is not None and result.expectations:
        out += ["**Expected**", ""]
        kernel_judged = check.expectations if check is not None and check.ran else []
        held = held_back(step, unanswered)
        for i, judged in enumerate(result.expectations):
            if i in held:
                continue
            item = f"- {_mark(judged.ok)} {_code(judged.text)}"
            if judged.error:
                item += f" — {judged.error}"
            elif judged.ok is False:
                item += f" — but {_touched_text(judged.touched)}"
            if i < len(kernel_judged):
                item += f" · kernel {_mark(kernel_judged[i].ok)}"
            out.append(item)
        if held:
            marks = " ".join(_mark(result.expectations[i].ok) for i in sorted(held))
            out.append(f"- {marks} *{len(held)} more, held back until you answer: "
                       + ("it gives" if len(held) == 1 else "they give") + " the answer away*")
        out.append("")
    for i, question in enumerate(step.ask):
        label = "Question" if len(step.ask) == 1 else f"Question {i + 1}"
        out += [f"**{label}:** {question.q}", ""]
        if question.choices:
            out += ["Choices: " + " · ".join(_code(c) for c in question.choices), ""]
        key = (step.index, i)
        if key in session.hints:
            out += [f"> Hint: {question.hint}" if question.hint else "> No hint for this one.",
                    ""]
        answer = session.answers.get(key)
        solved = key in session.solved
        if answer is None and key in session.earlier:
            given = session.earlier[key]
            out.append(f"{OK} You answered " + (f"{_code(given)} " if given else "")
                       + "right last time.")
        elif answer is None and key in session.revealed:
            out.append(f"The answer is {_code(show_value(session.expected(i)))} "
                       "(shown last time).")
        elif answer is None:
            out.append("*Press **a** to answer" + (", **h** for a hint.*" if question.hint
                                                    else ".*"))
        elif answer.right:
            out.append(f"{OK} You answered {_code(answer.text)}: right.")
        else:
            out.append(f"{FAIL} You answered {_code(answer.text)}: not it"
                       + ("." if solved else "; **a** to try again."))
            if key in session.revealed and not solved:
                out.append(f"The answer is {_code(show_value(answer.expected))}.")
        out.append("")
    if session.position in session.kernel_pending:
        out += [f"**On the kernel:** running steps 1–{session.position}…", ""]
    elif check is not None:
        if check.ran:
            out += [(f"**On the kernel:** {OK} {check.count('agree')} agree · "
                     f"{FAIL} {check.count('disagree')} disagree · "
                     f"{UNKNOWN} {check.count('unavailable')} unavailable "
                     "(every observable: key **6**)"), ""]
            for c in check.compared:
                if c.status == "disagree" and c.key not in hidden:
                    out.append(f"- {FAIL} {_code(c.key)}: model {_code(show_value(c.model, 60))}"
                               f", kernel {_code(show_value(c.kernel, 60))}")
            out.append("")
        else:
            out += [f"**On the kernel:** {UNKNOWN} not run — {check.reason}", ""]
    if session.position == session.total and frame.error is None:
        out.append(f"**{OK} Lesson complete.** **q** goes back; **p** steps back through it.")
        if next_lesson is not None:
            out += ["", f"**Next lesson:** {next_lesson[1]} ({_code(next_lesson[0])}): "
                        "press **o** to open it."]
    elif frame.error is None:
        out.append(f"*Next: **n** runs step {session.position + 1}.*")
    return "\n".join(out)
