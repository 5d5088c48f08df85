"""What the panels show, computed from a World: plain data, no Textual.

Each function here reads one step's :class:`~forklab.observe.World` (and the
frozen model behind it) and returns small frozen records that a widget only
has to draw. Nothing here changes the model: the frozen copy is read, never
stepped. Every cost is O(processes + mappings + runs), never O(pages): an
address-space bar summarises a mapping's runs into a fixed number of cells,
however many pages it has.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from forklab.observe import World
from forklab.sim.files import DevNull, Pipe, RegularFile
from forklab.sim.kernel import Kernel, PidFd
from forklab.sim.memory import HUGE_ZERO, ZERO, Mapping, PhysicalMemory
from forklab.sim.runs import Linear
from forklab.sim.tasks import Process
from forklab.vocabulary import PAGE, format_size

# --- symbols: every state has one, so nothing relies on colour -----------------------------

STATE_SYMBOL = {
    "running": "▶", "suspended": "‖", "blocked": "■", "zombie": "◌", "reaped": "·",
}
OK, FAIL, UNKNOWN = "✓", "✗", "?"

ABSENT, ZERO_PAGE, SHARED, EXCLUSIVE = "absent", "zero", "shared", "exclusive"
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


def signal_text(signals: Any) -> str:
    names = sorted(s.removeprefix("SIG") for s in signals)
    return " ".join(names) if names else "—"


# --- the process tree --------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessRow:
    name: str
    prefix: str  # tree drawing before the name: "", "├─ ", "│  └─ " ...
    pid: int | None
    state: str
    symbol: str
    detail: str  # threads, exit status, program, errno


def _model(world: World) -> Kernel | None:
    kernel = getattr(world.queries, "kernel", None)
    return kernel if isinstance(kernel, Kernel) else None


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


def process_rows(world: World) -> list[ProcessRow]:
    kernel = _model(world)
    rows = []
    open_levels: list[bool] = []  # per depth: whether a later sibling follows
    for name, depth, last in tree_order(world):
        p = world.processes[name]
        del open_levels[depth:]
        prefix = "".join("│  " if more else "   " for more in open_levels[1:])
        if depth:
            prefix += "└─ " if last else "├─ "
        open_levels.append(not last)
        model = kernel.processes.get(name) if kernel else None
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


def process_order(world: World) -> list[str]:
    return [name for name, _, _ in tree_order(world)]


# --- address spaces ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    process: str
    cells: str  # one symbol per cell
    states: tuple[str, ...]  # the state each cell shows
    present: int
    exclusive: int
    shared: int
    zero: int
    shared_with: tuple[tuple[str, int], ...]  # (other process, pages mapping the same frames)


@dataclass(frozen=True)
class MappingView:
    name: str
    pages: int
    kind: str  # "private anon rw", "shared file=data.txt ro thp", ...
    pages_per_cell: float
    bars: tuple[Bar, ...]

    @property
    def size(self) -> str:
        return format_size(self.pages * PAGE)

    @property
    def scale(self) -> str:
        """What one cell stands for."""
        per = self.pages_per_cell
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
    commit: int = 0  # bytes of its mappings charged to the commit limit
    note: str = ""  # why there is nothing to show (ended, runs a program)


def page_states(mapping: Mapping, memory: PhysicalMemory) -> Iterator[tuple[int, int, str]]:
    """(first page, end page, state) runs of a mapping, O(runs)."""
    counts = memory.mapcount
    for a, b, value in mapping.ptes.runs():
        if value is None:
            yield a, b, ABSENT
        elif value in (ZERO, HUGE_ZERO):
            yield a, b, ZERO_PAGE
        elif isinstance(value, Linear):
            lo, hi = value.at(a), value.at(b)
            for c, d, count in counts.runs(lo, hi):
                yield a + c - lo, a + d - lo, EXCLUSIVE if count == 1 else SHARED
        else:
            yield a, b, SHARED


def summarise(runs: Iterator[tuple[int, int, str]], pages: int, cells: int = CELLS
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


def _kind(m: Mapping) -> str:
    backing = "file" if m.file_backed else "anon"
    words = [m.share, backing, m.prot]
    if m.thp:
        words.append("thp")
    if m.dontfork:
        words.append("dontfork")
    if m.wipeonfork:
        words.append("wipeonfork")
    return " ".join(words)


def address_spaces(world: World, selected: str | None = None, cells: int = CELLS
                   ) -> tuple[list[ProcessMemory], list[MappingView]]:
    """Every live process's page-table totals, and every mapping as a bar per process.

    Within a mapping the selected process comes first; processes that share
    the same frames say with whom and how many pages.
    """
    kernel = _model(world)
    order = process_order(world)
    if selected in order:
        order.remove(selected)
        order.insert(0, selected)
    totals = []
    for name in order:
        p = world.processes[name]
        proc = kernel.processes.get(name) if kernel else None
        note = ""
        if p.state in ("zombie", "reaped"):
            note = f"{p.state}: its memory is gone"
        elif proc is not None and proc.mm is None:
            note = f"runs {proc.program}: forklab cannot see into its memory"
        totals.append(ProcessMemory(name, p.vm_pte, p.faults, p.minflt,
                                    world.queries.commit(name), note))
    if kernel is None:
        return totals, []
    views = []
    names = list(kernel.addresses)
    for mname in names:
        holders: list[tuple[str, Process, Mapping]] = []
        for name in order:
            proc = kernel.processes.get(name)
            if proc is None or proc.ended or proc.mm is None:
                continue
            m = proc.mm.mappings.get(mname)
            if m is not None:
                holders.append((name, proc, m))
        if not holders:
            continue
        bars = []
        for name, proc, m in holders:
            states = summarise(page_states(m, kernel.memory), m.pages, cells)
            obs = world.processes[name].mappings.get(mname)
            present = m.present()
            exclusive = obs.exclusive if obs else 0
            zero = m.zero()
            others = tuple(
                (other, n) for other, _, _ in holders if other != name
                for n in [world.queries.shared_with(name, mname, other)] if n)
            bars.append(Bar(name, "".join(PAGE_SYMBOL[s] for s in states), states, present,
                            exclusive, max(present - exclusive - zero, 0), zero, others))
        first = holders[0][2]
        per = first.pages / max(1, min(cells, first.pages))
        views.append(MappingView(mname, first.pages, _kind(first), per, tuple(bars)))
    return totals, views


# --- fd tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FdRow:
    fd: int
    name: str  # the name the scenario last bound to this number, or ""
    cloexec: bool
    file: int  # which open file description (numbered in this World, in tree order)
    mode: str  # "r", "w", "rw", "w+append"
    offset: int
    obj: str  # "pipe #1 write end", "file data.txt", "/dev/null", "pidfd → child"
    also: tuple[str, ...]  # the same open file elsewhere: "child:4"


@dataclass(frozen=True)
class FdTable:
    process: str
    rows: tuple[FdRow, ...]
    stdio: str  # libc's stdout buffer: mode and what is waiting in it
    last_read: str | None
    note: str = ""


BUFFER_MODE = {"full": "fully buffered", "line": "line buffered", "none": "unbuffered"}


def fd_tables(world: World, selected: str | None = None) -> list[FdTable]:
    """Every process's fds: fd → open file description → object."""
    kernel = _model(world)
    order = process_order(world)
    if selected in order:
        order.remove(selected)
        order.insert(0, selected)
    if kernel is None:
        return []
    files: dict[int, int] = {}  # id(open file) -> its number here
    objects: dict[int, int] = {}  # id(pipe) -> its number here
    holders: dict[int, list[tuple[str, int]]] = {}
    writers: dict[int, list[str]] = {}  # id(pipe) -> "process:fd" holding a write end
    for name in process_order(world):
        proc = kernel.processes.get(name)
        if proc is None or proc.ended:
            continue
        for number in sorted(proc.files.fds):
            slot = proc.files.fds[number]
            files.setdefault(id(slot.file), len(files) + 1)
            holders.setdefault(id(slot.file), []).append((name, number))
            if isinstance(slot.file.obj, Pipe) and not slot.file.obj.collector:
                objects.setdefault(id(slot.file.obj), len(objects) + 1)
                if slot.file.writable:
                    writers.setdefault(id(slot.file.obj), []).append(f"{name}:{number}")
    fd_names: dict[int, str] = {}  # number -> the name bound to it last
    for fname, number in world.fd_names.items():
        fd_names[number] = fname
    tables = []
    for name in order:
        proc = kernel.processes.get(name)
        p = world.processes[name]
        if proc is None or proc.ended:
            tables.append(FdTable(name, (), "", p.last_read,
                                  f"{p.state}: every fd was closed when it ended"))
            continue
        rows = []
        for number in sorted(proc.files.fds):
            slot = proc.files.fds[number]
            f = slot.file
            mode = ("r" if f.readable else "") + ("w" if f.writable else "")
            mode = (mode or "-") + ("+append" if f.append else "")
            also = tuple(f"{other}:{n}" for other, n in holders.get(id(f), ())
                         if (other, n) != (name, number))
            rows.append(FdRow(number, fd_names.get(number, ""), slot.cloexec, files[id(f)],
                              mode, f.offset,
                              _object_text(f.obj, f.end, objects, writers, kernel), also))
        stdio = ""
        if proc.mm is not None:
            out = proc.mm.user.stdout
            mode = BUFFER_MODE.get(out.mode, out.mode)
            stdio = f"libc stdout buffer ({mode}): " + (repr(out.buffer) if out.buffer
                                                         else "empty")
        tables.append(FdTable(name, tuple(rows), stdio, p.last_read))
    return tables


