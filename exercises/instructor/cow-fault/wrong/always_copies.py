"""A wrong handler (a test fixture) that always copies: safe for private memory,
but a MAP_SHARED page stops being shared, and the last user copies for nothing."""
from cow_harness import COPY, WriteFault


def handle_write_fault(fault: WriteFault) -> str:
    return COPY
