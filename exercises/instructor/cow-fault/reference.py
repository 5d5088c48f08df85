"""The reference handler (instructors only: keep it out of the students' repository)."""
from cow_harness import COPY, REUSE, WriteFault


def handle_write_fault(fault: WriteFault) -> str:
    if fault.shared:
        return REUSE  # MAP_SHARED: every writer writes the one page
    if not fault.anon:
        return COPY  # a private write must never reach the file's page cache
    return REUSE if fault.mapcount == 1 else COPY  # nobody else maps it: keep it
