"""The safe expression language (docs/scenario-language.md, "Expressions"):
checked at load, evaluated per step.

A scenario file is untrusted input, so an expression is never handed to
``eval``/``compile``. :func:`check` parses it with :mod:`ast` and walks the
tree against an explicit allow-list (refusing everything else with the column
of the offending piece, before anything runs); :func:`evaluate` walks the same
tree over a :class:`~forklab.observe.World` snapshot, reading observables and
recording every one it reads so that ``forklab verify`` can compare them.

Decisions of this implementation (stated in the user docs too):

* Size literals (``4KiB``, ``16p``, ``2GiB``, ``0x10p``) are integers in bytes,
  as in scripts. Float literals are allowed (``rel=0.25``, ``spawn_us``
  bounds) but take no unit; complex and bytes literals are refused.
* ``/``, ``**``, ``is``, ``x if c else y``, bitwise operators, unary ``+``,
  dict literals and ``%`` on strings (string formatting) are refused;
  ``%`` and ``//`` are for numbers only. Comparisons may be chained.
* Subscripts are allowed as plain indexing and slicing of values
  (``parent.fds[0]``, ``stdout[-3:]``, ``sorted(x)[1:2]``).
* A ``#`` starts a comment up to the end of the line; an expression may span
  lines (newlines are whitespace). Outside string literals only ASCII is
  accepted (so no look-alike letters pass as names).
* ``P`` in ``P.attr`` and ``Q`` in ``shared_with(Q)`` / ``same_file(FD, Q,
  FD2)`` are written as process names. A bare process name evaluates to its
  name (a string), so ``child in processes`` and ``parent.children ==
  [child]`` work, and is not an error before the process exists; reading an
  observable of it is.
* A name bound by the scenario hides ``stdout``/``processes`` of the same
  name; function names are only functions when called.
* Per process, ``cloexec(FD)``, ``offset(FD)`` and ``pipe_fill(FD)`` of an
  fd the process does not have open are ``None``, ``locks(FD)`` the empty set;
  ``same_file`` with an fd not open on either side is ``False``; ``shared_with(Q)`` is 0 when either
  side lacks the mapping; ``byte(...)`` of a mapping P lacks is ``None``;
  ``committed`` and ``locked`` of a mapping P lacks are 0 (none of these ask
  the backend).
* ``sig_received(SIG)`` takes the signal's full name as a string
  (``P.sig_received("SIGRTMIN+1")``); the other ``sig_*`` values are sets
  (compare with ``{"SIGINT"}``, not a list);
  ``fds``, ``children`` and ``processes`` are lists.
* Bounds: text at most 2000 characters and 300 expression nodes; integers
  within ±2**64; floats finite; a string/list/tuple/set result at most
  1,000,000 elements, and at most 10,000,000 elements built in all, counting
  nested ones (``['a' * 1000000] * 1000000`` is refused before it is built).
* Errors while evaluating are :class:`ScenarioError` at the expression's
  ``where``; the message quotes the failing piece (``1 // 0``). A backend's
  Queries may refuse an argument (an offset past the mapping) by raising
  ScenarioError or ValueError.
"""
from __future__ import annotations

import ast
import bisect
import math
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from forklab.observe import (
    MAPPING_OBSERVABLES,
    PROCESS_OBSERVABLES,
    RUN_OBSERVABLES,
    THREAD_OBSERVABLES,
    UNAVAILABLE,
    MappingObs,
    ProcessObs,
    ThreadObs,
    World,
)
from forklab.scenario.model import Expr, NameKind, ScenarioError, Where, did_you_mean
from forklab.scenario.ops import NAMESPACE_KINDS, RLIMITS
from forklab.scenario.validate import variable_problem
from forklab.vocabulary import SIGNAL_NUMBERS, SIZE_UNITS, parse_size

__all__ = ["INT_LIMIT", "MAX_LEN", "MAX_NODES", "MAX_TEXT", "check", "evaluate"]

MAX_TEXT = 2000
"""Longest expression text accepted, in characters."""
MAX_NODES = 300
"""Most expression nodes (``ast.expr`` instances) in one expression."""
INT_LIMIT = 2**64
"""Integers (literals and results) must lie within ±INT_LIMIT."""
MAX_LEN = 1_000_000
"""Longest string/list/tuple/set an operation may produce."""
MAX_TOTAL = 10_000_000
"""Most elements all the operations of one evaluation may produce together, counted
deeply (a list of strings costs its length plus their characters), so that no
comparison, sort or membership test can take longer than a few passes over it."""
MAX_RUN_TOTAL = 50_000_000
"""Most elements the expressions of one run may produce together (see :class:`Budget`)."""


class Budget:
    """What the expressions of one run may still build, counted as MAX_TOTAL counts
    them: each expression is bounded, and so is a file full of them."""

    def __init__(self, total: int = MAX_RUN_TOTAL) -> None:
        self.total = total
        self.left = total


PROCESS_ATTRS = tuple(o.name for o in PROCESS_OBSERVABLES if o.call is None)
PROCESS_QUERY_ATTRS = frozenset(o.name for o in PROCESS_OBSERVABLES
                                if o.call is None and o.attr is None)
"""Process attributes the backend answers only when read (through World.queries)."""
PROCESS_METHODS = {o.name: o.call for o in PROCESS_OBSERVABLES if o.call is not None}
THREAD_ATTRS = tuple(o.name for o in THREAD_OBSERVABLES if o.call is None)
THREAD_METHODS = {o.name: o.call for o in THREAD_OBSERVABLES if o.call is not None}
MAPPING_ATTRS = tuple(o.name for o in MAPPING_OBSERVABLES if o.call is None)
MAPPING_QUERY_ATTRS = frozenset(o.name for o in MAPPING_OBSERVABLES
                                if o.call is None and o.attr is None)
"""Mapping attributes the backend answers only when read (through World.queries)."""
MAPPING_METHODS = {o.name: o.call for o in MAPPING_OBSERVABLES if o.call is not None}
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    # name: (fewest args, most args or None, how to call it)
    "len": (1, 1, "len(x)"),
    "sorted": (1, 1, "sorted(x)"),
    "set": (0, 1, "set() or set(x)"),
    "min": (1, None, "min(xs) or min(a, b, ...)"),
    "max": (1, None, "max(xs) or max(a, b, ...)"),
    "abs": (1, 1, "abs(x)"),
    "count": (2, 2, "count(text, sub)"),
    "approx": (2, 3, "approx(x, y, rel=0.25)"),
}

