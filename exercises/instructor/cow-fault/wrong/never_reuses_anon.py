"""A wrong handler (a test fixture) that copies every private page, even one
nobody else maps any more: correct memory, but a copy and a fresh frame for
nothing (the kernel reuses it: wp_can_reuse_anon_folio)."""
from cow_harness import COPY, REUSE, WriteFault


def handle_write_fault(fault: WriteFault) -> str:
    return REUSE if fault.shared else COPY
