"""forklab fuzz: random scenarios on the model and on the kernel, disagreements shrunk.

The scenarios come from :func:`forklab.testing.strategies.generate` (valid and
deterministic on the kernel by construction, with expectations whose values
the model computed), its choices drawn from a seeded random stream and kept
(:class:`~forklab.testing.choices.Recorded`): the generator drives the model in
step as it writes them, so that run *is* the model's run of the scenario, and only the kernel
runs it again. Each is then compared as ``verify_scenario`` compares. A scenario on
which the two backends differ is a *finding*; its **signature** is what
differs first: the observable's kind and both values (``errno: model
"EINVAL", kernel None``), or a language error that only one side raised. Each
new signature is shrunk by its choices (:mod:`forklab.testing.shrink`), then
line by line, to a small scenario with the same signature, and written as a
scenario file; a signature seen before is only counted. A valid scenario never
makes either backend raise: a traceback is a finding too, an error of that
backend reading ``traceback: ...`` (one of the model while the generator
drives it is written as the traceback itself, there being no scenario yet).

Reproducible: the same ``seed`` gives the same scenarios (the kernel willing),
whatever ``jobs``: the work is split into :data:`STREAMS` seeded streams,
which ``jobs`` worker processes share out; progress goes to ``progress``
(stderr in the CLI).
"""
from __future__ import annotations

import functools
import multiprocessing
import os
import queue as queue_mod
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_OUT = "forklab-fuzz-out"
SHRINK_CALLS = 300  # kernel runs one shrink may spend, at most
SHRINK_SECONDS = 20.0  # and wall time
TRIM_CALLS = 200  # kernel runs the line-by-line pass after it may spend
MAX_TRIES_PER_SCENARIO = 20  # choice streams per scenario before the fuzz gives up
STREAMS = 8
"""Seeded streams a run's scenarios are split into, however many jobs run them."""
STRATEGY = dict(max_processes=4, max_steps=3, max_ops=8, blocking=True, sim_only=True)
"""What ``forklab fuzz`` generates (see forklab.testing.scenarios)."""

Signature = tuple[str, ...]


@dataclass
class Finding:
    signature: Signature
    text: str  # the shrunk scenario file
    detail: str  # verify's report of it, without colour
    found_after: int  # scenarios its stream had run when it first saw the signature
    seen: int = 1  # scenarios with this signature
    file: str | None = None
    reproduced: bool | None = None


@dataclass
class FuzzReport:
    n: int
    seed: int
    jobs: int
    ran: int = 0
    agree: int = 0
    unavailable: int = 0  # agreed wherever the kernel could show the observable
    findings: list[Finding] = field(default_factory=list)
    elapsed: float = 0.0
    shrink_seconds: float = 0.0
    interrupted: bool = False
    coverage: Counter[str] = field(default_factory=Counter)  # verb, verb:option, .observable

    @property
    def disagreements(self) -> int:
        return sum(f.seen for f in self.findings)

    @property
    def rate(self) -> float:
        return self.ran / self.elapsed if self.elapsed else 0.0


# --- what a verdict says -------------------------------------------------------------------

_NAME_QUOTED = re.compile(r"'[a-z_][a-z0-9_/]*'")


def _kind(key: str) -> str:
    """``parent.m1.present`` -> ``present``; ``c1.cloexec(3)`` -> ``cloexec``."""
    last = key.split("(")[0].rsplit(".", 1)[-1]
    return last


def signature(verdict: Any) -> Signature | None:
    """What the first difference is, without names or lines; None if they agree."""
    from forklab.report import value_text

    if verdict.error is not None:
        backend, err = verdict.error
        message = _NAME_QUOTED.sub("'…'", err.message)
        message = re.sub(r"line \d+", "line …", message)
        return (f"error on the {'model' if backend == 'sim' else 'kernel'}", message)
    if verdict.disagreements:
        first = min(verdict.disagreements, key=lambda c: (c.step, c.line))
        return (_kind(first.key), value_text(first.model, 60), value_text(first.kernel, 60))
    if verdict.failed:
        u = verdict.failed[0]
        return ("expectation failed on the " + ("model" if u.backend == "sim" else "kernel"),
                _NAME_QUOTED.sub("'…'", re.sub(r"[a-z_][a-z0-9_]*\.", "P.", u.judged.text)))
    return None


