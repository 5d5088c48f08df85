"""Which verbs the fuzzer's generator writes, for the verb registry's test."""
from __future__ import annotations

from forklab.testing.script_state import ScriptState

_RULE = "_g_"


def generated_verbs() -> frozenset[str]:
    """The verbs the generator has a rule for (``repeat`` is a script form, not a verb)."""
    rules = {name.removeprefix(_RULE) for name in vars(ScriptState) if name.startswith(_RULE)}
    return frozenset(rules - {"repeat"})