_PROCESS_SCHEMA = ", ".join([*PROCESS_ATTRS, *PROCESS_METHODS.values()])
_MAPPING_SCHEMA = ", ".join([*MAPPING_ATTRS, *MAPPING_METHODS.values()])
_FUNCTION_LIST = ", ".join(FUNCTIONS)
_NAME_HINT = ("expected a process, fd or mapping name bound by the scenario, "
              f"stdout, processes, True, False, None, or a function ({_FUNCTION_LIST})")

_DIGITS = frozenset("0123456789")
_STRING_PREFIXES = {"r", "u", "b", "br", "rb", "f", "fr", "rf"}
_NUMBER = re.compile(
    r"""0[xX][0-9a-fA-F_]+ | 0[oO][0-7_]+ | 0[bB][01_]+
      | (?:\d[\d_]*)?\.\d[\d_]*(?:[eE][+-]?\d[\d_]*)?
      | \d[\d_]*\.?(?:[eE][+-]?\d[\d_]*)?""",
    re.VERBOSE | re.ASCII,
)
_OPERATOR_TEXT = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Div: "/", ast.Pow: "**", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}
_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod)
_ALLOWED_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_REFUSED_NODES: dict[type, str] = {
    ast.Dict: "dict literals are not allowed (write set() for an empty set)",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.IfExp: "conditional expressions (x if c else y) are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.Starred: "starred expressions (*x) are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}
_ROLE = "_forklab_role"  # attribute check() sets on nodes for evaluate()


# --------------------------------------------------------------------------
# Positions: the original text, and the rewritten text Python parses.


class _Source:
    """The expression text as written, and how its offsets map to file positions."""

    def __init__(self, text: str, where: Where) -> None:
        self.text = text
        self.where = where
        self.starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def line_col(self, offset: int) -> tuple[int, int]:
        """Absolute character offset -> (1-based line, 0-based column) in the text."""
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line]

    def where_at(self, line: int, col0: int) -> Where:
        """A position in the text -> the position in the file."""
        w = self.where
        if line <= 1:
            return Where(w.file, w.line, w.col + col0, w.step)
        return Where(w.file, w.line + line - 1, col0 + 1, w.step)

    def where_offset(self, offset: int) -> Where:
        return self.where_at(*self.line_col(offset))

    def where_node(self, node: ast.AST) -> Where:
        return self.where_at(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))

    def offset(self, line: int, col0: int) -> int:
        return min(self.starts[min(line, len(self.starts)) - 1] + col0, len(self.text))

    def segment(self, node: ast.AST) -> str:
        """The text a node was written as (positions are remapped by check())."""
        try:
            start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
            end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            return self.text
        return " ".join(self.text[start:end].split()) or self.text


def _fail(src: _Source, message: str, where: Where | None = None) -> ScenarioError:
    return ScenarioError(message, where or src.where)


def _is_ident_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch == "_")


def _is_ident_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _rewrite(src: _Source) -> tuple[str, list[int]]:
    """Size literals -> decimal ints, comments and newlines -> nothing/spaces.

    Returns the text Python will parse and, for each of its characters, the
    offset in the original text it came from (plus a sentinel for the end),
    so that every error still names the column the author wrote.
    """
    text = src.text
    out: list[str] = []
    origin: list[int] = []

    def emit(piece: str, start: int, end: int) -> None:
        for k, ch in enumerate(piece):
            out.append(ch)
            origin.append(min(start + k, end - 1))
        origin[-1] = end - 1  # the piece ends where the original did

    def copy(start: int, end: int) -> None:
        out.extend(text[start:end])
        origin.extend(range(start, end))

    def scan_string(start: int, quote_at: int) -> int:
        q = text[quote_at]
        triple = text.startswith(q * 3, quote_at)
        k = quote_at + (3 if triple else 1)
        while k < len(text):
            ch = text[k]
            if ch == "\\":
                k += 2
                continue
            if triple and text.startswith(q * 3, k):
                return k + 3
            if not triple and ch == q:
                return k + 1
            if not triple and ch == "\n":
                break
            k += 1
        raise _fail(src, "unterminated string: expected a closing " + (q * 3 if triple else q),
                    src.where_offset(start))

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\n\r\t":
            emit(" ", i, i + 1)
            i += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch in "'\"":
            end = scan_string(i, i)
            copy(i, end)
            i = end
        elif ord(ch) > 127:
            raise _fail(src, f"non-ASCII character {ch!r} outside a string: expected names, "
                             "numbers and operators in ASCII", src.where_offset(i))
        elif _is_ident_start(ch):
            j = i + 1
            while j < n and _is_ident_char(text[j]):
                j += 1
            word = text[i:j].lower()
            if j < n and text[j] in "'\"" and word in _STRING_PREFIXES:
                if "f" in word:
                    raise _fail(src, "f-strings are not allowed: expected a plain string literal",
                                src.where_offset(i))
                j = scan_string(i, j)
            copy(i, j)
            i = j
        elif ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUMBER.match(text, i)
            assert m is not None  # a digit always matches
            number = m.group()
            j = m.end()
            while j < n and _is_ident_char(text[j]):
                j += 1
            suffix = text[m.end():j]
            is_int = number[:2].lower() in ("0x", "0o", "0b") or not any(c in number for c in ".eE")
            if not suffix or suffix in ("j", "J"):
                copy(i, j)  # Python reads it (complex is refused later, with its column)
            elif suffix in SIZE_UNITS and is_int:
                try:
                    value = parse_size(text[i:j])
                except ValueError as err:
                    raise _fail(src, f"bad size: {err}", src.where_offset(i)) from None
                emit(str(value), i, j)
            else:
                raise _fail(src, f"bad number {text[i:j]!r}: expected an integer (decimal or "
                                 f"0x hex), optionally with a size unit ({', '.join(SIZE_UNITS)}),"
                                 " or a number without a unit",
                            src.where_offset(i))
            i = j
        else:
            copy(i, i + 1)
            i += 1
    # Leading blanks would be an "unexpected indent" to Python.
    skip = 0
    while skip < len(out) and out[skip] == " ":
        skip += 1
    origin.append(n)
    return "".join(out[skip:]), origin[skip:]


