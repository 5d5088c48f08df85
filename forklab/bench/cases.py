"""What a bench measures: a parent's state (a Case) and a way of creating a child (a method).

A Case is written two ways that must mean the same process: the options of
the C timing program (``forklab-bench``), and a scenario the simulator runs,
so the model predicts the very state the kernel was timed in.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from forklab.scenario.script import MAX_REPEAT
from forklab.vocabulary import PAGE, format_size

METHODS: dict[str, str] = {
    "fork": "fork() in the parent; the child _exits",
    "fork_exec": "fork(), until the child has exec'd /bin/true",
    "vfork": "vfork(), until the child runs",
    "vfork_exec": "vfork(), until the child has exec'd /bin/true",
    "posix_spawn": "posix_spawn() of /bin/true, the whole call",
    "clone_vm_vfork": "clone(CLONE_VM|CLONE_VFORK), until the child runs",
    "zygote": "fork() in a small helper forked before the parent grew",
    "exec": "execve of /bin/true by a fork child, until its old image is gone",
}
"""Every method forklab-bench can time, with what its microseconds mean."""

BENCH_METHODS = ("fork", "fork_exec", "vfork_exec", "posix_spawn", "clone_vm_vfork",
                 "zygote", "exec")
"""The methods `forklab bench` shows by default: the figure of "A fork() in the road"."""


def last_level_cache(sysfs: str = "/sys/devices/system/cpu/cpu0/cache") -> int:
    """Bytes of CPU 0's largest cache (32 MiB where sysfs does not say)."""
    sizes = []
    try:
        for index in os.listdir(sysfs):
            with open(os.path.join(sysfs, index, "size")) as f:
                text = f.read().strip()
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
            sizes.append(int(text.rstrip("KMG")) * scale)
    except (OSError, ValueError):
        return 32 << 20
    return max(sizes, default=32 << 20)


EVICT_BYTES = 2 * last_level_cache()
"""Fresh memory a cold case writes before each call: in forklab-bench's loop the
extra a call pays for cold caches is complete once the last-level cache has been
written (an empty fork 47 us after 1 MiB, 118 after 8, 154 after 32 or 64 MiB of
a 32 MiB cache)."""


@dataclass(frozen=True)
class Case:
    """A parent: SIZE bytes mapped and touched, plus extra mappings, fds and threads."""

    size: int = 0
    touch: str = "write"  # write, read or none
    thp: bool = False
    maps: int = 0  # one-page mappings, each in a region of its own
    maps_touch: str = "none"  # write or none
    fds: int = 0  # open fds besides 0, 1 and 2
    threads: int = 0  # threads besides the main one
    retouch: bool = False  # the memory written again before each call (writable PTEs)
    cold: bool = False  # fresh memory written before each call, outside what it copies

    def __post_init__(self) -> None:
        if self.size % PAGE:
            raise ValueError(f"size {self.size} is not a multiple of {PAGE} bytes")

    @property
    def written_bytes(self) -> int:
        """Memory the case's writes make resident."""
        return (self.size if self.touch == "write" else 0) + (
            self.maps * PAGE if self.maps_touch == "write" else 0)

    def options(self) -> list[str]:
        """forklab-bench's options for this parent."""
        out = ["--size", str(self.size), "--touch", self.touch, "--maps", str(self.maps),
               "--maps-touch", self.maps_touch, "--fds", str(self.fds),
               "--threads", str(self.threads)]
        if self.retouch:
            out.append("--retouch")
        if self.cold:
            out += ["--evict", str(EVICT_BYTES)]
        return out + (["--thp"] if self.thp else [])

    def script(self, actor: str = "parent") -> list[str]:
        """Scenario lines that build this parent in the model (the memory written to
        cool the caches is not part of it: fork leaves it out, and it is gone after
        the call)."""
        lines = []
        if self.size:
            lines.append(f"{actor}: mmap heap {self.size}" + (" thp" if self.thp else ""))
            if self.touch != "none":
                lines.append(f"{actor}: {self.touch} heap")
        for chunk, n in enumerate(_chunks(self.maps)):  # a repeat makes m{chunk}_1 .. _n
            lines.append(f"repeat {n}: {actor}: mmap m{chunk} 1p")
            if self.maps_touch == "write":
                lines.extend(f"{actor}: write m{chunk}_{i}" for i in range(1, n + 1))
        lines.extend(f"repeat {n}: {actor}: open /dev/null -> f{chunk}"
                     for chunk, n in enumerate(_chunks(self.fds)))
        if self.threads:
            lines.append(f"repeat {self.threads}: {actor}: thread -> t")
        return lines

    def label(self) -> str:
        parts = [format_size(self.size) + ("" if self.touch == "write" else f" {self.touch}")]
        if self.thp:
            parts.append("thp")
        if self.maps:
            parts.append(f"{self.maps} maps" + (" written" if self.maps_touch == "write" else ""))
        if self.fds:
            parts.append(f"{self.fds} fds")
        if self.threads:
            parts.append(f"{self.threads} threads")
        if self.retouch:
            parts.append("rewritten")
        if self.cold:
            parts.append("cold caches")
        return ", ".join(parts)


def _chunks(count: int) -> list[int]:
    """count as repeat counts a scenario accepts (at most MAX_REPEAT each)."""
    return [min(MAX_REPEAT, count - done) for done in range(0, count, MAX_REPEAT)]
