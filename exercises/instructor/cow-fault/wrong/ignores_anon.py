"""A wrong handler (a test fixture) that forgets the page cache: it copies only
when another page-table entry maps the frame. A private file page mapped by this
process alone is then written in place, and the write reaches the file."""
from cow_harness import COPY, REUSE, WriteFault


def handle_write_fault(fault: WriteFault) -> str:
    if fault.shared:
        return REUSE
    return COPY if fault.mapcount > 1 else REUSE