class _Mapper:
    """Positions in the rewritten text (as ast reports them) -> the original text."""

    def __init__(self, rewritten: str, origin: list[int]) -> None:
        self.lines = rewritten.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.origin = origin
        self.size = len(rewritten)

    def _abs(self, lineno: int, char_col: int) -> int:
        lineno = max(1, min(lineno, len(self.lines)))
        return max(0, min(self.starts[lineno - 1] + char_col, self.size))

    def start(self, lineno: int, char_col: int) -> int:
        return self.origin[self._abs(lineno, char_col)]

    def end(self, lineno: int, char_col: int) -> int:
        a = self._abs(lineno, char_col)
        return self.origin[a - 1] + 1 if a > 0 else self.origin[0]

    def char_col(self, lineno: int, byte_col: int) -> int:
        line = self.lines[max(1, min(lineno, len(self.lines))) - 1]
        return len(line.encode("utf-8")[:byte_col].decode("utf-8", "ignore"))


def _remap(tree: ast.AST, mapper: _Mapper, src: _Source) -> None:
    """Rewrite every node's position into original-text (line, character column)."""
    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or node.lineno is None:
            continue
        n: Any = node
        start = mapper.start(n.lineno, mapper.char_col(n.lineno, n.col_offset))
        end = mapper.end(n.end_lineno, mapper.char_col(n.end_lineno, n.end_col_offset))
        n.lineno, n.col_offset = src.line_col(start)
        n.end_lineno, n.end_col_offset = src.line_col(max(end, start))


# --------------------------------------------------------------------------
# check()


def check(text: str, where: Where, names: Mapping[str, NameKind]) -> Expr:
    """Parse and vet one expression at load time, so a bad file never runs half-way.

    ``where`` is the position of the text's first character in the file.
    Raises :class:`ScenarioError` naming the column of the first refused
    piece and what was expected there.
    """
    src = _Source(text, where)
    if len(text) > MAX_TEXT:
        raise _fail(src, f"expression too long: {len(text)} characters, at most {MAX_TEXT}")
    for k, ch in enumerate(text):
        if (ord(ch) < 32 and ch not in "\n\r\t") or ch == "\x7f":
            raise _fail(src, f"control character {ch!r} in expression: expected printable text",
                        src.where_offset(k))
    rewritten, origin = _rewrite(src)
    if not rewritten.strip():
        raise _fail(src, "empty expression: expected something to evaluate, e.g. "
                         "parent.state == \"running\"")
    mapper = _Mapper(rewritten, origin)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(rewritten, mode="eval")
    except SyntaxError as err:
        at, msg = src.where, err.msg
        if err.lineno is not None and err.offset is not None and err.offset >= 1:
            at = src.where_offset(mapper.start(err.lineno, err.offset - 1))
        elif err.lineno is not None:  # offset 0: Python ran out of input
            at = src.where_offset(mapper.end(len(mapper.lines), len(mapper.lines[-1])))
            if msg == "invalid syntax":
                msg = "the expression ends too early"
        raise _fail(src, f"syntax error: {msg}; expected an expression as in "
                         "docs/scenario-language.md", at) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as err:
        raise _fail(src, f"expression cannot be parsed ({type(err).__name__}): "
                         "expected a small expression") from None
    count = sum(1 for node in ast.walk(tree) if isinstance(node, ast.expr))
    if count > MAX_NODES:
        raise _fail(src, f"expression too large: {count} nodes, at most {MAX_NODES}")
    _remap(tree, mapper, src)
    try:
        _Checker(src, names).visit(tree.body)
    except RecursionError:
        raise _fail(src, "expression too deeply nested") from None
    return Expr(text, tree, where)


