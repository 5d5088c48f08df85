"""Where each key and value of a TOML document sits in its text.

tomllib returns plain data with no positions, but a scenario error must point
at the real line and column. :func:`locate` rescans a document tomllib has
already accepted and records, for every value, its path (``("step", 0,
"do")``), where its key is written, where the value starts and, for strings,
where each character of the decoded value came from (escapes, ``\"\"\"``
trimming and line-ending backslashes make these differ from naive offsets).

The scanner only has to be right on valid TOML; on anything it does not
understand it stops and returns what it found so far, and callers fall back
to the nearest enclosing position. It never raises.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

Path = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_WS = re.compile(r"[ \t]*")
_BLANK = re.compile(r"(?:[ \t\n]|#[^\n]*)*")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_MAX_DEPTH = 100
_BASIC_SPECIAL = re.compile(r'["\\]')
_LITERAL_SPECIAL = re.compile("'")
_INLINE_SPECIAL = re.compile("[\"'#{}\n]")


@dataclass(frozen=True)
class Pos:
    """A 1-based line and column (columns count code points)."""

    line: int
    col: int


@dataclass(frozen=True)
class StringMap:
    """Where each character of a decoded string came from, as runs of text indices.

    ``runs`` holds ``(value index, text index)`` at the start of each stretch of
    characters copied one for one; an escape is a run of its own (at its
    backslash). One entry past the end maps to the closing quote.
    """

    value_starts: tuple[int, ...]
    text_starts: tuple[int, ...]

    def index(self, n: int) -> int:
        """The text index of character ``n`` of the value (``len(value)``: the closing quote)."""
        run = max(0, bisect.bisect_right(self.value_starts, n) - 1)
        return self.text_starts[run] + n - self.value_starts[run]


@dataclass
class Located:
    """What :func:`locate` found: positions by value path."""

    line_starts: list[int]
    keys: dict[Path, Pos] = field(default_factory=dict)  # where the key (or header) is written
    values: dict[Path, Pos] = field(default_factory=dict)  # where the value starts
    strings: dict[Path, tuple[str, StringMap]] = field(default_factory=dict)  # decoded, map

    def pos(self, index: int) -> Pos:
        """The line and column of a text index."""
        line = bisect.bisect_right(self.line_starts, index)
        return Pos(line, index - self.line_starts[line - 1] + 1)

    def key(self, path: Path) -> Pos:
        """Where the key of ``path`` is written, else the nearest enclosing position."""
        return self._nearest(path, self.keys, self.values)

    def value(self, path: Path) -> Pos:
        """Where the value of ``path`` starts, else the nearest enclosing position."""
        return self._nearest(path, self.values, self.keys)

    @staticmethod
    def _nearest(path: Path, first: dict[Path, Pos], second: dict[Path, Pos]) -> Pos:
        for end in range(len(path), 0, -1):
            prefix = path[:end]
            if prefix in first:
                return first[prefix]
            if prefix in second:
                return second[prefix]
        return Pos(1, 1)


class _Stop(Exception):
    """The scanner met something it does not handle; keep what was found."""


class _Scanner:
    def __init__(self, text: str, starts: list[int]) -> None:
        self.text = text
        self.i = 0
        self.found = Located(starts)
        self.pos = self.found.pos
        self.aot_index: dict[Path, int] = {}  # array-of-tables path -> current element

    def peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.text[j] if j < len(self.text) else ""

    def startswith(self, s: str) -> bool:
        return self.text.startswith(s, self.i)

    # -- whitespace ------------------------------------------------------------------------
    def skip_ws(self) -> None:
        self.i = _WS.match(self.text, self.i).end()  # type: ignore[union-attr]

    def skip_comment(self) -> None:
        if self.peek() == "#":
            end = self.text.find("\n", self.i)
            self.i = len(self.text) if end < 0 else end

    def skip_blank(self) -> None:
        """Whitespace, newlines and comments (inside arrays and between statements)."""
        self.i = _BLANK.match(self.text, self.i).end()  # type: ignore[union-attr]

    # -- document --------------------------------------------------------------------------
    def document(self) -> None:
        table: Path = ()
        while True:
            self.skip_blank()
            if self.i >= len(self.text):
                return
            if self.peek() == "[":
                table = self.header()
            else:
                self.keyval(table, 0)
            self.skip_ws()
            self.skip_comment()

    def header(self) -> Path:
        start = self.i
        is_array = self.startswith("[[")
        self.i += 2 if is_array else 1
        parts = self.key_parts()
        self.i += 2 if is_array else 1
        if is_array:
            prefix = self.resolve(parts[:-1])
            full = prefix + (parts[-1],)
            index = self.aot_index.get(full, -1) + 1
            self.aot_index[full] = index
            path: Path = full + (index,)
            self.found.keys.setdefault(full, self.pos(start))
        else:
            path = self.resolve(parts)
        self.found.keys.setdefault(path, self.pos(start))
        self.found.values.setdefault(path, self.pos(start))
        return path

    def resolve(self, parts: list[str]) -> Path:
        """A header's keys as a concrete path (array-of-tables keys get their current index)."""
        path: Path = ()
        for part in parts:
            path = path + (part,)
            if path in self.aot_index:
                path = path + (self.aot_index[path],)
        return path

    def key_parts(self) -> list[str]:
        parts: list[str] = []
        self.key_starts: list[int] = []
        while True:
            self.skip_ws()
            self.key_starts.append(self.i)
            ch = self.peek()
            if ch == '"':
                parts.append(self.basic_string()[0])
            elif ch == "'":
                parts.append(self.literal_string()[0])
            else:
                bare = _BARE_KEY.match(self.text, self.i)
                if bare is None:
                    raise _Stop
                parts.append(bare.group())
                self.i = bare.end()
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.i += 1

    def keyval(self, table: Path, depth: int) -> None:
        parts = self.key_parts()
        starts = self.key_starts
        for n in range(len(parts)):
            self.found.keys.setdefault(table + tuple(parts[: n + 1]), self.pos(starts[n]))
        path = table + tuple(parts)
        self.found.keys[path] = self.pos(starts[-1])
        self.skip_ws()
        if self.peek() != "=":
            raise _Stop
        self.i += 1
        self.skip_ws()
        self.value(path, depth)

    # -- values ----------------------------------------------------------------------------
    def value(self, path: Path, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _Stop
        self.found.values[path] = self.pos(self.i)
        ch = self.peek()
        if ch == '"':
            decoded, where = self.basic_string()
            self.found.strings[path] = (decoded, where)
        elif ch == "'":
            decoded, where = self.literal_string()
            self.found.strings[path] = (decoded, where)
        elif ch == "[":
            self.array(path, depth)
        elif ch == "{":
            self.inline_table(path, depth)
        else:
            start = self.i
            while self.peek() and self.peek() not in ",]}\n#":
                self.i += 1
            if self.i == start:
                raise _Stop

    def array(self, path: Path, depth: int) -> None:
        self.i += 1
        index = 0
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.i += 1
                return
            self.value(path + (index,), depth + 1)
            index += 1
            self.skip_blank()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() == "]":
                self.i += 1
                return
            else:
                raise _Stop

    def inline_table(self, path: Path, depth: int) -> None:
        self.i += 1
        self.skip_ws()
        if self.peek() == "}":
            self.i += 1
            return
        while True:
            self.keyval(path, depth + 1)
            self.skip_ws()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() == "}":
                self.i += 1
                return
            else:
                raise _Stop

    # -- strings ---------------------------------------------------------------------------
    def basic_string(self) -> tuple[str, StringMap]:
        return self.string('"')

    def literal_string(self) -> tuple[str, StringMap]:
        return self.string("'")

    def string(self, quote: str) -> tuple[str, StringMap]:
        """A basic (``"``) or literal (``'``) string, one-line or multi-line."""
        text = self.text
        multi = text.startswith(quote * 3, self.i)
        self.i += 3 if multi else 1
        if not multi:  # the common case: a one-line string without escapes
            end = text.find(quote, self.i)
            if end >= 0 and (quote == "'" or text.find("\\", self.i, end) < 0):
                start, self.i = self.i, end + 1
                return text[start:end], StringMap((0, end - start), (start, end))
        if multi and self.peek() == "\n":
            self.i += 1  # the newline right after the opening quotes is trimmed
        special = _BASIC_SPECIAL if quote == '"' else _LITERAL_SPECIAL
        chunks: list[str] = []
        value_starts: list[int] = []
        text_starts: list[int] = []
        length = 0

        def add(chunk: str, at: int) -> None:
            nonlocal length
            chunks.append(chunk)
            value_starts.append(length)
            text_starts.append(at)
            length += len(chunk)

        while True:
            found = special.search(text, self.i)
            if found is None:
                raise _Stop
            j = found.start()
            if j > self.i:
                add(text[self.i:j], self.i)
                self.i = j
            if text[j] == "\\":
                self.escape(multi, add)
                continue
            if not multi:
                break
            run = _run_length(text, j, quote)
            if run < 3:
                add(quote * run, j)
                self.i = j + run
                continue
            extra = min(run - 3, 2)  # up to two quotes may precede the closing three
            if extra:
                add(quote * extra, j)
                self.i = j + extra
            break
        value_starts.append(length)
        text_starts.append(self.i)
        self.i += 3 if multi else 1
        return "".join(chunks), StringMap(tuple(value_starts), tuple(text_starts))

    def escape(self, multi: bool, add: Callable[[str, int], None]) -> None:
        start = self.i
        nxt = self.peek(1)
        if multi and nxt in (" ", "\t", "\n"):
            # a line-ending backslash swallows whitespace up to the next non-blank
            j = self.i + 1
            while j < len(self.text) and self.text[j] in " \t":
                j += 1
            if j >= len(self.text) or self.text[j] != "\n":
                raise _Stop
            while j < len(self.text) and self.text[j] in " \t\n":
                j += 1
            self.i = j
            return
        if nxt in _ESCAPES:
            add(_ESCAPES[nxt], start)
            self.i += 2
        elif nxt in ("u", "U"):
            width = 4 if nxt == "u" else 8
            digits = self.text[self.i + 2:self.i + 2 + width]
            try:
                add(chr(int(digits, 16)), start)
            except ValueError:
                raise _Stop from None
            self.i += 2 + width
        else:
            raise _Stop


def _run_length(text: str, at: int, quote: str) -> int:
    """How many ``quote`` characters follow one another from ``text[at]``."""
    end = at
    while end < len(text) and text[end] == quote:
        end += 1
    return end - at


def locate(text: str, original: str | None = None) -> Located:
    """Positions of the keys and values of ``text``, a document tomllib accepted.

    ``original`` is the text before :func:`join_inline_tables`; positions are
    given in it (the two texts have the same length, character for character).
    """
    scanner = _Scanner(text, line_starts(text if original is None else original))
    try:
        scanner.document()
    except (_Stop, IndexError, ValueError, OverflowError, RecursionError):
        pass
    return scanner.found


def line_starts(text: str) -> list[int]:
    """The index where each line of ``text`` starts."""
    return [0] + [n + 1 for n, ch in enumerate(text) if ch == "\n"]


def join_inline_tables(text: str) -> str:
    """Put each inline table on one line, keeping every character at its index.

    docs/scenario-language.md writes ``ask`` entries as inline tables spread over several
    lines (allowed by TOML 1.1), which tomllib (TOML 1.0) refuses. Inside an
    inline table, outside strings, a newline becomes a space, a comment becomes
    spaces and a trailing comma before ``}`` becomes a space. The result has the
    same length, so an index in it is the same index in ``text``.
    """
    out = list(text)
    depth = 0
    i, n = 0, len(text)
    while True:
        found = _INLINE_SPECIAL.search(text, i)
        if found is None:
            break
        i = found.start()
        ch = text[i]
        if ch in "\"'":
            i = _skip_string(text, i)
            continue
        if ch == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            if depth:
                out[i:end] = " " * (end - i)
            i = end
            continue
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            j = i - 1
            while j >= 0 and out[j] in " \t\n":
                j -= 1
            if j >= 0 and out[j] == ",":
                out[j] = " "
        elif ch == "\n" and depth:
            out[i] = " "
        i += 1
    return "".join(out)


def _skip_string(text: str, i: int) -> int:
    """The index just past the string starting at ``text[i]`` (or where it breaks off)."""
    quote = text[i]
    multi = text.startswith(quote * 3, i)
    j = i + (3 if multi else 1)
    special = re.compile(("[\\\\" if quote == '"' else "[") + quote + ("]" if multi else "\n]"))
    while True:
        found = special.search(text, j)
        if found is None:
            return len(text)
        j = found.start()
        ch = text[j]
        if ch == "\\":
            j += 2
        elif ch == "\n":
            return j  # an unterminated one-line string: let tomllib report it
        elif not multi:
            return j + 1
        elif text.startswith(quote * 3, j):
            return j + min(_run_length(text, j, quote), 5)
        else:
            j += 1
