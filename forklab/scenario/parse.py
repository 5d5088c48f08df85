"""Scenario files to :class:`Scenario` objects: the one way into the language.

The file is TOML (docs/scenario-language.md, "The file"); its ``do`` strings hold script lines
(§2–§3, parsed by :mod:`forklab.scenario.script`) and its ``expect``/``ask``
entries hold expressions (§4, checked by :mod:`forklab.scenario.expr`). A bad
file raises :class:`ScenarioError` naming the file, step, line and column of
the fault, before anything runs; no other exception escapes.
"""
from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from functools import partial
from typing import Any, NoReturn

from forklab.scenario import expr
from forklab.scenario.model import (
    Expr,
    NameKind,
    Question,
    Scenario,
    ScenarioError,
    ScenarioErrors,
    Step,
    Where,
)
from forklab.scenario.ops import Op
from forklab.scenario.script import Bindings, LineSource, check_name_syntax, parse_script_line
from forklab.scenario.toml_positions import (
    Located,
    Path,
    Pos,
    join_inline_tables,
    line_starts,
    locate,
)
from forklab.scenario.validate import check_counts, check_frees, check_paths
from forklab.scenario.verbs import verb_of

__all__ = ["MAX_FILE_BYTES", "parse_file", "parse_line", "parse_text"]

MAX_FILE_BYTES = 1 << 20

_ID = re.compile(r"[a-z0-9-]+")
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)$")
_TOP_KEYS = ("id", "title", "summary", "tags", "builds_on", "real", "first", "step")
_STEP_KEYS = ("say", "do", "expect", "ask", "real", "note")
_ASK_KEYS = ("q", "a", "choices", "hint")


# --- public API ---------------------------------------------------------------------------

def parse_file(path: str | os.PathLike[str]) -> Scenario:
    """Read and parse a scenario file (UTF-8, at most 1 MiB)."""
    if not isinstance(path, (str, bytes, os.PathLike)):  # an int would be read as an fd
        raise ScenarioError(f"not a file path: {path!r}", Where(str(path), 1, 1))
    name = os.fsdecode(path)
    try:
        # O_NONBLOCK: a FIFO opens at once (and is refused below) instead of hanging
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ScenarioError("not a regular file", Where(name, 1, 1))
            data = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ScenarioError(f"cannot read the scenario file: {reason}",
                            Where(name, 1, 1)) from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(f"the file is larger than {MAX_FILE_BYTES >> 20} MiB",
                            Where(name, 1, 1))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        line = data.count(b"\n", 0, err.start) + 1
        col = len(data[line_start:err.start].decode("utf-8", "replace")) + 1
        raise ScenarioError(f"the file is not UTF-8 text (byte 0x{data[err.start]:02x})",
                            Where(name, line, col)) from None
    return parse_text(text, name)


def parse_text(text: str, filename: str = "<string>") -> Scenario:
    """Parse a scenario from its TOML text; ``filename`` is used in positions."""
    if not isinstance(text, str):
        raise ScenarioError("a scenario is text (str)", Where(filename, 1, 1))
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ScenarioError(f"the file is larger than {MAX_FILE_BYTES >> 20} MiB",
                            Where(filename, 1, 1))
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    surrogate = re.search(r"[\ud800-\udfff]", text)
    if surrogate:
        line, col = _line_col(text, surrogate.start())
        raise ScenarioError("the text contains a lone surrogate (not Unicode text)",
                            Where(filename, line, col))
    joined = join_inline_tables(text)  # TOML 1.1's multi-line inline tables, as §1 writes them
    data = _load_toml(joined, text, filename)
    _refuse_terminal_controls(data, text, filename)
    try:
        return _Document(filename, data, locate(joined, text)).scenario()
    except ScenarioError as err:
        raise _with_escape_hint(err, text) from None


def _with_escape_hint(err: ScenarioError, text: str) -> ScenarioError:
    r"""The error, with a hint where TOML cut a script line short: in a basic
    multi-line string (three double quotes) `\n` is already a newline, so
    `printf "a\n"` ends its line inside the quotes."""
    if err.where is None or "unterminated string" not in err.message:
        return err
    lines = text.split("\n")
    rest = lines[err.where.line - 1][err.where.col - 1:] if err.where.line <= len(lines) else ""
    if "\\n" not in rest:
        return err
    return ScenarioError(
        err.message + r". In a TOML string in double quotes \n is already a newline, which "
        r"ends the script line: write \\n there, or put the script in a literal string "
        "('''...''')", err.where)


