"""Whatever the input, the parser answers with a Scenario or a ScenarioError that has a place."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forklab.scenario.model import Scenario, ScenarioError, Where
from forklab.scenario.parse import parse_file, parse_line, parse_text
from forklab.scenario.verbs import VERBS as REGISTRY

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_outcome(text: str, produce) -> None:
    """``produce()`` returns a sound Scenario or raises a ScenarioError placed inside ``text``."""
    try:
        result = produce()
    except ScenarioError as err:
        assert isinstance(err.where, Where), err
        assert err.where.line >= 1 and err.where.col >= 1, err
        assert err.where.line <= text.count("\n") + 1, err
        assert err.message and str(err)
        return
    assert isinstance(result, Scenario)
    file_lines = text.removeprefix("\ufeff").split("\n")
    lines = len(file_lines)
    for op in result.ops:
        assert 1 <= op.where.line <= lines and op.where.col >= 1
        # an op's position is where its actor is written in the file
        assert file_lines[op.where.line - 1][op.where.col - 1:].startswith(op.actor.process)
    for step in result.steps:
        for expr in (*step.expect, *(q.answer for q in step.ask)):
            assert 1 <= expr.where.line <= lines


# --- random text --------------------------------------------------------------------------

@FUZZ
@given(st.text())
def test_random_text(text: str) -> None:
    check_outcome(text, lambda: parse_text(text))


TOML_ALPHABET = st.sampled_from(list("[]{}=\"'#,.\n \t\\abcdestpqx019_-:/>") +
                                ['"""', "'''", "[[step]]\n", "do = ", "\\u00e9", "\r\n"])


@FUZZ
@given(st.lists(TOML_ALPHABET, max_size=80).map("".join))
def test_random_toml_punctuation(text: str) -> None:
    check_outcome(text, lambda: parse_text(text))


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_in_a_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_bytes(data)
        check_outcome(data.decode("utf-8", "replace"), lambda: parse_file(path))


# --- TOML-shaped documents ----------------------------------------------------------------

NAMES = ["parent", "child", "c", "t1", "heap", "r", "w", "m", "a", "tpl", "b", "k_1", "max"]
WORDS = NAMES + [
    "->", ",", "=", ":", "4p", "16MiB", "0x10", "5000", "12q", "99999999999999999999999999",
    "heap[0:4p]", "heap[7p]", "heap[1MiB:2MiB]", "heap[0:100]", "heap[:]", "heap[", '"txt\\n"',
    '"unterminated', "SIGINT", "INT", "SIGSTOP", "SIGSEGV", "catch", "ignore", "default",
    "probe", "missing", "/bin/sleep", "/bin/cat", "/bin/sh", "1", "11", "data.txt", "../x",
    "a//b", "/dev/null", "/etc/passwd", "close=3", "dup2=w:1", "open=3:f", "sigmask=INT+TERM",
    "setsid", "inherit=0+1", "inherit=", "vm,vfork", "vm", "none", "cloexec", "on", "off",
    "10ms", "0.5s", "11s", "anon", "file=x", "shared", "ro", "thp", "#", "# comment", "é", "\t",
]
VERBS = sorted(REGISTRY) + ["frok", "repeat", ""]
RARE = st.integers(0, 19).map(lambda n: n == 19)  # true about one time in twenty
PLAIN_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=4)

# Valid lines (with PRELUDE bound), which the fuzzer mutates.
PRELUDE = ("parent: mmap heap 16p\nparent: pipe -> r, w\nparent: fork -> child\n"
           "parent: fork -> c\nparent: thread -> t1\nparent: malloc 64 -> a\n"
           "parent: spawn_template probe -> tpl\nparent: pidfd_empty -> b\nparent: lock m\n")
