"""Your copy-on-write write-fault handler.

The model calls ``handle_write_fault`` whenever a process writes to a page
whose page-table entry is present but write-protected: after fork, after a
read mapped a page-cache page, after mprotect. Decide what the kernel does:

- return ``REUSE`` to make this process's page-table entry writable and keep
  the frame it maps (the write then lands in that frame), or
- return ``COPY`` to give this process a fresh anonymous frame holding a copy
  of the page, and point its entry at the copy (the old frame keeps its other
  users).

``fault`` tells you what you need (see cow_harness.WriteFault):

    fault.process   who wrote ("child")
    fault.mapping   which mapping ("heap"), fault.first_page / fault.pages: which pages
    fault.shared    True for a MAP_SHARED mapping
    fault.anon      True if the frame is anonymous memory, False if it is a page of
                    a file's page cache (or of shared memory)
    fault.mapcount  how many page-table entries (in all processes) map the frame,
                    this process's included

Run the tests: pytest exercises/cow-fault
"""
from cow_harness import COPY, REUSE, WriteFault  # noqa: F401


def handle_write_fault(fault: WriteFault) -> str:
    raise NotImplementedError(
        "handle_write_fault is not written yet: return REUSE or COPY for this fault "
        "(see the docstring at the top of student.py)")