def same_bug(a: Signature | None, b: Signature | None) -> bool:
    """Whether two signatures are one bug: the same error, or the same observable
    with the same value on one side (``errno`` "EINVAL" on the model whatever
    the kernel's stale errno; ``state`` "zombie" on the kernel whatever the model says)."""
    if a is None or b is None or a[0] != b[0]:
        return False
    if len(a) == 3 and len(b) == 3:
        return a[1] == b[1] or a[2] == b[2]
    return a == b


def describe(sig: Signature) -> str:
    if sig[0].startswith(("error", "expectation")):
        return f"{sig[0]}: {sig[1]}"
    return f"{sig[0]}: model {sig[1]}, kernel {sig[2]}"


def _slug(sig: Signature) -> str:
    text = "-".join(sig)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "finding"


# --- no traceback -------------------------------------------------------------------------------

TRACEBACK = "traceback: "
"""How a backend's traceback reads as its error: a valid scenario never makes one."""


class _Guarded:
    """A backend whose traceback on a scenario becomes that scenario's error, a
    language error whose message starts with TRACEBACK: the fuzz then reports it
    as a finding of that backend, shrunk and written as a disagreement is."""

    def __init__(self, backend: Any) -> None:
        self.backend, self.name, self.capabilities = backend, backend.name, backend.capabilities

    def start(self, scenario: Any) -> _GuardedRun:
        return _GuardedRun(_no_traceback(lambda: self.backend.start(scenario), None))


class _GuardedRun:
    def __init__(self, run: Any) -> None:
        self.run = run

    def apply(self, op: Any) -> None:
        _no_traceback(lambda: self.run.apply(op), op.where)

    def observe(self) -> Any:
        return _no_traceback(self.run.observe, None)

    def close(self) -> None:
        self.run.close()

    def __enter__(self) -> _GuardedRun:
        self.run.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.run.__exit__(*exc)


def _no_traceback(call: Callable[[], Any], where: Any) -> Any:
    from forklab.scenario.model import ScenarioError

    try:
        return call()
    except (ScenarioError, KeyboardInterrupt):
        raise
    except Exception as err:
        raise ScenarioError(f"{TRACEBACK}{type(err).__name__}: {err}", where) from err


# --- one worker -----------------------------------------------------------------------------

