"""ModelVsKernel: a hypothesis state machine that runs the model and the kernel side by side.

Each rule is one deterministic move (a line, or two: a vfork and its child's
end, a real program and its parent's wait), chosen by
:class:`~forklab.testing.generator.Generator`, which applies it to its own
simulator run as it writes it; the same parsed lines go to a real-kernel run.
After every rule the model's invariants are checked
(:mod:`forklab.testing.invariants`) and both runs' default observations
(docs/scenario-language.md) must be equal. A failure shows the script so far, shrunk,
and every observable that differs with both values.

    from forklab.testing import ModelVsKernel
    TestModelVsKernel = ModelVsKernel.TestCase      # pytest collects it

Subclass it to narrow what it does (``verbs``, ``max_processes``, ``blocking``)
or to use the kernel only when it can (``use_kernel = None``, the default:
when the real backend is available and the plugin's options do not say
``--forklab-sim-only``; ``True``: require it; ``False``: the model alone,
invariants only).
"""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from forklab.observe import default_observations
from forklab.scenario.model import Where
from forklab.scenario.parse import parse_line, parse_text
from forklab.testing.generator import Generator
from forklab.testing.invariants import check_invariants, end_everything, memory_is_empty
from forklab.testing.options import KitOptions, current_options
from forklab.testing.strategies import next_lines

__all__ = ["MAPPING_POOL", "ModelVsKernel"]

MAPPING_POOL = [("m1", 16, "private", "anon"), ("m2", 3, "shared", "anon"),
                ("m3", 64, "private", "file"), ("m4", 520, "private", "anon")]
"""The mappings a machine may make (name, pages, share, backing): a run places every
mapping before its first op, so the set is fixed; which are made, and when, is drawn."""

MACHINE = "<ModelVsKernel>"


def _mmap_line(first: str, spec: tuple[str, int, str, str]) -> str:
    name, pages, share, backing = spec
    back = f"file={name}.bin" if backing == "file" else "anon"
    return f"{first}: mmap {name} {pages}p {back} {share}"


class ModelVsKernel(RuleBasedStateMachine):
    """The model and the kernel, one safe line at a time, compared after each."""

    verbs: frozenset[str] | None = None
    max_processes = 4
    blocking = False
    use_kernel: bool | None = None
    options: KitOptions | None = None  # the plugin's; None: the running session's
    first = "parent"
    mapping_pool = MAPPING_POOL

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, Any] = {self.first: "process"}
        self.script: list[str] = []
        # A scenario that declares the pool: both runs place the mappings from it.
        declared = "\n".join(_mmap_line(self.first, spec) for spec in self.mapping_pool)
        self.declaration = parse_text(
            f'id = "machine"\ntitle = "t"\nsummary = "s"\nfirst = "{self.first}"\n'
            f"[[step]]\ndo = '''\n{declared}\n'''\n", MACHINE)
        self.gen = Generator(first=self.first, verbs=self.verbs,
                             max_processes=self.max_processes, blocking=self.blocking,
                             mapping_pool=list(self.mapping_pool),
                             declaration=self.declaration)
        self.sim = self.gen.run  # the generator's own run: each line is applied as drawn
        self.real: Any = None
        if self._kernel_wanted():
            from forklab.testing.agree import real_backend
            self.real = real_backend().start(self.declaration)

    def _kernel_wanted(self) -> bool:
        from forklab.testing.agree import real_status

        if self.use_kernel is False:
            return False
        if self.use_kernel is None:
            return not (self.options or current_options()).sim_only and real_status()[0]
        return True

    def _script(self) -> str:
        return "\n".join(f"    {line}" for line in self.script) or "    (nothing yet)"

    @rule(data=st.data())
    def line(self, data: st.DataObject) -> None:
        if not self.gen.actors():
            return  # every process has ended or waits forever: nothing more to do
        lines = data.draw(next_lines(self.gen), label="lines")
        for text in lines:
            self.script.append(text)
            for op in parse_line(text, self.names, Where(MACHINE, len(self.script))):
                if self.real is not None:
                    self.real.apply(op)
        try:
            check_invariants(self.sim.kernel)
        except AssertionError as err:
            raise AssertionError(f"a model invariant broke ({err or 'see the traceback'}) "
                                 f"after:\n{self._script()}") from err
        model = default_observations(self.sim.observe())
        if self.real is None:
            return
        kernel = default_observations(self.real.observe())
        self._compare(model, kernel)

    def _compare(self, model: dict[str, Any], kernel: dict[str, Any]) -> None:
        from forklab.report import value_text
        from forklab.verify import ABSENT, compare_value

        differ = []
        for key in dict.fromkeys([*model, *kernel]):
            m, k = model.get(key, ABSENT), kernel.get(key, ABSENT)
            if compare_value(key, m, k) == "disagree":
                differ.append(f"  {key}: model {value_text(m)}, kernel {value_text(k)}")
        if differ:
            raise AssertionError("the model and the kernel disagree after:\n"
                                 f"{self._script()}\n" + "\n".join(differ))

    def teardown(self) -> None:
        try:
            if self.real is not None:
                self.real.close()
        finally:
            end_everything(self.sim.kernel)
            assert memory_is_empty(self.sim.kernel), \
                f"the model leaks memory or fds once every process has ended, after:\n" \
                f"{self._script()}"
