"""A file held as runs reads back exactly what a plain byte buffer would hold.

The reference is a bytearray of the file's size, changed the obvious way by
each operation; the file under test must agree on its size and every byte
after any sequence of write(2), mapping stores and truncations.
"""
from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from forklab.sim.files import RegularFile
from forklab.vocabulary import PAGE

SPAN = 6 * PAGE  # offsets stay within a few pages, so page edges are crossed often

offsets = st.integers(0, SPAN)
writes = st.tuples(st.just("write"), offsets, st.binary(max_size=PAGE + 10))
stores = st.tuples(st.just("store"), st.integers(0, 6), st.integers(0, 6), st.integers(0, 255))
cuts = st.tuples(st.just("truncate"), offsets)


def _apply_reference(buffer: bytearray, op: tuple) -> None:
    kind = op[0]
    if kind == "write":
        _, at, data = op
        if len(buffer) < at:
            buffer.extend(bytes(at - len(buffer)))
        buffer[at:at + len(data)] = data
    elif kind == "store":  # a mapping stores value into the first byte of each page
        _, lo, hi, value = op
        for page in range(lo, hi):
            if page * PAGE < len(buffer):
                buffer[page * PAGE] = value
    else:
        _, size = op
        del buffer[size:]
        buffer.extend(bytes(size - len(buffer)))


def _apply(file: RegularFile, op: tuple) -> None:
    kind = op[0]
    if kind == "write":
        file.write(op[1], op[2])
    elif kind == "store":
        file.store_heads(op[1], op[2], op[3])
    else:
        file.truncate(op[1])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(writes, stores, cuts), max_size=12), offsets, st.integers(0, SPAN))
def test_file_runs_hold_the_bytes_a_buffer_holds(ops: list[tuple], at: int, count: int) -> None:
    file, buffer = RegularFile("f"), bytearray()
    for op in ops:
        _apply(file, op)
        _apply_reference(buffer, op)
    assert file.size == len(buffer)
    assert file.pages == -(-len(buffer) // PAGE)
    assert bytes(file.byte(i) for i in range(SPAN + 2 * PAGE)) == \
        bytes(buffer) + bytes(SPAN + 2 * PAGE - len(buffer))
    assert file.read(at, count) == bytes(buffer[at:at + count])
    for page in range(file.pages + 2):
        tail = bytes(buffer[page * PAGE + 1:(page + 1) * PAGE])
        expected = page if tail.strip(b"\0") else None
        assert (page if page in file.pages_with_tails(0, page + 1) else None) == expected


def test_a_copy_does_not_change_with_the_original() -> None:
    file = RegularFile("f")
    file.write(0, b"hello")
    kept = copy.deepcopy(file)
    file.write(1, b"ELLO")
    file.store_heads(0, 1, 7)
    assert kept.read(0, 5) == b"hello"
    assert file.read(0, 5) == b"\x07ELLO"


def test_a_terabyte_file_is_a_few_runs() -> None:
    file = RegularFile("f")
    file.truncate(1 << 40)
    file.store_heads(0, (1 << 40) // PAGE, 9)
    file.write(5, b"x")
    assert len(file.heads) <= 3
    assert file.byte(((1 << 40) // PAGE - 1) * PAGE) == 9
    assert file.read(4, 3) == b"\0x\0"