class _Worker:
    """One seeded stream: generate, verify, and shrink each new signature."""

    def __init__(self, n: int, seed: int, strategy: dict[str, Any],
                 emit: Callable[[str, Any], None], real: Any = None) -> None:
        from forklab.sim import SimBackend

        self.n, self.seed, self.strategy, self.emit = n, seed, strategy, emit
        self.sim = _Guarded(SimBackend())
        if real is None:
            from forklab.real import RealBackend
            real = RealBackend()
        self.real = _Guarded(real)
        self.ran = self.agree = self.unavailable = 0
        self.known: list[Signature] = []
        self.memo: dict[str, Signature | None] = {}
        self.model_ok: dict[str, bool] = {}  # the model ran it and its expectations held
        self.details: dict[str, str] = {}
        self.partly_unavailable: set[str] = set()  # agreed where the kernel could show
        self.last_emit = 0.0
        self.coverage: Counter[str] = Counter()

    def verify_generated(self, generated: Any) -> Signature | None:
        """A generated scenario: the generator's own model run against a kernel run.

        Only a scenario that shows a difference goes through :meth:`verify` (a model
        run from its text, which the shrinking compares against) as well.
        """
        from forklab.observe import default_observations
        from forklab.runner import ScenarioResult, StepResult, judge
        from forklab.scenario.parse import parse_text
        from forklab.verify import TIMING_RUNS, compare, run_guarded, timing_only

        text = generated.text
        scenario = parse_text(text, "<fuzz>")
        steps = [StepResult(step, g.world,
                            [judge(e, g.world, is_expectation=True) for e in step.expect], [],
                            default_observations(g.world))
                 for step, g in zip(scenario.steps, generated.steps)]
        model = ScenarioResult(scenario, "sim", steps)
        verdict = compare(model, run_guarded(self.real, scenario), "<fuzz>")
        for _ in range(TIMING_RUNS - 1):
            if not timing_only(verdict):
                break
            verdict = compare(model, run_guarded(self.real, scenario), "<fuzz>")
        if signature(verdict) is None:
            if verdict.status == "unavailable":
                self.partly_unavailable.add(text)
            return None
        return self.verify(text)

    def verify(self, text: str) -> Signature | None:
        from forklab.report import Style
        from forklab.scenario.model import ScenarioError
        from forklab.scenario.parse import parse_text
        from forklab.verify import render_text, verify_scenario

        if text in self.memo:
            return self.memo[text]
        try:
            scenario = parse_text(text, "<fuzz>")
        except ScenarioError as err:  # a trimmed script that lost a name it needs
            self.memo[text], self.model_ok[text] = ("not a valid scenario", err.message), False
            return self.memo[text]
        verdict = verify_scenario(scenario, "<fuzz>", self.sim, self.real)
        sig = signature(verdict)
        self.memo[text] = sig
        self.model_ok[text] = (verdict.sim.error is None
                               and not any(u.backend == "sim" for u in verdict.failed))
        if sig is not None:
            self.details[text] = render_text([verdict], Style(False))
        elif verdict.status == "unavailable":
            self.partly_unavailable.add(text)
        if len(self.memo) > 5000:  # keep the memo for the shrinking it serves, not forever
            self.memo.clear()
            self.model_ok.clear()
            self.partly_unavailable.clear()
        return sig

    def run(self) -> None:
        from forklab.testing.choices import MoveRefused, Recorded
        from forklab.testing.strategies import generate

        made_at = 0  # choice streams tried: a stream whose move the model refuses is skipped
        while self.ran < self.n and made_at < MAX_TRIES_PER_SCENARIO * self.n:
            choices = Recorded(rng=random.Random(self.seed * 1_000_003 + made_at))
            made_at += 1
            try:
                made = generate(choices, **self.strategy)
            except MoveRefused:
                continue
            except Exception as err:  # the model's traceback while the generator drove it
                self._model_traceback(err)
                continue
            self.ran += 1
            self._count(made)
            sig = self.verify_generated(made)
            if sig is None:
                self.agree += 1
                self.unavailable += made.text in self.partly_unavailable
            elif any(same_bug(sig, k) for k in self.known):
                self.emit("seen", sig)
            else:
                self.known.append(sig)
                self._shrink(choices.made, made.text, sig)
            self._progress()
        self._progress(force=True)

    def _model_traceback(self, err: Exception) -> None:
        import traceback

        sig = ("error on the model", f"{TRACEBACK}{type(err).__name__}: {err}")
        if not any(same_bug(sig, k) for k in self.known):
            self.known.append(sig)
            self.emit("finding", Finding(sig, "", "".join(traceback.format_exception(err)),
                                         self.ran))

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_emit > 1.0:
            self.last_emit = now
            self.emit("progress", (self.ran, self.agree, self.unavailable))
        if force:
            self.emit("coverage", self.coverage)

    def _count(self, generated: Any) -> None:
        self.coverage.update(generated.coverage)
        for step in generated.steps:
            for expect in step.expect:
                self.coverage["." + _kind(expect.partition(" == ")[0])] += 1

    def _shrink(self, choices: list[int], text: str, sig: Signature) -> None:
        """The smallest scenario the generator makes again from fewer or smaller
        choices that still shows ``sig``, trimmed line by line; emitted as a finding."""
        from forklab.testing.choices import Recorded
        from forklab.testing.shrink import shrink
        from forklab.testing.strategies import generate

        start, found_after = time.monotonic(), self.ran
        best = [text]
        kernel_runs = [0]

        def spent() -> bool:
            return kernel_runs[0] >= SHRINK_CALLS or \
                time.monotonic() - start > SHRINK_SECONDS

        def still_shows(candidate: list[int]) -> list[int] | None:
            replay = Recorded(prefix=candidate)
            try:
                cand = generate(replay, **self.strategy).text
            except Exception:  # refused, or a model traceback: another finding, not this one
                return None
            kernel_runs[0] += cand not in self.memo
            if not same_bug(self.verify(cand), sig):
                return None
            if len(cand) < len(best[0]):
                best[0] = cand
            return replay.made

        shrink(choices, still_shows, spent)
        found = self._trim(best[0], sig)
        detail = self.details.get(found) or self.details.get(text, "")
        self.emit("finding", Finding(sig, found, detail, found_after))
        self.emit("shrink", time.monotonic() - start)

    def _trim(self, text: str, target: Signature) -> str:
        """After the choices: drop whole lines, expectations and steps while the same bug
        still shows and the model still runs the scenario with its expectations held.

        A line whose choices could not go without changing the lines after it goes here.
        """
        import tomllib

        from forklab.testing.strategies import scenario_toml

        steps = [(str(step.get("do", "")).splitlines(), list(step.get("expect", [])),
                  bool(step.get("real", True)))
                 for step in tomllib.loads(text)["step"]]
        budget = [TRIM_CALLS]

        def shows(candidate: list[tuple[list[str], list[str], bool]]) -> bool:
            if budget[0] <= 0 or not any(lines for lines, _, _ in candidate):
                return False
            budget[0] -= 1
            cand = scenario_toml(candidate, "generated", "parent")
            return same_bug(self.verify(cand), target) and self.model_ok.get(cand, False)

        def variants(current: list[tuple[list[str], list[str], bool]]) -> Any:
            if any(expect for _, expect, _ in current):
                yield [(lines, [], real) for lines, _, real in current]
            for i in reversed(range(len(current))):
                if len(current) > 1:
                    yield current[:i] + current[i + 1:]
                lines, expect, real = current[i]
                for j in reversed(range(len(expect))):
                    yield current[:i] + [(lines, expect[:j] + expect[j + 1:], real)] \
                        + current[i + 1:]
                for j in reversed(range(len(lines))):
                    yield current[:i] + [(lines[:j] + lines[j + 1:], expect, real)] \
                        + current[i + 1:]

        changed = True
        while changed and budget[0] > 0:
            changed = False
            for candidate in variants(steps):
                if shows(candidate):
                    steps, changed = candidate, True
                    break
        trimmed = scenario_toml(steps, "generated", "parent")
        if trimmed != text:
            self.details.setdefault(trimmed, self.details.get(text, ""))
        return trimmed