def _object_text(obj: Any, end: str, objects: dict[int, int], writers: dict[int, list[str]],
                 kernel: Kernel) -> str:
    if isinstance(obj, Pipe):
        if obj.collector:
            which = "stdout" if obj is kernel.stdout else "stderr"
            return f"{which} pipe, read by forklab"
        waiting = f", {len(obj.data)} bytes in it" if obj.data else ""
        if end != "r":
            return f"pipe #{objects[id(obj)]} write end{waiting}"
        held = writers.get(id(obj), [])
        who = ("write end held by " + " ".join(held)) if held else "no write end open: EOF"
        return f"pipe #{objects[id(obj)]} read end{waiting}; {who}"
    if isinstance(obj, RegularFile):
        return f"file {obj.path} ({len(obj.data)} bytes)"
    if isinstance(obj, DevNull):
        return "/dev/null"
    if isinstance(obj, PidFd):
        return f"pidfd → {obj.process}"
    return type(obj).__name__


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


def threads_view(world: World, selected: str | None = None) -> ThreadsView:
    kernel = _model(world)
    if kernel is None:
        return ThreadsView((), (), ())
    from forklab.sim.waitfor import stuck

    order = process_order(world)
    if selected in order:
        order.remove(selected)
        order.insert(0, selected)
    live = [kernel.processes[n] for n in order
            if n in kernel.processes and not kernel.processes[n].ended]
    rows, locks = [], []
    for proc in live:
        users = [p for p in kernel.processes.values() if not p.ended and p.mm is proc.mm]
        owners = {t.tid: (u, t) for u in users for t in u.threads.values()}
        mutexes = proc.mm.user.mutexes if proc.mm is not None else {}
        for t in proc.threads.values():
            waiting = ""
            if t.waiting is not None:
                waiting = (f"waits for {t.waiting.what} in `{t.waiting.op.text.strip()}` "
                           f"(line {t.waiting.op.where.line})")
            holds = tuple(sorted(n for n, m in mutexes.items() if m.owner == t.tid))
            rows.append(ThreadRow(proc.name, t.name or "main", t.tid, waiting, holds))
        for lname in sorted(mutexes):
            owner = mutexes[lname].owner
            if owner is None:
                text, orphaned = "free", False
            elif owner in owners:
                user, t = owners[owner]
                text = f"held by {user.name}/{t.name or 'main'} (tid {owner})"
                orphaned = False
            else:
                text = f"held by tid {owner}, which does not exist in {proc.name}"
                orphaned = True
            locks.append(LockRow(proc.name, lname, text, orphaned))
    # a memory shared by vfork/clone(vm) lists each lock once per process: keep the first
    seen: set[tuple[int, str]] = set()
    unique = []
    for row, proc in ((r, kernel.processes[r.process]) for r in locks):
        key = (id(proc.mm), row.lock)
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return ThreadsView(tuple(rows), tuple(unique), tuple(str(s) for s in stuck(kernel)))


