"""A wrong handler (a test fixture) that gets private memory right but treats
MAP_SHARED like private memory: a shared page mapped twice is copied."""
from cow_harness import COPY, REUSE, WriteFault


def handle_write_fault(fault: WriteFault) -> str:
    if not fault.anon and not fault.shared:
        return COPY
    return REUSE if fault.mapcount == 1 else COPY