def _put(out: Any, stream: int, kind: str, value: Any) -> None:
    out.put((stream, kind, value))


def _worker_main(streams: list[tuple[int, int, int]], strategy: dict[str, Any], out: Any,
                 cpu: int | None) -> None:
    """Run each (stream, share, seed) in turn; every message goes out tagged with its
    stream, and the job's end (done or crash) last."""
    if cpu is not None:
        # the probe pins every process of a run to the first CPU it may use: one CPU per
        # worker keeps two workers' scenario processes off each other's CPU
        os.sched_setaffinity(0, {cpu})
    try:
        for stream, share, stream_seed in streams:
            _Worker(share, stream_seed, strategy, functools.partial(_put, out, stream)).run()
        out.put((-1, "done", None))
    except KeyboardInterrupt:
        out.put((-1, "done", None))
    except BaseException as err:  # reported by the parent, which exits 2
        import traceback
        out.put((-1, "crash", "".join(traceback.format_exception(err))))


# --- the whole run -----------------------------------------------------------------------------

def fuzz(n: int, seed: int, out: Path, *, jobs: int = 1,
         strategy: dict[str, Any] | None = None,
         progress: Callable[[str], None] | None = None, real: Any = None) -> FuzzReport:
    """Run ``n`` generated scenarios on both backends over ``jobs`` workers, which
    share out the :data:`STREAMS` seeded streams.

    Each new signature's shrunk scenario is written into ``out`` (created if
    needed) as ``NN-<signature>.toml``. The caller checks the real backend first.
    ``real`` replaces the kernel backend (one job only: tests use a fake one).
    """
    if real is not None and jobs != 1:
        raise ValueError("a replacement real backend works with jobs=1 only")
    strategy = dict(STRATEGY if strategy is None else strategy)
    streams = [(k, n // STREAMS + (1 if k < n % STREAMS else 0), seed * 7919 + k)
               for k in range(STREAMS)]
    streams = [stream for stream in streams if stream[1] > 0]
    jobs = max(1, min(jobs, len(streams)))
    report = FuzzReport(n, seed, jobs)
    say = progress or (lambda _msg: None)
    start = time.monotonic()
    by_sig: dict[Signature, Finding] = {}
    counts = {k: (0, 0, 0) for k, _, _ in streams}
    crashes: list[str] = []

    def handle(stream: int, kind: str, value: Any) -> None:
        if kind == "progress":
            counts[stream] = value
            ran = sum(c[0] for c in counts.values())
            elapsed = time.monotonic() - start
            say(f"fuzz: {ran}/{n} scenarios, {sum(f.seen for f in by_sig.values())} "
                f"disagreeing ({len(by_sig)} distinct), {ran / elapsed if elapsed else 0:.1f}/s")
        elif kind == "seen":
            old = next((f for s, f in by_sig.items() if same_bug(s, value)), None)
            if old is not None:
                old.seen += 1
        elif kind == "finding":
            old = next((f for s, f in by_sig.items() if same_bug(s, value.signature)), None)
            if old is None:
                by_sig[value.signature] = value
                say(f"fuzz: new disagreement: {describe(value.signature)} (shrunk to "
                    f"{value.text.count(chr(10))} lines)")
            else:
                old.seen += 1
                if len(value.text) < len(old.text):
                    old.text, old.detail = value.text, value.detail
        elif kind == "shrink":
            report.shrink_seconds += value
        elif kind == "coverage":
            report.coverage.update(value)
        elif kind == "crash":
            crashes.append(value)

    try:
        if jobs == 1:
            for stream, share, stream_seed in streams:
                _Worker(share, stream_seed, strategy, functools.partial(handle, stream),
                        real).run()
        else:
            ctx = multiprocessing.get_context("spawn")
            channel = ctx.Queue()
            procs = []
            cpus = sorted(os.sched_getaffinity(0))
            for i in range(jobs):
                cpu = cpus[i % len(cpus)] if len(cpus) > 1 else None
                p = ctx.Process(target=_worker_main,
                                args=(streams[i::jobs], strategy, channel, cpu), daemon=True)
                p.start()
                procs.append(p)
            done = 0
            while done < jobs:
                try:
                    stream, kind, value = channel.get(timeout=1.0)
                except queue_mod.Empty:
                    if not any(p.is_alive() for p in procs):
                        break
                    continue
                if kind in ("done", "crash"):
                    done += 1
                handle(stream, kind, value)
            for p in procs:
                p.join(timeout=10)
    except KeyboardInterrupt:
        report.interrupted = True
    report.elapsed = time.monotonic() - start
    report.ran = sum(c[0] for c in counts.values())
    report.agree = sum(c[1] for c in counts.values())
    report.unavailable = sum(c[2] for c in counts.values())
    if crashes:
        raise RuntimeError("a fuzz worker crashed:\n" + crashes[0])
    report.findings = sorted(by_sig.values(), key=lambda f: f.found_after)
    if report.findings:
        _write(report, out, say, real)
    return report


def _write(report: FuzzReport, out: Path, say: Callable[[str], None], real: Any = None) -> None:
    """Write each finding's shrunk scenario, checked once more on both backends."""
    from forklab.scenario.parse import parse_text
    from forklab.sim import SimBackend
    from forklab.verify import verify_scenario

    out.mkdir(parents=True, exist_ok=True)
    sim = _Guarded(SimBackend())
    if real is None:
        from forklab.real import RealBackend
        real = RealBackend()
    real = _Guarded(real)
    for i, finding in enumerate(report.findings, 1):
        name = f"{i:02d}-{_slug(finding.signature)}"
        if not finding.text:  # a traceback while generating: no scenario was made
            path = out / f"{name}.txt"
            path.write_text(finding.detail, encoding="utf-8")
            finding.file = str(path)
            say(f"fuzz: wrote {path}")
            continue
        path = out / f"{name}.toml"
        text = finding.text.replace('id = "generated"', f'id = "{name}"', 1)
        again = verify_scenario(parse_text(text, str(path)), str(path), sim, real)
        finding.reproduced = same_bug(signature(again), finding.signature)
        header = [
            f"# forklab fuzz --seed {report.seed}: {describe(finding.signature)}",
            f"# first seen after {finding.found_after} scenarios of a stream; "
            f"{finding.seen} scenario(s) showed it; shrunk by its choices, then line by line.",
            f"# {'reproduced' if finding.reproduced else 'NOT reproduced'} on a fresh run. "
            f"Check it with: forklab verify {path}",
        ]
        path.write_text("\n".join(header) + "\n" + text, encoding="utf-8")
        finding.file = str(path)
        say(f"fuzz: wrote {path}")


def summary(report: FuzzReport) -> str:
    """The closing summary (plain text)."""
    lines = [
        f"forklab fuzz: {report.ran} scenarios in {report.elapsed:.1f} s "
        f"({report.rate:.1f}/s, {report.jobs} job{'s' if report.jobs != 1 else ''}, "
        f"seed {report.seed})" + (" — interrupted" if report.interrupted else ""),
        f"  agree: {report.agree}" + (f" (of which {report.unavailable} agree where the kernel "
                                       "shows the observable)" if report.unavailable else ""),
        f"  disagree: {report.disagreements} scenario(s), {len(report.findings)} distinct",
    ]
    for f in report.findings:
        again = "" if f.reproduced is None else ("" if f.reproduced else " (did NOT reproduce)")
        lines.append(f"    {describe(f.signature)} — {f.seen}×, minimal: {f.file}{again}")
        for line in f.detail.strip().splitlines():
            if line.startswith(("✗", "!")) and "step" in line:
                lines.append(f"        {line}")
    if report.shrink_seconds:
        lines.append(f"  shrinking took {report.shrink_seconds:.1f} s of that")
    return "\n".join(lines) + "\n"


def coverage(report: FuzzReport) -> dict[str, Any]:
    """How many times the generated scenarios used each verb, option and observable.

    ``verbs`` has every verb of the language (0 for one never generated);
    ``not_generated`` says why a verb is left out; options are ``verb:option``.
    """
    from forklab.scenario.verbs import VERBS
    from forklab.testing.generator import generated_verbs
    from forklab.testing.strategies import ALL_OBSERVABLES

    counts = report.coverage
    made = generated_verbs()
    return {
        "verbs": {verb: counts[verb] for verb in sorted([*VERBS, "repeat"])},
        "options": {key: counts[key] for key in sorted(counts) if ":" in key},
        "observables": {name: counts["." + name] for name in sorted(ALL_OBSERVABLES)},
        "not_generated": {verb: VERBS[verb].not_fuzzed for verb in sorted(VERBS)
                          if verb not in made},
    }


def report_json(report: FuzzReport) -> dict[str, Any]:
    """The whole run as one JSON document (``forklab fuzz --json``)."""
    return {
        "n": report.n, "seed": report.seed, "jobs": report.jobs, "ran": report.ran,
        "agree": report.agree, "unavailable": report.unavailable,
        "disagree": report.disagreements, "distinct": len(report.findings),
        "elapsed_s": round(report.elapsed, 3), "per_second": round(report.rate, 2),
        "shrink_s": round(report.shrink_seconds, 3), "interrupted": report.interrupted,
        "disagreements": [
            {"signature": list(f.signature), "description": describe(f.signature),
             "seen": f.seen, "found_after": f.found_after, "file": f.file,
             "reproduced": f.reproduced, "scenario": f.text, "report": f.detail}
            for f in report.findings],
        "coverage": coverage(report),
    }


def default_jobs() -> int:
    """Two workers a CPU (a kernel run waits on its processes and on the disk for
    about half its time, so one worker leaves its CPU idle), one per stream at most."""
    return max(1, min(STREAMS, 2 * len(os.sched_getaffinity(0))))