CORPUS = [
    "parent: mmap x 4p file=d.txt shared ro thp noreserve", "parent: munmap heap",
    "parent: write heap[0:4p] = 0x5a", "parent: read heap[7p]", "parent: madvise heap dontfork",
    "parent: mprotect heap ro", "parent: fork -> x", "parent: vfork -> x",
    "parent: clone vm, vfork -> x", "parent: spawn /bin/sleep 1 close=3 dup2=w:1 setsid -> x",
    "child: exec probe", "child: exit 3", "child: _exit", "parent: wait child",
    "parent: kill child SIGTERM", "parent: thread -> x", "parent/t1: exit",
    "parent: open data.txt wo cloexec -> x", "parent: pipe cloexec -> x, y",
    "parent: dup w cloexec -> x", "parent: dup2 w 1", "parent: close w",
    "parent: cloexec r on", "parent: close_range 3 max cloexec", 'parent: writefd w "hi\\n"',
    "parent: readfd r", 'parent: printf "x"', "parent: fflush", "parent: setvbuf line",
    "parent/t1: lock m", "parent: unlock m", "parent: atfork m", "parent: malloc 4K -> x",
    "parent: free a", "parent: signal SIGINT catch", "parent: block INT",
    "parent: raise SIGUSR1", "parent: sleep 10ms", "repeat 3: parent: fork -> x",
    "parent: spawn_from tpl -> x", "parent: configure b chdir=sub",
    "parent: pidfd_exec b probe -> x", "parent: create_process probe inherit=0+w -> x",
]


@st.composite
def mutated_lines(draw) -> str:
    """A valid line, sometimes with a token dropped, replaced, duplicated or inserted."""
    tokens = draw(st.sampled_from(CORPUS)).split(" ")
    for _ in range(draw(st.integers(0, 2))):
        n = draw(st.integers(0, len(tokens)))
        how = draw(st.sampled_from(["drop", "replace", "insert", "duplicate", "glue"]))
        word = draw(st.one_of(st.sampled_from(WORDS), PLAIN_TEXT))
        if how == "drop" and n < len(tokens) and len(tokens) > 1:
            del tokens[n]
        elif how == "replace" and n < len(tokens):
            tokens[n] = word
        elif how == "duplicate" and n < len(tokens):
            tokens.insert(n, tokens[n])
        elif how == "glue" and n + 1 < len(tokens):
            tokens[n:n + 2] = [tokens[n] + tokens[n + 1]]
        else:
            tokens.insert(n, word)
    return " ".join(tokens)


@st.composite
def random_lines(draw) -> str:
    actor = draw(st.sampled_from(NAMES + ["parent/t1", "c/t1", "", "parent/", "Parent"]))
    verb = draw(st.sampled_from(VERBS))
    words = draw(st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=4)), max_size=6))
    line = f"{actor}: {verb} {' '.join(words)}"
    prefix = draw(st.sampled_from(["", "", "", "repeat 3: ", "repeat 0: ", "repeat 300: ",
                                   "repeat 2: repeat 2: ", "  "]))
    return prefix + line


def script_lines() -> st.SearchStrategy[str]:
    return st.one_of(mutated_lines(), mutated_lines(), random_lines())


def basic(value: str) -> str:
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@st.composite
def toml_strings(draw, content) -> str:
    """A TOML string holding ``content`` in one of the four styles (or, rarely, broken)."""
    value = draw(content)
    style = draw(st.sampled_from(["basic", "literal", "ml_basic", "ml_literal", "raw"]))
    if style == "literal" and "'" not in value and not any(ord(c) < 32 for c in value):
        return f"'{value}'"
    if style == "ml_basic":
        body = basic(value)[1:-1].replace("\\u000a", "\n")
        return f'"""\n{body}"""'
    if style == "ml_literal" and "'''" not in value and not any(
            ord(c) < 32 and c not in "\n\t" for c in value) and not value.endswith("'"):
        return f"'''\n{value}'''"
    if style == "raw" and draw(RARE):
        return value  # not quoted at all: a TOML error somewhere
    return basic(value)


SCRIPTS = st.lists(script_lines(), max_size=4).map("\n".join)
EXPRS = st.one_of(st.sampled_from([
    "parent.threads == 1", "parent.threads == 1", "parent.state == 'running'",
    "parent.threads == 1", "child.heap.present", "len(parent.fds) == 3", "parent.__class__",
    "lambda: 1", "(", "stdout == ''", "c.state in ['running']", "ghost.state", "1 +",
]), st.text(max_size=20))


