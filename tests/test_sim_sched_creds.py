"""The model's scheduling, prctl and credential rules, for root and for another user,
whoever runs the tests: each kernel is given the machine it models.

Expected values are the kernel's, as tests/kernel_facts/proc_sched_prctl.c and
proc_creds.c printed them (as root, and after giving up root).
"""
from __future__ import annotations

from dataclasses import replace

import pytest
from scenario_text import scenario_text

from forklab.observe import ProcessObs
from forklab.scenario.parse import parse_text
from forklab.sim.creds import Creds, exec_creds, exec_dumpable
from forklab.sim.kernel import Kernel
from forklab.sim.sched_prctl import Machine, TaskAttrs
from forklab.sim.snapshot import snapshot
from forklab.vocabulary import CAPABILITIES

ALL = frozenset(CAPABILITIES)
ROOT = Creds(effective=ALL, permitted=ALL, bounding=ALL)
NOBODY = Creds((65534,) * 3, (65534,) * 3, bounding=ALL)


def machine(creds: Creds, rlimit_nice: int = 0, cpus: frozenset[int] = frozenset({0, 1}),
            suid_dumpable: int = 0) -> Machine:
    return Machine(TaskAttrs(cpus=frozenset({min(cpus)})), creds, 1, cpus, rlimit_nice,
                   suid_dumpable)


def kernel_after(script: str, on: Machine) -> Kernel:
    sc = parse_text(scenario_text(script, real="create_process" not in script))
    kernel = Kernel(sc, machine=on)
    for op in sc.ops:
        kernel.apply(op)
    return kernel


def run(script: str, on: Machine) -> dict[str, ProcessObs]:
    return dict(snapshot(kernel_after(script, on)).processes)


@pytest.mark.parametrize("creds, rlimit_nice, wanted, errno", [
    (ROOT, 0, -5, None),
    (NOBODY, 0, 3, "EACCES"),  # unpriv.lower_nice: no lowering with RLIMIT_NICE 0
    (NOBODY, 25, -5, None),  # 20 - (-5) = 25 is within RLIMIT_NICE
    (replace(ROOT, effective=ALL - {"CAP_SYS_NICE"}), 0, 3, "EACCES"),
])
def test_lowering_nice_needs_cap_sys_nice_or_rlimit_nice(
        creds: Creds, rlimit_nice: int, wanted: int, errno: str | None) -> None:
    p = run("parent: nice 3\nparent: nice -5", machine(creds, rlimit_nice))["parent"]
    assert (p.nice, p.errno) == (wanted, errno)


def test_another_user_cannot_leave_idle_nor_clear_reset_on_fork() -> None:
    """unpriv.idle_to_other, unpriv.idle_to_batch, unpriv.clear_reset: EPERM."""
    p = run("parent: sched other resetonfork\nparent: sched other", machine(NOBODY))["parent"]
    assert p.errno == "EPERM"
    p = run("parent: sched idle\nparent: sched batch", machine(NOBODY))["parent"]
    assert (p.sched, p.errno) == ("idle", "EPERM")
    p = run("parent: sched idle\nparent: sched batch", machine(ROOT))["parent"]
    assert (p.sched, p.errno) == ("batch", None)


def test_reset_on_fork_resets_a_negative_nice_and_itself_not_the_policy() -> None:
    """reset.child and reset.thread: nice 0, SCHED_BATCH kept, the flag off."""
    kernel = kernel_after("parent: nice -3\nparent: sched batch resetonfork\n"
                          "parent: fork -> child\nparent: thread -> t", machine(ROOT))
    seen = snapshot(kernel).processes
    assert (seen["child"].nice, seen["child"].sched) == (0, "batch")
    assert seen["parent"].nice == -3
    for task in (kernel.processes["child"].main, kernel.processes["parent"].threads["t"]):
        assert (task.attrs.nice, task.attrs.reset_on_fork) == (0, False)


def test_timer_slack_zero_returns_to_what_the_creator_had_at_the_fork() -> None:
    """fork.child_slack0: 123000, the parent's current slack when it forked."""
    seen = run("parent: timerslack 123000\nparent: fork -> child\nparent: timerslack 5000\n"
               "child: timerslack 7000\nchild: timerslack 0", machine(ROOT))
    assert seen["child"].timer_slack == 123000 and seen["parent"].timer_slack == 5000