class _Checker:
    """The allow-list walk: every node type is either vetted here or refused."""

    def __init__(self, src: _Source, names: Mapping[str, NameKind]) -> None:
        self.src = src
        self.names = names

    # positions ---------------------------------------------------------
    def at(self, node: ast.AST) -> Where:
        return self.src.where_node(node)

    def at_attr(self, node: ast.Attribute) -> Where:
        """The column of the attribute name itself (``P.bad`` -> ``bad``)."""
        n: Any = node
        return self.src.where_at(n.end_lineno, max(n.end_col_offset - len(node.attr), 0))

    def at_between(self, left: ast.AST, right: ast.AST) -> Where:
        """The column of an operator: the first non-blank after ``left`` (and its ``)``)."""
        a: Any = left
        b: Any = right
        text = self.src.text
        k = self.src.offset(a.end_lineno, a.end_col_offset)
        stop = self.src.offset(b.lineno, b.col_offset)
        while k < stop and (text[k].isspace() or text[k] == ")"):
            k += 1
        return self.src.where_offset(k if k < stop else self.src.offset(a.lineno, a.col_offset))

    def fail(self, message: str, where: Where) -> ScenarioError:
        return ScenarioError(message, where)

    # the walk ----------------------------------------------------------
    def visit(self, node: ast.AST) -> None:
        method: Callable[[Any], None] | None = getattr(self, "visit_" + type(node).__name__, None)
        if method is not None:
            method(node)
            return
        reason = _REFUSED_NODES.get(type(node), f"{type(node).__name__} is not allowed")
        raise self.fail(f"{reason}: expected literals, names, observables, the operators "
                        "== != < <= > >= in, not in, and, or, not, + - * // % and the "
                        f"functions {_FUNCTION_LIST}", self.at(node))

    def visit_Constant(self, node: ast.Constant) -> None:
        v = node.value
        if v is None or isinstance(v, (bool, str)):
            return
        if isinstance(v, int):
            if abs(v) > INT_LIMIT:
                raise self.fail("integer out of range: expected at most 2**64 in magnitude",
                                self.at(node))
            return
        if isinstance(v, float):
            if not math.isfinite(v):
                raise self.fail("number out of range: expected a finite number", self.at(node))
            return
        kind = {bytes: "bytes literals are", complex: "complex numbers are"}.get(
            type(v), f"{v!r} is")
        raise self.fail(f"{kind} not allowed: expected an int, a string, True, False "
                        "or None", self.at(node))

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        kind = self.names.get(name)
        if kind == "process":
            setattr(node, _ROLE, ("process", name))
        elif kind == "fd":
            setattr(node, _ROLE, ("fd", name))
        elif kind == "mapping":
            raise self.fail(f"{name} is a mapping: expected it after a process, e.g. "
                            f"parent.{name}.present", self.at(node))
        elif kind == "semaphore":
            if getattr(node, _ROLE, None) != ("semaphore", name):
                raise self.fail(f"{name} is a semaphore set: expected it in "
                                f"P.semval({name})", self.at(node))
        elif kind == "thread":
            raise self.fail(f"{name} is a thread: expected one of its observables, e.g. "
                            f"{name}.sig_blocked ({', '.join(THREAD_ATTRS)})", self.at(node))
        elif kind is not None:
            raise self.fail(f"{name} is a {kind}, which has no observables: expected a "
                            "process, fd or mapping name", self.at(node))
        elif name in RUN_OBSERVABLES:
            setattr(node, _ROLE, (name,))
        elif name in FUNCTIONS:
            raise self.fail(f"{name} is a function: expected a call, "
                            f"{FUNCTIONS[name][2]}", self.at(node))
        else:
            raise self.fail(f"unknown name {name!r}: {_NAME_HINT}", self.at(node))

    def semaphore_name(self, node: ast.AST, what: str) -> str:
        """A node that must be written as a name semget bound (S)."""
        if not isinstance(node, ast.Name) or self.names.get(node.id) != "semaphore":
            raise self.fail(f"{what} must be the name of a semaphore set (semget -> S)",
                            self.at(node))
        setattr(node, _ROLE, ("semaphore", node.id))
        return node.id

    def process_name(self, node: ast.AST, what: str) -> str:
        """A node that must be written as a bound process name (P, Q)."""
        if isinstance(node, ast.Name) and self.names.get(node.id) == "process":
            setattr(node, _ROLE, ("process", node.id))
            return node.id
        if isinstance(node, ast.Name):
            self.visit_Name(node)  # unknown or mapping names get their own message
        raise self.fail(f"expected a process name for {what}", self.at(node))

    def mapping_of(self, node: ast.AST) -> tuple[str, str] | None:
        """``P.M`` with P a process and M a bound mapping name, else None."""
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and self.names.get(node.value.id) == "process"
                and self.names.get(node.attr) == "mapping"):
            return node.value.id, node.attr
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("__") and attr.endswith("__"):
            raise self.fail(f"dunder attributes are not allowed ({attr}): expected an "
                            "observable", self.at_attr(node))
        mapping = self.mapping_of(node.value)
        if mapping is not None:
            p, m = mapping
            setattr(node.value.value, _ROLE, ("process", p))  # type: ignore[attr-defined]
            if attr in MAPPING_ATTRS:
                setattr(node, _ROLE, ("mattr", p, m, attr))
                return
            if attr in MAPPING_METHODS:
                raise self.fail(f"{attr} is a method: expected a call, "
                                f"{p}.{m}.{MAPPING_METHODS[attr]}", self.at_attr(node))
            raise self.fail(f"{attr!r} is not an observable of a mapping"
                            f"{did_you_mean(attr, [*MAPPING_ATTRS, *MAPPING_METHODS])}: "
                            f"expected one of {_MAPPING_SCHEMA}", self.at_attr(node))
        base = node.value
        if isinstance(base, ast.Name) and self.names.get(base.id) == "process":
            p = base.id
            setattr(base, _ROLE, ("process", p))
            if attr in PROCESS_ATTRS:
                setattr(node, _ROLE, ("pattr", p, attr))
                return
            if attr in PROCESS_METHODS:
                raise self.fail(f"{attr} is a method: expected a call, "
                                f"{p}.{PROCESS_METHODS[attr]}", self.at_attr(node))
            if self.names.get(attr) == "mapping":
                raise self.fail(f"{p}.{attr} is a mapping: expected one of its observables, "
                                f"e.g. {p}.{attr}.present ({_MAPPING_SCHEMA})",
                                self.at_attr(node))
            if attr in self.names:
                raise self.fail(f"{attr} is a {self.names[attr]}, not a mapping: expected "
                                f"an observable of a process ({_PROCESS_SCHEMA}) or a "
                                "mapping name", self.at_attr(node))
            known = [*PROCESS_ATTRS, *PROCESS_METHODS,
                     *(n for n, kind in self.names.items() if kind == "mapping")]
            raise self.fail(f"{attr!r} is not an observable of a process"
                            f"{did_you_mean(attr, known)}: expected one of "
                            f"{_PROCESS_SCHEMA}, or a mapping name", self.at_attr(node))
        if isinstance(base, ast.Name) and self.names.get(base.id) == "thread":
            if attr not in THREAD_ATTRS:
                raise self.fail(f"{attr!r} is not an observable of a thread"
                                f"{did_you_mean(attr, THREAD_ATTRS)}: expected one of "
                                f"{', '.join(THREAD_ATTRS)}", self.at_attr(node))
            setattr(base, _ROLE, ("thread", base.id))
            setattr(node, _ROLE, ("tattr", base.id, attr))
            return
        self.visit(base)  # a bad base (unknown name, P.nothing) is the first error
        raise self.fail(f"attribute {attr!r} is not allowed: attributes and methods are "
                        "only the observables P.attr and P.MAPPING.attr (no string or "
                        "list methods; use len(...), count(text, sub))", self.at_attr(node))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail("starred arguments (*x) are not allowed", self.at(arg))
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail("**keyword arguments are not allowed", self.at(kw))
            if not (isinstance(func, ast.Name) and func.id == "approx" and kw.arg == "rel"):
                raise self.fail(f"keyword argument {kw.arg}= is not allowed: the only "
                                "keyword is rel= in approx(x, y, rel=0.25)", self.at(kw))
        if isinstance(func, ast.Name):
            self.check_function(node, func)
        elif isinstance(func, ast.Attribute):
            self.check_method(node, func)
        else:
            self.visit(func)  # a lambda, say, is refused as such
            raise self.fail(f"only the functions {_FUNCTION_LIST} and the observable "
                            "methods can be called", self.at(func))
        for arg in node.args:
            self.visit(arg)
        for kw in node.keywords:
            self.visit(kw.value)

    def check_function(self, node: ast.Call, func: ast.Name) -> None:
        name = func.id
        if name not in FUNCTIONS:
            if name in self.names:
                raise self.fail(f"{name} is a {self.names[name]}, not a function: expected "
                                f"one of {_FUNCTION_LIST}", self.at(func))
            raise self.fail(f"unknown function {name!r}: expected one of {_FUNCTION_LIST}",
                            self.at(func))
        low, high, usage = FUNCTIONS[name]
        given = len(node.args) + len(node.keywords)
        if name == "approx" and node.keywords and len(node.args) != 2:
            raise self.fail(f"approx takes x, y and rel: expected {usage}", self.at(node))
        if given < low or (high is not None and given > high):
            raise self.fail(f"wrong number of arguments to {name} ({given}): expected "
                            f"{usage}", self.at(node))
        setattr(func, _ROLE, ("func", name))
        setattr(node, _ROLE, ("func", name))

    def check_method(self, node: ast.Call, func: ast.Attribute) -> None:
        method = func.attr
        mapping = self.mapping_of(func.value)
        if mapping is not None and method in MAPPING_METHODS:
            p, m = mapping
            setattr(func.value.value, _ROLE, ("process", p))  # type: ignore[attr-defined]
            self.arity(node, 1, f"{p}.{m}.{MAPPING_METHODS[method]}")
            if method == "shared_with":
                self.process_name(node.args[0], f"Q in {p}.{m}.shared_with(Q)")
            setattr(node, _ROLE, ("mcall", p, m, method))
            return
        base = func.value
        if (isinstance(base, ast.Name) and self.names.get(base.id) == "process"
                and method in PROCESS_METHODS):
            p = base.id
            setattr(base, _ROLE, ("process", p))
            if method in ("cloexec", "offset", "pipe_fill", "locks"):
                self.arity(node, 1, f"{p}.{PROCESS_METHODS[method]}")
            elif method == "sig_received":
                self.arity(node, 1, f"{p}.sig_received(SIG)")
            elif method == "env":
                self.arity(node, 1, f"{p}.env(NAME)")
            elif method == "rlimit":
                self.arity(node, 1, f"{p}.rlimit(RES)")
            elif method in ("libc_text_same", "libc_relro_same"):
                self.arity(node, 1, f"{p}.{PROCESS_METHODS[method]}")
                self.process_name(node.args[0], f"Q in {p}.{PROCESS_METHODS[method]}")
            elif method == "same_ns":
                self.arity(node, 2, f"{p}.same_ns(KIND, Q)")
                self.process_name(node.args[1], f"Q in {p}.same_ns(KIND, Q)")
            elif method == "semval":
                self.arity(node, 1, f"{p}.semval(S)")
                self.semaphore_name(node.args[0], f"S in {p}.semval(S)")
            else:
                self.arity(node, 3, f"{p}.same_file(FD, Q, FD2)")
                self.process_name(node.args[1], f"Q in {p}.same_file(FD, Q, FD2)")
            setattr(node, _ROLE, ("pcall", p, method))
            return
        if (isinstance(base, ast.Name) and self.names.get(base.id) == "thread"
                and method in THREAD_METHODS):
            t = base.id
            setattr(base, _ROLE, ("thread", t))
            self.arity(node, 2, f"{t}.same_ns(KIND, Q)")
            self.process_name(node.args[1], f"Q in {t}.same_ns(KIND, Q)")
            setattr(node, _ROLE, ("tcall", t, method))
            return
        self.visit_Attribute(func)  # refuses with the attribute's own message, or:
        raise self.fail(f"{func.attr} is not a method: expected one of "
                        f"{', '.join(PROCESS_METHODS.values())} on a process or "
                        f"{', '.join(MAPPING_METHODS.values())} on a mapping",
                        self.at_attr(func))

    def arity(self, node: ast.Call, count: int, usage: str) -> None:
        if len(node.args) != count:
            raise self.fail(f"wrong number of arguments ({len(node.args)}): expected "
                            f"{usage}", self.at(node))

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if not isinstance(node.op, _ALLOWED_BINOPS):
            op = _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)
            hint = {"/": "; use // for whole-number division"}.get(op, "")
            raise self.fail(f"operator {op} is not allowed{hint}: expected + - * // %",
                            self.at_between(node.left, node.right))
        self.visit(node.left)
        self.visit(node.right)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if not isinstance(node.op, (ast.USub, ast.Not)):
            op = {ast.UAdd: "+", ast.Invert: "~"}.get(type(node.op), "?")
            raise self.fail(f"unary {op} is not allowed: expected - or not", self.at(node))
        self.visit(node.operand)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        for value in node.values:
            self.visit(value)

    def visit_Compare(self, node: ast.Compare) -> None:
        left: ast.AST = node.left
        for op, right in zip(node.ops, node.comparators):
            if not isinstance(op, _ALLOWED_CMPOPS):
                text = _OPERATOR_TEXT.get(type(op), type(op).__name__)
                raise self.fail(f"{text} is not allowed: expected == != < <= > >= in or "
                                "not in (write x == None)", self.at_between(left, right))
            left = right
        self.visit(node.left)
        for right in node.comparators:
            self.visit(right)

    def visit_List(self, node: ast.List) -> None:
        for elt in node.elts:
            self.visit(elt)

    visit_Tuple = visit_List
    visit_Set = visit_List

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        index = node.slice
        if isinstance(index, ast.Slice):
            for part in (index.lower, index.upper, index.step):
                if part is not None:
                    self.visit(part)
        else:
            self.visit(index)

    def visit_Slice(self, node: ast.Slice) -> None:
        raise self.fail("a slice is allowed only directly inside [...]: expected x[a:b]",
                        self.at(node))


