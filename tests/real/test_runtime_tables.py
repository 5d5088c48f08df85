"""forklab's own page tables: vm_pte is VmPTE less the runtime's share, so every
probe must hold exactly the runtime tables its share says, in every layout
the kernel's ASLR picks.

The probe is a PIE: the kernel loads it (and its brk heap) at 2/3 of the
address space plus up to 1 TiB, inside the address range of the scenario
region. warm_up once skipped everything in that range, so a fork child never
touched the probe's own read-only pages; fork copies no table of a mapping
without an anon_vma, and when a 2 MiB piece held nothing but such pages of
the probe (about one layout in a hundred) the child had one table fewer than
the share it inherited: vm_pte == -4.
"""
from __future__ import annotations

import os
import struct

from realkit import observations, run_with

PTE_SPAN = 2 << 20


def _vm_pte_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmPTE:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmPTE for {pid}")


def _runtime_pieces(pid: int, scenario: list[tuple[int, int]]) -> list[tuple[int, str]]:
    """(address, maps line) for the first byte of every 2 MiB piece of every
    readable mapping that is not the scenario's: what warm_up touches."""
    pieces = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if fields[1][0] != "r" or "[vvar" in line or "[vsyscall]" in line:
                continue
            if any(a <= lo < b for a, b in scenario):
                continue
            a = lo
            while a < hi:
                pieces.append((a, line.strip()))
                a = (a & ~(PTE_SPAN - 1)) + PTE_SPAN
    return pieces


def _present(pid: int, address: int) -> bool:
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    try:
        (entry,) = struct.unpack("<Q", os.pread(fd, 8, 8 * (address // 4096)))
    finally:
        os.close(fd)
    return bool(entry >> 63 & 1)


def _scenario_ranges(run) -> list[tuple[int, int]]:
    return [(a, a + run.sizes[name]) for name, a in run.addresses.items()]


def _probes(run) -> list:
    return [p for p in run.driver.procs.values() if not p.dead and p.image == "probe"]


def test_a_fork_child_warms_every_runtime_mapping_including_the_probe_itself():
    """Deterministic: warm_up reads the first byte of every 2 MiB piece of every
    readable runtime mapping — the probe's own image and heap included, though
    they lie in the scenario region's address range — and never a scenario
    mapping's. In a fork child nothing else reads the probe's ELF header page,
    so its presence shows that the child's warm_up covered the probe's image."""
    script = ("parent: mmap a 8MiB\nparent: malloc 64KiB -> h\nparent: fork -> c\n"
              "parent: spawn probe -> s\ns: mmap b 4MiB\ns: fork -> sc")
    for run, w in run_with(script):
        scenario = _scenario_ranges(run)
        probe_image = 0
        for proc in _probes(run):
            pieces = _runtime_pieces(proc.pid, scenario)
            missing = [line for a, line in pieces if not _present(proc.pid, a)]
            assert not missing, (proc.name, missing)
            probe_image += sum("forklab-probe" in line for _, line in pieces)
        assert probe_image  # the probe's own image was among the pieces checked
        for name in ("parent", "c"):
            assert w.processes[name].mappings["a"].present == 0
        for name in ("s", "sc"):
            assert w.processes[name].mappings["b"].present == 0


def test_every_probe_holds_exactly_its_runtime_tables_in_many_layouts():
    """Many fresh layouts (every spawned probe is placed at random): in each
    probe and fork child, vm_pte is 0, and touching every runtime piece again
    (through /proc/PID/mem) allocates no table — the runtime's tables are
    complete, so none can appear after the baseline nor be missing from a
    child's inherited share. The old warm_up failed in about one probe in
    three hundred: this test caught it in 18 runs of 20."""
    layouts = 127  # a scenario makes at most 256 processes: 1 + 2 * 127
    script = "\n".join(f"parent: spawn probe -> s{i}\ns{i}: fork -> c{i}" for i in range(layouts))
    for _ in range(2):
        for run, w in run_with(script, timeout=60):
            wrong = {name: p.vm_pte for name, p in w.processes.items() if p.vm_pte != 0}
            assert not wrong, wrong
            scenario = _scenario_ranges(run)
            for proc in _probes(run):
                before = _vm_pte_kb(proc.pid)
                fd = os.open(f"/proc/{proc.pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    for address, _line in _runtime_pieces(proc.pid, scenario):
                        os.pread(fd, 1, address)
                finally:
                    os.close(fd)
                assert _vm_pte_kb(proc.pid) == before, proc.name


def test_the_first_spawn_with_file_actions_costs_the_parent_nothing():
    """posix_spawn_file_actions_add* malloc (the first malloc makes the heap),
    and the spawn helper's stack is mmap'd: all of it is the runtime's."""
    for script in ("parent: spawn /bin/true open=1:out.txt -> s",
                   "parent: pipe -> r, w\nparent: spawn probe dup2=r:0 close=w closefrom=3 -> p\n"
                   "p: fork -> c",
                   "parent: spawn /bin/true closefrom=3 -> s\nparent: fork -> c"):
        for obs in observations(script):
            for key, value in obs.items():
                if key.endswith(".vm_pte"):
                    assert value == 0, (script, key)