def parse_line(line: str, names: dict[str, NameKind], where: Where) -> list[Op]:
    """Parse one script line typed against a running scenario (a sandbox).

    ``names`` holds what is bound so far and is updated with what the line binds
    (only if it parses). ``where`` is the position of ``line[0]``. A ``repeat``
    line gives several ops; a blank or comment line gives none.
    """
    bindings = Bindings.from_names(names)
    source = LineSource(line, where.file, where.step,
                        lambda index: (where.line, where.col + index))
    ops = parse_script_line(source, bindings)
    names.update(bindings.kinds)
    return ops


# --- TOML ---------------------------------------------------------------------------------

def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _load_toml(text: str, original: str, filename: str) -> dict[str, Any]:
    """tomllib on ``text``, its errors turned into ScenarioErrors at their place in ``original``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        at = _TOML_AT.search(message)
        if at:
            index = line_starts(text)[int(at.group(1)) - 1] + int(at.group(2)) - 1
            message = message[:at.start()]
        else:  # the end of the document: point at the end of its last line with text
            index = len(original.rstrip())
            message = _TOML_AT_END.sub("", message)
        line, col = _line_col(original, index)
        where = Where(filename, line, col, _step_at_line(original, line))
        raise ScenarioError(f"invalid TOML: {message}", where) from None
    except RecursionError:
        line, col = _line_col(original, _deep_nesting_index(original))
        raise ScenarioError("invalid TOML: arrays or tables nest too deeply",
                            Where(filename, line, col)) from None
    except ValueError:  # an integer beyond Python's digit limit
        digits = re.search(r"[0-9a-fA-F_]{1000,}", original)
        line, col = _line_col(original, digits.start() if digits else 0)
        raise ScenarioError("invalid TOML: a number is too large", Where(filename, line, col)) \
            from None


# Characters no string of a scenario may hold: every control character but tab
# and newline (ESC starts the sequences that clear a screen, set a window title
# or plant a hyperlink; CR overwrites a line), and the bidirectional controls
# that reorder what a terminal shows. Titles, narrative, questions and printed
# text all reach a terminal, a browser or a report.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f"
                               "\u202a-\u202e\u2066-\u2069]")
_SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\r": "\\r", "\x1b": "\\e"}


def _refuse_terminal_controls(data: Any, text: str, filename: str) -> None:
    """Refuse any string value holding a terminal control character, pointing at
    the character itself or at the TOML escape that wrote it."""
    for value in _strings(data):
        found = _TERMINAL_CONTROL.search(value)
        if found is None:
            continue
        ch = found.group()
        spellings = [ch, f"\\u{ord(ch):04x}", f"\\U{ord(ch):08x}"]
        if ch in _SHORT_ESCAPES:
            spellings.append(_SHORT_ESCAPES[ch])
        at = re.search("|".join(re.escape(x) for x in spellings), text, re.IGNORECASE)
        line, col = _line_col(text, at.start()) if at else (1, 1)
        raise ScenarioError(f"a string holds the control character U+{ord(ch):04X}; only "
                            "printable text, tabs and newlines are allowed (a terminal "
                            "would act on it)", Where(filename, line, col,
                                                      _step_at_line(text, line)))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _step_at_line(text: str, line: int) -> int | None:
    """Which [[step]] a line falls in (a guess from the headers, for syntax errors)."""
    headers = 0
    for content in text.split("\n")[:line]:
        if re.match(r"\s*\[\[\s*step\s*\]\]", content):
            headers += 1
    return headers or None


def _deep_nesting_index(text: str) -> int:
    depth = 0
    for index, ch in enumerate(text):
        depth += ch in "[{"
        depth -= ch in "]}"
        if depth > 100:
            return index
    return 0


def _shifted(locate_char: Callable[[int], tuple[int, int]], offset: int,
             index: int) -> tuple[int, int]:
    """Where character ``index`` of a script line starting at ``offset`` of its string sits."""
    return locate_char(offset + index)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime, date, time)):
        return "a date/time"
    return type(value).__name__


# --- the document -------------------------------------------------------------------------

class _Document:
    """Checks the TOML data against §1 and builds the Scenario, one step at a time."""

    def __init__(self, filename: str, data: dict[str, Any], located: Located) -> None:
        self.file = filename
        self.data = data
        self.located = located
        self.bindings: Bindings | None = None
        self._snapshot: dict[str, NameKind] = {}

    # -- positions and errors --------------------------------------------------------------
    def where(self, pos: Pos, step: int | None = None) -> Where:
        return Where(self.file, pos.line, pos.col, step)

    def fail_key(self, path: Path, message: str, step: int | None = None) -> NoReturn:
        raise ScenarioError(message, self.where(self.located.key(path), step))

    def fail_value(self, path: Path, message: str, step: int | None = None) -> NoReturn:
        raise ScenarioError(message, self.where(self.located.value(path), step))

    def check_keys(self, table: dict[str, Any], path: Path, allowed: tuple[str, ...],
                   what: str, step: int | None = None) -> None:
        for key in table:
            if key not in allowed:
                self.fail_key(path + (key,), f"unknown key '{key}' in {what}; expected one of: "
                                             f"{', '.join(allowed)}", step)

    def typed(self, table: dict[str, Any], path: Path, key: str, kind: type, what: str,
              step: int | None = None) -> Any:
        """``table[key]`` if present and of ``kind`` (None if absent)."""
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail_value(path + (key,), f"'{key}' must be {what}, got {_describe(value)}",
                            step)
        return value

    def string_list(self, table: dict[str, Any], path: Path, key: str,
                    step: int | None = None) -> list[str] | None:
        value = self.typed(table, path, key, list, "an array of strings", step)
        if value is None:
            return None
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail_value(path + (key, index), f"'{key}' must hold only strings, got "
                                                     f"{_describe(item)}", step)
        return value

    def required(self, table: dict[str, Any], path: Path, key: str, what: str,
                 step: int | None = None) -> str:
        value = self.typed(table, path, key, str, what, step)
        if value is None:
            at = self.located.value(path) if path else Pos(1, 1)
            raise ScenarioError(f"missing required key '{key}' ({what})", self.where(at, step))
        if not value.strip():
            self.fail_value(path + (key,), f"'{key}' must not be empty", step)
        return value

    # -- scenario --------------------------------------------------------------------------
    def scenario(self) -> Scenario:
        data = self.data
        self.check_keys(data, (), _TOP_KEYS, "the scenario")
        ident = self.required(data, (), "id", "a string of [a-z0-9-]+")
        if not _ID.fullmatch(ident):
            self.fail_value(("id",), f"'id' must match [a-z0-9-]+, got {ident!r}")
        title = self.required(data, (), "title", "a string")
        summary = self.required(data, (), "summary", "a string")
        tags = self.string_list(data, (), "tags") or []
        builds_on = self.string_list(data, (), "builds_on") or []
        for index, lesson in enumerate(builds_on):
            if not _ID.fullmatch(lesson):
                self.fail_value(("builds_on", index),
                                f"'builds_on' names lessons by id ([a-z0-9-]+), got {lesson!r}")
        real = self.typed(data, (), "real", bool, "true or false")
        real = True if real is None else real
        first = self.typed(data, (), "first", str, "a process name")
        first = "parent" if first is None else first
        problem = check_name_syntax(first)
        if problem:
            self.fail_value(("first",), f"'first': {problem}")
        self.bindings = Bindings.start(first)
        steps = self.steps(real)
        every_op = [op for step in steps for op in step.ops]
        check_paths(every_op)
        check_frees(every_op)
        check_counts(every_op)
        return Scenario(id=ident, title=title, summary=summary, path=self.file,
                        steps=tuple(steps), tags=tuple(tags), builds_on=tuple(builds_on),
                        real=real, first=first,
                        names=dict(self.bindings.kinds))

    def steps(self, real: bool) -> list[Step]:
        if "step" not in self.data:
            raise ScenarioError("a scenario needs at least one [[step]]", Where(self.file, 1, 1))
        tables = self.data["step"]
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            self.fail_value(("step",), f"'step' must be an array of tables ([[step]]), got "
                                       f"{_describe(tables)}")
        if not tables:
            self.fail_value(("step",), "a scenario needs at least one [[step]]")
        steps, problems = [], []
        for index, table in enumerate(tables):
            try:
                steps.append(self.step(index, table, real))
            except ScenarioError as err:
                problems.extend(err.errors if isinstance(err, ScenarioErrors) else [err])
        if problems:  # each step's own errors; later steps may repeat an earlier one's
            raise ScenarioErrors(problems)
        return steps

    def step(self, index: int, table: dict[str, Any], file_real: bool) -> Step:
        number = index + 1
        path: Path = ("step", index)
        self.check_keys(table, path, _STEP_KEYS, f"step {number}", number)
        say = self.typed(table, path, "say", str, "a string", number)
        note = self.typed(table, path, "note", str, "a string", number)
        real = self.typed(table, path, "real", bool, "true or false", number)
        real = file_real if real is None else real
        script = self.typed(table, path, "do", str, "a string of script lines", number)
        expect = self.string_list(table, path, "expect", number) or []
        asks = self.typed(table, path, "ask", list, "an array of inline tables", number) or []
        ops = self.ops(script, path + ("do",), number) if script is not None else []
        if real:
            for op in ops:
                if verb_of(op).sim_only:
                    raise ScenarioError(f"{op.verb} is a what-if API the kernel does not have: "
                                        "set real = false on this step (or the file)", op.where)
        names = self.names_now()
        checked = self.each(
            [partial(self.expression, text, path + ("expect", n), number, names)
             for n, text in enumerate(expect)]
            + [partial(self.question, entry, path + ("ask", n), number, names)
               for n, entry in enumerate(asks)])
        exprs, questions = checked[:len(expect)], checked[len(expect):]
        return Step(index=number, where=self.where(self.located.value(path), number), say=say,
                    ops=tuple(ops), expect=exprs, ask=questions, real=real, note=note)

    @staticmethod
    def each(checks: list[Callable[[], Any]]) -> tuple[Any, ...]:
        """What every check gives; the errors of all of them, not only the first."""
        items, problems = [], []
        for check in checks:
            try:
                items.append(check())
            except ScenarioError as err:
                problems.append(err)
        if problems:
            raise ScenarioErrors(problems)
        return tuple(items)

    def names_now(self) -> dict[str, NameKind]:
        """A snapshot of the names bound so far (names only grow, so it is reused until then)."""
        assert self.bindings is not None
        if len(self._snapshot) != len(self.bindings.kinds):
            self._snapshot = dict(self.bindings.kinds)
        return self._snapshot

    def ops(self, script: str, path: Path, step: int) -> list[Op]:
        assert self.bindings is not None
        locate_char = self.char_locator(path, script)
        ops: list[Op] = []
        offset = 0
        for line in script.split("\n"):
            source = LineSource(line, self.file, step, partial(_shifted, locate_char, offset))
            ops.extend(parse_script_line(source, self.bindings))
            offset += len(line) + 1
        return ops

    def char_locator(self, path: Path, value: str) -> Callable[[int], tuple[int, int]]:
        """Where the n-th character of a string value sits in the file."""
        found = self.located.strings.get(path)
        if found is not None and found[0] == value:
            string_map, pos = found[1], self.located.pos

            def exact(n: int) -> tuple[int, int]:
                at = pos(string_map.index(n))
                return at.line, at.col

            return exact
        # The scanner did not follow this string: count from its opening quote.
        base = self.located.value(path)
        starts = [0] + [n + 1 for n, ch in enumerate(value) if ch == "\n"]

        def approximate(n: int) -> tuple[int, int]:
            line = sum(1 for s in starts if s <= n) - 1
            col = (base.col + 1 if line == 0 else 1) + n - starts[line]
            return base.line + line, col

        return approximate

    def expression(self, text: str, path: Path, step: int, names: dict[str, NameKind]) -> Expr:
        line, col = self.char_locator(path, text)(0)
        return expr.check(text, Where(self.file, line, col, step), names)

    def question(self, entry: Any, path: Path, step: int,
                 names: dict[str, NameKind]) -> Question:
        if not isinstance(entry, dict):
            self.fail_value(path, f"each ask entry must be an inline table like "
                                  f'{{ q = "...", a = "..." }}, got {_describe(entry)}', step)
        self.check_keys(entry, path, _ASK_KEYS, "an ask entry", step)
        q = self.required(entry, path, "q", "the question, a string", step)
        a = self.required(entry, path, "a", "the answer, an expression string", step)
        choices = self.string_list(entry, path, "choices", step) or []
        hint = self.typed(entry, path, "hint", str, "a string", step)
        answer = self.expression(a, path + ("a",), step, names)
        return Question(q=q, answer=answer, choices=tuple(choices), hint=hint)