@st.composite
def values(draw) -> str:
    return draw(st.one_of(
        toml_strings(st.text(max_size=10)), st.sampled_from(["true", "false", "1", "1.5",
                                                             "1979-05-27", "[]", "{}", "['a']",
                                                             "[1, 'a']", "inf"])))


@st.composite
def ask_entries(draw) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append("q = " + draw(toml_strings(st.text(max_size=10))))
    if draw(st.integers(0, 5)):
        parts.append("a = " + draw(toml_strings(EXPRS)))
    if draw(st.booleans()):
        parts.append("choices = ['1', '2']")
    if draw(st.booleans()):
        parts.append("hint = " + draw(toml_strings(st.text(max_size=10))))
    if draw(RARE):
        parts.append("bogus = 1")
    sep = draw(st.sampled_from([", ", ",\n    "]))
    trail = draw(st.sampled_from(["", "", "", ",", ", # c\n"])) if parts else ""
    return "{ " + sep.join(parts) + trail + " }"


@st.composite
def steps(draw) -> str:
    lines = []
    if draw(st.integers(0, 5)):
        lines.append("do = " + draw(toml_strings(SCRIPTS)))
    if draw(st.booleans()):
        lines.append("say = " + draw(toml_strings(st.text(max_size=20))))
    if draw(st.booleans()):
        exprs = draw(st.lists(toml_strings(EXPRS), max_size=3))
        lines.append("expect = [" + ", ".join(exprs) + "]")
    if draw(st.booleans()):
        asks = draw(st.lists(ask_entries(), max_size=2))
        lines.append("ask = [\n  " + ",\n  ".join(asks) + "\n]")
    if draw(st.booleans()):
        lines.append("real = " + ("'yes'" if draw(RARE) else "false"))
    if draw(RARE):
        lines.append(draw(st.sampled_from(["note = 1", "doo = 'x'", "x = = 1", "[step.sub]"])))
    return "[[step]]\n" + "\n".join(lines) + "\n"


@st.composite
def documents(draw) -> str:
    head = []
    for key, good in [("id", '"fuzz-1"'), ("title", '"T"'), ("summary", '"S"')]:
        if draw(RARE):
            continue  # missing
        head.append(f"{key} = " + (draw(values()) if draw(RARE) else good))
    if draw(st.booleans()):
        head.append("tags = " + ("[1]" if draw(RARE) else "['a', 'b']"))
    if draw(st.booleans()):
        head.append("real = " + ("0" if draw(RARE) else "false"))
    if draw(st.booleans()):
        head.append("first = " + ('"P"' if draw(RARE) else '"parent"'))
    body = draw(st.lists(steps(), min_size=0 if draw(RARE) else 1, max_size=4))
    text = "\n".join(head) + "\n" + "\n".join(body)
    if draw(RARE):
        text = text.replace("\n", "\r\n")
    return text


@FUZZ
@given(documents())
def test_random_toml_documents(text: str) -> None:
    check_outcome(text, lambda: parse_text(text, "fuzz.toml"))


@FUZZ
@given(SCRIPTS)
def test_random_scripts_in_a_valid_file(script: str) -> None:
    text = ('id = "f"\ntitle = "T"\nsummary = "S"\nreal = false\n[[step]]\ndo = '
            + basic(PRELUDE + script) + "\n")
    check_outcome(text, lambda: parse_text(text))


@FUZZ
@given(script_lines(), st.dictionaries(st.sampled_from(NAMES), st.sampled_from(
    ["process", "thread", "mapping", "fd", "lock", "allocation", "template", "blank"])))
def test_random_lines_in_a_sandbox(line: str, names: dict) -> None:
    before = dict(names)
    try:
        got = parse_line(line, names, Where("<sandbox>", 4, 2))
    except ScenarioError as err:
        assert err.where is not None and err.where.line == 4 and err.where.col >= 2
        assert names == before
        return
    for op in got:
        assert op.where.line == 4
        assert all(name in names for name in op.binds)