def test_affinity_keeps_the_allowed_cpus_asked_for() -> None:
    seen = run("parent: affinity 1,5\nparent: fork -> child\nchild: affinity 7",
               machine(ROOT, cpus=frozenset({0, 1, 2})))
    assert seen["parent"].cpus == (1,)
    assert (seen["child"].cpus, seen["child"].errno) == ((1,), "EINVAL")


def test_comm_is_cut_to_fifteen_bytes_and_exec_renames() -> None:
    seen = run("parent: comm a-name-longer-than-15\nparent: fork -> child\n"
               "child: exec /bin/sleep 1", machine(ROOT))
    assert seen["parent"].comm == "a-name-longer-t" and seen["child"].comm == "sleep"


def test_another_user_may_only_take_ids_it_has() -> None:
    """unpriv.setresuid_root, unpriv.setresgid_root, unpriv.setgroups: EPERM; a process
    may drop what it has (unpriv.capdrop), not touch its bounding set (unpriv.bounding)."""
    for line in ("setresuid 0 0 0", "setresgid 0 0 65534", "setgroups 65534",
                 "capdrop CAP_CHOWN bounding"):
        p = run(f"parent: {line}", machine(NOBODY))["parent"]
        assert p.errno == "EPERM", line
    p = run("parent: capdrop CAP_CHOWN", machine(NOBODY))["parent"]
    assert p.errno is None and p.uids == (65534,) * 3


def test_setresuid_reaches_every_thread_capdrop_only_the_caller() -> None:
    """thread.parent_after: the thread's setresuid changed the main thread's ids, its
    capset did not change the main thread's capabilities."""
    kernel = kernel_after("parent: thread -> t\nparent/t: capdrop CAP_MKNOD\n"
                          "parent/t: setresuid 0 0 65534", machine(ROOT))
    main, thread = kernel.processes["parent"].main, kernel.processes["parent"].threads["t"]
    assert main.creds.uids == thread.creds.uids == (0, 0, 65534)
    assert "CAP_MKNOD" in main.creds.effective and "CAP_MKNOD" not in thread.creds.effective


def test_exec_by_root_gives_the_bounding_set_and_copies_effective_to_saved() -> None:
    """bounding.exec, root_gain.exec; saved = effective after exec."""
    seen = run("parent: setresuid 0 0 65534\nparent: capdrop CAP_CHOWN\n"
               "parent: capdrop CAP_MKNOD bounding\nparent: fork -> child\n"
               "child: exec probe", machine(ROOT))
    child = seen["child"]
    assert child.uids == (0, 0, 0)
    assert child.caps == ALL - {"CAP_MKNOD"}
    assert child.dumpable == 0  # CAP_CHOWN gained: not dumpable
    plain = run("parent: exec probe", machine(ROOT))["parent"]
    assert plain.dumpable == 1


def test_exec_rules_with_ids_a_scenario_cannot_take() -> None:
    """spawn.child and nnp.exec: the model's exec rule holds beyond what the language lets
    a scenario reach (a real uid of 65534)."""
    dropped = ALL - {"CAP_CHOWN"}
    parent = Creds((65534, 0, 65534), (65534, 0, 65534), (65534,), dropped, dropped,
                   bounding=ALL)
    image = exec_creds(parent, no_new_privs=False)
    assert (image.uids, image.gids, image.effective) == ((65534, 0, 0), (65534, 0, 0), ALL)
    assert exec_dumpable(parent, image, 0) == 0  # real and effective differ
    jailed = exec_creds(parent, no_new_privs=True)
    assert (jailed.uids, jailed.gids) == ((65534,) * 3, (65534,) * 3)
    assert jailed.permitted == jailed.effective == dropped


def test_no_new_privs_exec_keeps_a_dropped_capability_dropped() -> None:
    """nnp_root.exec."""
    root = run("parent: capdrop CAP_CHOWN\nparent: no_new_privs\nparent: exec probe",
               machine(ROOT))["parent"]
    assert root.uids == (0, 0, 0) and "CAP_CHOWN" not in root.caps and root.dumpable == 1


def test_what_if_creators_start_fresh_but_keep_no_new_privs_and_credentials() -> None:
    """The designs' default (docs/scenario-language.md, "Designs Linux does not ship")."""
    seen = run("parent: nice 5\nparent: comm maker\nparent: no_new_privs\n"
               "parent: setgroups 65534\n"
               "parent: create_process probe inherit=0+1+2 -> made", machine(ROOT))
    made = seen["made"]
    assert (made.nice, made.comm, made.no_new_privs) == (0, "forklab-probe", True)
    assert made.groups == (65534,)  # the maker's