# --------------------------------------------------------------------------
# evaluate()


class _Unavailable(Exception):
    """An observable read was UNAVAILABLE: the whole value is."""


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    return {bool: "bool", int: "int", float: "number", str: "string", list: "list",
            tuple: "tuple", set: "set", frozenset: "set"}.get(type(value), type(value).__name__)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


_SIZED = (str, list, tuple, set, frozenset)


def _deep_size(value: Any, memo: dict[int, int] | None = None) -> int:
    """Elements of a value, nested strings and containers included (repeats counted).

    A container met again (``[x] * 1000``) is measured once: the cost stays
    linear in the distinct objects, the count reflects every repetition.
    """
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, _SIZED):
        return 1
    memo = {} if memo is None else memo
    key = id(value)
    if key not in memo:
        memo[key] = len(value) + sum(
            _deep_size(item, memo) for item in value if isinstance(item, _SIZED))
    return memo[key]


def _plain(value: Any) -> Any:
    """The comparable, JSON-friendly form of a touched observable."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def evaluate(expr: Expr, world: World, budget: Budget | None = None
             ) -> tuple[Any, dict[str, Any]]:
    """Compute an expression over one snapshot; return its value and what it read.

    ``touched`` maps each observable read to its value, keyed like
    :func:`forklab.observe.default_observations`, so verify can compare the
    backends on exactly what the expression depended on. Any error is a
    :class:`ScenarioError` at ``expr.where``; an UNAVAILABLE read makes the
    whole value UNAVAILABLE.
    """
    ev = _Evaluator(expr, world, budget or Budget())
    try:
        value = ev.eval(expr.tree.body)
    except _Unavailable:
        return UNAVAILABLE, ev.touched
    except ScenarioError:
        raise
    except RecursionError:
        raise ScenarioError("expression too deeply nested", expr.where) from None
    except MemoryError:
        raise ScenarioError("expression too large to evaluate", expr.where) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as err:
        raise ScenarioError(f"cannot evaluate: {err}", expr.where) from None
    return value, ev.touched


class _Evaluator:
    """One evaluation: the snapshot, what has been read, and the size budget left."""

    def __init__(self, expr: Expr, world: World, run_budget: Budget) -> None:
        self.expr = expr
        self.world = world
        self.src = _Source(expr.text, expr.where)
        self.touched: dict[str, Any] = {}
        self.budget = MAX_TOTAL
        self.run_budget = run_budget

    # errors and bounds -------------------------------------------------
    def fail(self, node: ast.AST, message: str) -> ScenarioError:
        snippet = self.src.segment(node)
        where = f" (in `{snippet}`)" if snippet != " ".join(self.expr.text.split()) else ""
        return ScenarioError(f"{message}{where}", self.expr.where)

    def bound(self, node: ast.AST, value: Any) -> Any:
        """Refuse results beyond the size limits (computed values only)."""
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            if abs(value) > INT_LIMIT:
                raise self.fail(node, "integer result out of range (beyond ±2**64)")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(node, "number result out of range (not finite)")
        elif isinstance(value, _SIZED):
            self.charge(node, len(value), _deep_size(value))
        return value

    def charge(self, node: ast.AST, length: int, deep: int) -> None:
        """Account for a result of ``length`` elements (``deep`` counting nested ones)."""
        if length > MAX_LEN:
            raise self.fail(node, f"result too long: {length} elements, at most {MAX_LEN}")
        self.budget -= deep
        if self.budget < 0:
            raise self.fail(node, f"expression builds more than {MAX_TOTAL} elements in all "
                                  "(counting the items of nested strings and lists)")
        self.run_budget.left -= deep
        if self.run_budget.left < 0:
            raise self.fail(node, f"the scenario's expressions build more than "
                                  f"{self.run_budget.total} elements in all")

    # reading observables -----------------------------------------------
    def observe(self, key: str, value: Any) -> Any:
        """Record one observable read; an UNAVAILABLE read ends the evaluation."""
        unavailable = value is UNAVAILABLE or (
            isinstance(value, (tuple, list, set, frozenset))
            and any(v is UNAVAILABLE for v in value))
        self.touched[key] = UNAVAILABLE if unavailable else _plain(value)
        if unavailable:
            raise _Unavailable(key)
        if isinstance(value, (set, frozenset)):
            return set(value)
        if isinstance(value, tuple):
            return list(value)
        return value

    def process(self, name: str) -> ProcessObs:
        proc = self.world.processes.get(name)
        if proc is None:
            raise ScenarioError(f"process {name} does not exist at this step", self.expr.where)
        return proc

    def thread(self, name: str) -> tuple[str, ThreadObs]:
        """The live thread ``name`` and the process it belongs to."""
        for p, proc in self.world.processes.items():
            obs = proc.thread_obs.get(name)
            if obs is not None:
                return p, obs
        raise ScenarioError(f"thread {name} does not exist at this step", self.expr.where)

    def mapping(self, p: str, m: str) -> MappingObs:
        mappings = self.process(p).mappings
        obs: Any = UNAVAILABLE if mappings is UNAVAILABLE else mappings.get(m)
        if obs is UNAVAILABLE:
            self.touched[f"{p}.{m}"] = UNAVAILABLE
            raise _Unavailable(f"{p}.{m}")
        return obs if obs is not None else MappingObs(mapped=False)

    def query(self, node: ast.AST, key: str, ask: Callable[[], Any]) -> Any:
        """Ask the backend an observable with arguments; its refusals are scenario errors."""
        try:
            value = ask()
        except ScenarioError as err:
            raise ScenarioError(f"{key}: {err.message}", err.where or self.expr.where) from None
        except (ValueError, LookupError) as err:
            raise self.fail(node, f"{key}: {err}") from None
        return self.observe(key, value)

    # the walk ----------------------------------------------------------
    def eval(self, node: ast.AST) -> Any:
        method = getattr(self, "eval_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"{type(node).__name__} cannot be evaluated "
                                  "(was the expression checked?)")
        return method(node)

    def eval_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def eval_Name(self, node: ast.Name) -> Any:
        role = getattr(node, _ROLE, None)
        if role is None:
            raise self.fail(node, f"unchecked name {node.id}")
        kind = role[0]
        if kind == "process":
            return node.id
        if kind == "fd":
            number = self.world.fd_names.get(node.id)
            if number is None:
                raise ScenarioError(f"fd {node.id} does not exist at this step",
                                    self.expr.where)
            return number
        if kind == "stdout":
            return self.observe("stdout", self.world.stdout)
        if kind == "processes":
            return self.observe("processes", list(self.world.process_names))
        raise self.fail(node, f"{node.id} is not a value")

    def eval_Attribute(self, node: ast.Attribute) -> Any:
        role = getattr(node, _ROLE, None)
        if role is None:
            raise self.fail(node, f"unchecked attribute {node.attr}")
        if role[0] == "pattr":
            _, p, attr = role
            if attr in PROCESS_QUERY_ATTRS:
                self.process(p)
                return self.query(node, f"{p}.{attr}", lambda: self.world.queries.commit(p))
            return self.observe(f"{p}.{attr}", getattr(self.process(p), attr))
        if role[0] == "tattr":
            _, t, attr = role
            p, obs = self.thread(t)
            return self.observe(f"{p}/{t}.{attr}", getattr(obs, attr))
        _, p, m, attr = role
        if attr in MAPPING_QUERY_ATTRS:
            if not self.observe(f"{p}.{m}.mapped", self.mapping(p, m).mapped):
                return self.observe(f"{p}.{m}.{attr}", 0)
            return self.query(node, f"{p}.{m}.{attr}",
                              lambda: getattr(self.world.queries, attr)(p, m))
        return self.observe(f"{p}.{m}.{attr}", getattr(self.mapping(p, m), attr))

    def eval_Call(self, node: ast.Call) -> Any:
        role = getattr(node, _ROLE, None)
        if role is None:
            raise self.fail(node, "unchecked call")
        if role[0] == "func":
            return self.bound(node, self.call_function(node, role[1]))
        if role[0] == "pcall":
            return self.call_process_method(node, role[1], role[2])
        if role[0] == "tcall":
            p, _ = self.thread(role[1])
            return self.same_ns(node, p, role[1])
        return self.call_mapping_method(node, role[1], role[2], role[3])

    def fd_arg(self, node: ast.AST, what: str) -> int:
        value = self.eval(node)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(node, f"{what} must be an fd number or fd name, got "
                                  f"{_type_name(value)} {value!r}")
        return value

    def call_process_method(self, node: ast.Call, p: str, method: str) -> Any:
        proc = self.process(p)
        if method == "cloexec":
            fd = self.fd_arg(node.args[0], "FD")
            fds = self.observe(f"{p}.fds", proc.fds)
            value = (fd in proc.cloexec_fds) if fd in fds else None
            return self.observe(f"{p}.cloexec({fd})", value)
        if method in ("offset", "pipe_fill", "locks"):
            fd = self.fd_arg(node.args[0], "FD")
            key = f"{p}.{method}({fd})"
            if fd not in self.observe(f"{p}.fds", proc.fds):
                return self.observe(key, frozenset() if method == "locks" else None)
            query = getattr(self.world.queries, method)
            return self.query(node, key, lambda: query(p, fd))
        if method == "sig_received":
            sig = self.eval(node.args[0])
            if sig not in SIGNAL_NUMBERS:
                raise self.fail(node.args[0], f"SIG in {p}.sig_received(SIG) must be a signal "
                                              f"name like 'SIGUSR1', got {_type_name(sig)} "
                                              f"{sig!r}")
            return self.observe(f"{p}.sig_received({sig!r})", proc.sig_received.get(sig, 0))
        if method == "rlimit":
            resource = self.eval(node.args[0])
            if resource not in RLIMITS:
                raise self.fail(node.args[0], f"RES in {p}.rlimit(RES) must be one of "
                                              f"{', '.join(repr(r) for r in RLIMITS)}, got "
                                              f"{_type_name(resource)} {resource!r}")
            return self.query(node, f"{p}.rlimit({resource!r})",
                              lambda: self.world.queries.rlimit(p, resource))
        if method == "env":
            variable = self.eval(node.args[0])
            if not isinstance(variable, str):
                raise self.fail(node.args[0], f"NAME in {p}.env(NAME) must be a variable name "
                                              f"as a string, like 'HOME', got "
                                              f"{_type_name(variable)} {variable!r}")
            problem = variable_problem(variable)
            if problem is not None:
                raise self.fail(node.args[0], f"NAME in {p}.env(NAME): {problem}")
            return self.query(node, f"{p}.env({variable!r})",
                              lambda: self.world.queries.env(p, variable))
        if method in ("libc_text_same", "libc_relro_same"):
            q = node.args[0].id  # type: ignore[attr-defined]
            self.process(q)
            part = method.split("_")[1]
            return self.query(node, f"{p}.{method}({q})",
                              lambda: self.world.queries.libc_same(p, q, part))
        if method == "same_ns":
            return self.same_ns(node, p)
        if method == "semval":
            semaphore = node.args[0].id  # type: ignore[attr-defined]
            return self.query(node, f"{p}.semval({semaphore})",
                              lambda: self.world.queries.semval(p, semaphore))
        fd = self.fd_arg(node.args[0], "FD")
        q = node.args[1].id  # type: ignore[attr-defined]
        other = self.process(q)
        fd2 = self.fd_arg(node.args[2], "FD2")
        key = f"{p}.same_file({fd}, {q}, {fd2})"
        mine = self.observe(f"{p}.fds", proc.fds)
        theirs = self.observe(f"{q}.fds", other.fds)
        if fd not in mine or fd2 not in theirs:
            return self.observe(key, False)
        return self.query(node, key, lambda: self.world.queries.same_file(p, fd, q, fd2))

    def same_ns(self, node: ast.Call, p: str, t: str | None = None) -> Any:
        """P.same_ns(KIND, Q), or T.same_ns(KIND, Q) for P's thread T."""
        who = t or p
        kind = self.eval(node.args[0])
        if kind not in NAMESPACE_KINDS:
            raise self.fail(node.args[0], f"KIND in {who}.same_ns(KIND, Q) must be one of "
                                          f"{', '.join(map(repr, NAMESPACE_KINDS))}, got "
                                          f"{_type_name(kind)} {kind!r}")
        q = node.args[1].id  # type: ignore[attr-defined]
        self.process(q)
        key = f"{p}/{t}" if t else p
        return self.query(node, f"{key}.same_ns({kind!r}, {q})",
                          lambda: self.world.queries.same_ns(p, kind, q, t))

    def call_mapping_method(self, node: ast.Call, p: str, m: str, method: str) -> Any:
        mine = self.mapping(p, m)
        if method == "shared_with":
            q = node.args[0].id  # type: ignore[attr-defined]
            theirs = self.mapping(q, m)
            key = f"{p}.{m}.shared_with({q})"
            if not (self.observe(f"{p}.{m}.mapped", mine.mapped)
                    and self.observe(f"{q}.{m}.mapped", theirs.mapped)):
                return self.observe(key, 0)
            return self.query(node, key, lambda: self.world.queries.shared_with(p, m, q))
        offset = self.eval(node.args[0])
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise self.fail(node.args[0], "OFFSET must be a byte offset (an int ≥ 0, e.g. "
                                          f"7p or 4KiB), got {_type_name(offset)} {offset!r}")
        key = f"{p}.{m}.byte({offset})"
        if not self.observe(f"{p}.{m}.mapped", mine.mapped):
            return self.observe(key, None)
        return self.query(node, key, lambda: self.world.queries.byte(p, m, offset))

    def call_function(self, node: ast.Call, name: str) -> Any:
        args = [self.eval(a) for a in node.args]
        kwargs = {kw.arg: self.eval(kw.value) for kw in node.keywords}
        if name == "len":
            return len(self.collection(node, name, args[0]))
        if name == "sorted":
            items = self.collection(node, name, args[0])
            try:
                return sorted(items)
            except TypeError:
                raise self.fail(node, "sorted needs items of one comparable kind") from None
        if name == "set":
            if not args:
                return set()
            items = self.collection(node, name, args[0])
            try:
                return set(items)
            except TypeError:
                raise self.fail(node, "set items must be numbers, strings, None, "
                                      "True/False or tuples of them") from None
        if name in ("min", "max"):
            items = self.collection(node, name, args[0]) if len(args) == 1 else args
            if not items:
                raise self.fail(node, f"{name} of an empty collection")
            try:
                return min(items) if name == "min" else max(items)
            except TypeError:
                raise self.fail(node, f"{name} needs items of one comparable kind") from None
        if name == "abs":
            if not _is_number(args[0]):
                raise self.fail(node, f"abs needs a number, got {_type_name(args[0])}")
            return abs(args[0])
        if name == "count":
            text, sub = args
            if not isinstance(text, str) or not isinstance(sub, str):
                raise self.fail(node, "count(text, sub) needs two strings, got "
                                      f"{_type_name(text)} and {_type_name(sub)}")
            return text.count(sub)
        # approx
        x, y = args[0], args[1]
        rel = args[2] if len(args) > 2 else kwargs.get("rel", 0.25)
        for label, v in (("x", x), ("y", y), ("rel", rel)):
            if not _is_number(v) or isinstance(v, bool):
                raise self.fail(node, f"approx needs numbers, got {_type_name(v)} for {label}")
        if rel < 0:
            raise self.fail(node, "approx needs rel ≥ 0")
        return abs(x - y) <= rel * max(abs(x), abs(y))

    def collection(self, node: ast.AST, name: str, value: Any) -> Any:
        if not isinstance(value, (str, list, tuple, set, frozenset)):
            raise self.fail(node, f"{name} needs a string, list, tuple or set, got "
                                  f"{_type_name(value)}")
        return value

    def eval_BinOp(self, node: ast.BinOp) -> Any:
        a: Any = self.eval(node.left)
        b: Any = self.eval(node.right)
        op = node.op
        sym = _OPERATOR_TEXT.get(type(op), "?")
        cannot = f"cannot apply {sym} to {_type_name(a)} and {_type_name(b)}"
        seqs = (str, list, tuple)
        if isinstance(op, ast.Add):
            if _is_number(a) and _is_number(b):
                return self.bound(node, a + b)
            if isinstance(a, seqs) and type(a) is type(b):
                self.charge(node, len(a) + len(b), _deep_size(a) + _deep_size(b))
                return a + b  # type: ignore[operator]  # same type, checked above
            raise self.fail(node, cannot)
        if isinstance(op, ast.Sub):
            if _is_number(a) and _is_number(b):
                return self.bound(node, a - b)
            if isinstance(a, (set, frozenset)) and isinstance(b, (set, frozenset)):
                return self.bound(node, set(a - b))
            raise self.fail(node, cannot)
        if isinstance(op, ast.Mult):
            if _is_number(a) and _is_number(b):
                return self.bound(node, a * b)
            seq, n = (a, b) if isinstance(a, seqs) else (b, a)
            if isinstance(seq, seqs) and isinstance(n, int):
                times = max(n, 0)  # checked before building it:
                self.charge(node, len(seq) * times, _deep_size(seq) * times)
                return seq * n
            raise self.fail(node, cannot)
        if isinstance(op, (ast.FloorDiv, ast.Mod)):
            if not (_is_number(a) and _is_number(b)):
                raise self.fail(node, cannot + " (// and % are for numbers)")
            if b == 0:
                raise self.fail(node, "division by zero")
            return self.bound(node, a // b if isinstance(op, ast.FloorDiv) else a % b)
        raise self.fail(node, f"operator {sym} is not allowed")

    def eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.USub) and _is_number(value):
            return self.bound(node, -value)
        raise self.fail(node, f"cannot negate {_type_name(value)}")

    def eval_BoolOp(self, node: ast.BoolOp) -> Any:
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for part in node.values:
            value = self.eval(part)
            if bool(value) != is_and:
                return value
        return value

    def eval_Compare(self, node: ast.Compare) -> Any:
        left = self.eval(node.left)
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp)
            if not self.compare(node, op, left, right):
                return False
            left = right
        return True

    def compare(self, node: ast.AST, op: ast.cmpop, a: Any, b: Any) -> bool:
        sym = _OPERATOR_TEXT.get(type(op), "?")
        if isinstance(op, ast.Eq):
            return bool(a == b)
        if isinstance(op, ast.NotEq):
            return bool(a != b)
        if isinstance(op, (ast.In, ast.NotIn)):
            if isinstance(b, str) and not isinstance(a, str):
                raise self.fail(node, f"cannot test whether {_type_name(a)} is {sym} a "
                                      "string (expected a string on the left)")
            if not isinstance(b, (str, list, tuple, set, frozenset)):
                raise self.fail(node, f"cannot test membership ({sym}) in {_type_name(b)}")
            try:
                found = a in b
            except TypeError:
                raise self.fail(node, f"{_type_name(a)} cannot be {sym} a set") from None
            return found if isinstance(op, ast.In) else not found
        kinds = (_is_number(a) and _is_number(b)) or (
            isinstance(a, (set, frozenset)) and isinstance(b, (set, frozenset))) or (
            isinstance(a, (str, list, tuple)) and type(a) is type(b))
        if not kinds:
            raise self.fail(node, f"cannot compare {_type_name(a)} and {_type_name(b)} "
                                  f"with {sym}")
        try:
            if isinstance(op, ast.Lt):
                return bool(a < b)
            if isinstance(op, ast.LtE):
                return bool(a <= b)
            if isinstance(op, ast.Gt):
                return bool(a > b)
            return bool(a >= b)
        except TypeError:
            raise self.fail(node, f"cannot compare the items of these {_type_name(a)}s "
                                  f"with {sym}") from None

    def eval_List(self, node: ast.List) -> list[Any]:
        return self.bound(node, [self.eval(e) for e in node.elts])

    def eval_Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return self.bound(node, tuple(self.eval(e) for e in node.elts))

    def eval_Set(self, node: ast.Set) -> set[Any]:
        items = [self.eval(e) for e in node.elts]
        try:
            return self.bound(node, set(items))
        except TypeError:
            raise self.fail(node, "set items must be numbers, strings, None, True/False "
                                  "or tuples of them") from None

    def eval_Subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        if not isinstance(value, (str, list, tuple)):
            raise self.fail(node, f"cannot index a {_type_name(value)} (only strings, "
                                  "lists and tuples)")
        index = node.slice
        if isinstance(index, ast.Slice):
            parts = []
            for part in (index.lower, index.upper, index.step):
                v = None if part is None else self.eval(part)
                if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                    raise self.fail(node, f"slice bounds must be ints, got {_type_name(v)}")
                parts.append(v)
            if parts[2] == 0:
                raise self.fail(node, "slice step cannot be zero")
            return self.bound(node, value[slice(*parts)])
        i = self.eval(index)
        if not isinstance(i, int) or isinstance(i, bool):
            raise self.fail(node, f"an index must be an int, got {_type_name(i)}")
        if not -len(value) <= i < len(value):
            raise self.fail(node, f"index {i} out of range for a {_type_name(value)} of "
                                  f"length {len(value)}")
        return value[i]