# --- signals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalRow:
    process: str
    caught: str
    ignored: str
    blocked: str
    pending: str
    note: str = ""


def signal_rows(world: World, selected: str | None = None) -> list[SignalRow]:
    order = process_order(world)
    if selected in order:
        order.remove(selected)
        order.insert(0, selected)
    rows = []
    for name in order:
        p = world.processes[name]
        note = ""
        if p.state in ("zombie", "reaped"):
            note = f"{p.state}" + (f", killed by {p.term_signal}" if p.term_signal else "")
        rows.append(SignalRow(name, signal_text(p.sig_caught), signal_text(p.sig_ignored),
                              signal_text(p.sig_blocked), signal_text(p.sig_pending), note))
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
    totals, mappings = address_spaces(world, selected, cells)
    return PanelsView(selected, tuple(process_rows(world)), world.stdout, tuple(totals),
                      tuple(mappings), tuple(fd_tables(world, selected)),
                      threads_view(world, selected), tuple(signal_rows(world, selected)))


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


def lesson_markdown(session: Any) -> str:
    """The lesson pane's Markdown for the session's current step."""
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
    if result is not None and result.expectations:
        out += ["**Expected**", ""]
        kernel_judged = check.expectations if check is not None and check.ran else []
        for i, judged in enumerate(result.expectations):
            item = f"- {_mark(judged.ok)} {_code(judged.text)}"
            if judged.error:
                item += f" — {judged.error}"
            elif judged.ok is False:
                item += f" — but {_touched_text(judged.touched)}"
            if i < len(kernel_judged):
                item += f" · kernel {_mark(kernel_judged[i].ok)}"
            out.append(item)
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
        if answer is None:
            out.append("*Press **a** to answer" + (", **h** for a hint.*" if question.hint
                                                    else ".*"))
        elif answer.right:
            out.append(f"{OK} You answered {_code(answer.text)}: right.")
        else:
            out.append(f"{FAIL} You answered {_code(answer.text)}: not it"
                       + ("." if solved else "; **a** to try again."))
            if answer.attempts >= 2 and not solved:
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
                if c.status == "disagree":
                    out.append(f"- {FAIL} {_code(c.key)}: model {_code(show_value(c.model, 60))}"
                               f", kernel {_code(show_value(c.kernel, 60))}")
            out.append("")
        else:
            out += [f"**On the kernel:** {UNKNOWN} not run — {check.reason}", ""]
    if session.position == session.total and frame.error is None:
        out.append(f"**{OK} Lesson complete.** **q** goes back; **p** steps back through it.")
    elif frame.error is None:
        out.append(f"*Next: **n** runs step {session.position + 1}.*")
    return "\n".join(out)
