"""A deliberately wrong handler (a test fixture): it never copies.

It is the classic mistake: "the write fault just makes the page writable again".
After fork, the child's first write then lands in the frame the parent still maps.
"""
from cow_harness import REUSE, WriteFault


def handle_write_fault(fault: WriteFault) -> str:
    return REUSE
