"""The forklab command line: ``run``, ``verify``, ``fuzz``, ``bench``, ``calibrate``, ``lessons``,
``learn`` and ``serve``.

``forklab`` alone opens the lesson player when stdout is a terminal, and
prints this help otherwise.

Every file is parsed before anything runs, so a bad file never runs half a
scenario. Exit status: 0 everything held (or agreed), 1 something did not,
2 the input or the command line is wrong. Reports go to stdout (pure JSON with
``--json``); progress and errors go to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import stat
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forklab import __version__, lessons, practice
from forklab.backend import Backend
from forklab.report import Style, error_json, error_text, render_scenario, scenario_json
from forklab.runner import ScenarioResult
from forklab.scenario.model import Scenario, ScenarioError, ScenarioErrors
from forklab.verify import render_text, run_guarded, verify_json, verify_scenario, write_junit

if TYPE_CHECKING:
    from forklab.sim.calibration import Calibration


class UsageError(Exception):
    """Input the user must fix: printed as is, exit status 2. ``problems`` are the same,
    one object each, for --json (docs/commands.md, "JSON")."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [{"message": message}]


def real_status() -> tuple[bool, str]:
    """Whether the kernel backend can run here, and if not, why and how to build it."""
    try:
        from forklab.real import real_backend_status
    except ImportError as err:
        return False, f"forklab.real cannot be imported ({err})"
    return real_backend_status()


def make_backend(name: str) -> Backend:
    """The backend called ``name``; imported on demand so the model works alone. The
    model alone predicts with this machine's calibration if there is a valid one."""
    if name == "sim":
        from forklab.sim import SimBackend, calibration
        return SimBackend(calibration.current(progress).coefficients)
    available, why = real_status()
    if not available:
        raise UsageError(f"forklab: the real backend is unavailable: {why}")
    from forklab.real import RealBackend
    return RealBackend()


def parse_scenario(path: Path) -> Scenario:
    """The parser, imported on first use so ``--help`` works without it."""
    from forklab.scenario.parse import parse_file
    return parse_file(path)


def load(paths: list[Path]) -> list[tuple[str, Scenario]]:
    """Parse every file; all errors at once, as ``file:line:col (step N): message``."""
    loaded: list[tuple[str, Scenario]] = []
    errors: list[str] = []
    problems: list[dict[str, Any]] = []
    for path in paths:
        name = str(path)
        try:
            loaded.append((name, parse_scenario(path)))
            continue
        except ScenarioError as err:
            every = err.errors if isinstance(err, ScenarioErrors) else [err]
            errors.extend(error_text(e, name) for e in every)
            problems.extend(error_json(e, name) for e in every)
            continue
        except UnicodeDecodeError as err:
            reason = f"not UTF-8 text ({err.reason})"
        except tomllib.TOMLDecodeError as err:
            reason = str(err)
        except OSError as err:
            reason = str(err.strerror or err)
        errors.append(f"{name}: {reason}")
        problems.append({"file": name, "message": reason})
    if errors:
        raise UsageError("\n".join(errors), problems)
    return loaded


def toml_files_under(directory: Path) -> list[Path]:
    """Every *.toml regular file under directory. Links are not followed: a link
    could lead a run as root to read a file it was never meant to (its error
    messages quote the file), and a FIFO would hang it."""
    found = []
    for root, _dirs, files in os.walk(directory):  # os.walk does not descend into links
        for name in files:
            path = Path(root, name)
            if path.suffix == ".toml" and stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
    return sorted(found)


def scenario_files(args: list[str], *, directories: bool) -> list[Path]:
    """The files named on the command line; a directory means every *.toml under it."""
    paths: list[Path] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir() and directories:
            found = toml_files_under(path)
            if not found:
                raise UsageError(f"forklab: {arg}: no *.toml scenario files under it")
            paths.extend(found)
        elif path.is_dir():
            raise UsageError(f"forklab: {arg}: is a directory (name the scenario files)")
        elif not path.exists():
            raise UsageError(f"forklab: {arg}: no such file")
        else:
            paths.append(path)
    return paths


def catalog_files() -> list[Path]:
    """The lessons, named relative to here when they are below here (a checkout)."""
    found = lessons.catalog()
    if not found:
        raise UsageError(f"forklab: no lessons found in the catalog ({lessons.catalog_dir()})")
    here = Path.cwd()
    return [path.relative_to(here) if path.is_relative_to(here) else path for path in found]


def progress(message: str) -> None:
    print(Style.for_stream(sys.stderr).dim(message), file=sys.stderr, flush=True)


def write_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def status_of(results: list[ScenarioResult]) -> int:
    if any(r.error is not None for r in results):
        return 2
    return 0 if all(r.ok for r in results) else 1


def lesson_or_file(arg: str) -> str:
    """A lesson id (``cow``) names its file in the catalog; anything else is a path."""
    if Path(arg).exists():
        return arg
    found = lessons.find(arg)
    return str(found) if found is not None else arg


def calibrated_here() -> Calibration:
    """This machine's calibration, made now (quickly, saying so) if there is no valid one."""
    from forklab.bench.calibrate import ensure
    return ensure(progress)[0]


def cmd_run(args: argparse.Namespace) -> int:
    """Run each scenario on one backend and report every step."""
    files = [lesson_or_file(arg) for arg in args.files]
    scenarios = load(scenario_files(files, directories=False))
    backend = make_backend(args.backend)
    style = Style.for_stream(sys.stdout)
    results, documents = [], []
    for i, (file, scenario) in enumerate(scenarios, 1):
        if args.json:
            progress(f"running {scenario.id} on {backend.name} ({i}/{len(scenarios)})...")
        result = run_guarded(backend, scenario)
        results.append(result)
        if args.json:
            documents.append(scenario_json(result, file))
            if result.error is not None:
                print(error_text(result.error, file), file=sys.stderr)
        else:
            text = render_scenario(result, style, show_answers=args.show_answers)
            sys.stdout.write(("\n" if i > 1 else "") + text)
            sys.stdout.flush()
    if args.json:
        write_json({"backend": backend.name, "ok": all(r.ok for r in results),
                    "scenarios": documents})
    return status_of(results)


def cmd_verify(args: argparse.Namespace) -> int:
    """Run each scenario on the model and the kernel and compare (docs/commands.md,
    "What is compared")."""
    if args.junit is not None and not args.junit.parent.is_dir():
        raise UsageError(f"forklab: {args.junit}: its directory does not exist")
    files = scenario_files(args.paths, directories=True) if args.paths else catalog_files()
    scenarios = load(files)
    real = make_backend("real")
    from forklab.sim import SimBackend
    calibrated = calibrated_here()
    low, high = calibrated.tolerance.band()
    progress(f"verify: spawn_us agrees from x{low:.2f} to x{high:.2f} the prediction, or "
             f"within {calibrated.tolerance.resolution_us:.0f} us of it (one call's spread, "
             f"an empty fork's cost and the model's error in {calibrated.describe()})")
    sim = SimBackend(calibrated.coefficients)
    verdicts = []
    for i, (file, scenario) in enumerate(scenarios, 1):
        progress(f"verifying {scenario.id} ({i}/{len(scenarios)})...")
        verdicts.append(verify_scenario(scenario, file, sim, real, calibrated.tolerance))
    hidden = real.capabilities.hidden
    if args.json:
        write_json(verify_json(verdicts, hidden))
    else:
        sys.stdout.write(render_text(verdicts, Style.for_stream(sys.stdout), hidden))
    if args.junit is not None:
        try:
            write_junit(verdicts, args.junit)
        except OSError as err:
            raise UsageError(f"forklab: {args.junit}: {err.strerror or err}") from None
    if any(v.status == "error" for v in verdicts):
        return 2
    return 0 if all(v.ok for v in verdicts) else 1


def cmd_fuzz(args: argparse.Namespace) -> int:
    """Random scenarios on the model and the kernel; each disagreement shrunk to a file."""
    from forklab import fuzz

    make_backend("real")  # exit 2, saying why, when the kernel backend cannot run here
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"forklab: {args.out}: exists and is not a directory")
    jobs = args.jobs or fuzz.default_jobs()
    try:
        report = fuzz.fuzz(args.n, args.seed, args.out, jobs=jobs, progress=progress)
    except RuntimeError as err:  # a worker crashed: its traceback says where
        raise UsageError(f"forklab fuzz: {err}") from None
    if args.json:
        write_json(fuzz.report_json(report))
    else:
        sys.stdout.write(fuzz.summary(report))
    if report.interrupted:
        return 130
    return 1 if report.findings else 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Spawn latency against parent size, measured in C and predicted by the model."""
    from forklab.bench import report
    from forklab.bench.calibrate import ensure
    from forklab.bench.measure import BenchError
    from forklab.bench.run import bench, parse_methods, parse_size

    try:
        sizes = [parse_size(s) for s in args.sizes.split(",")]
        methods = parse_methods(args.methods)
        calibrated, just_made = ensure(progress)
        source = calibrated.describe(just_made)
        progress(f"bench: predicting with {source}")
        rows = bench(sizes, methods, args.reps, thp=args.thp,
                     on_progress=progress, coefficients=calibrated.coefficients)
        if args.png:
            report.write_png(rows, args.png)
    except BenchError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise UsageError(f"forklab bench: {err.filename or ''}: {err.strerror or err}") from None
    if args.json:
        write_json({"predictions": report.provenance_json(calibrated, just_made),
                    "rows": [row.json() for row in rows]})
    else:
        print(f"predictions: {source}\n\n" + report.table(rows) + "\n\n" + report.plot(rows))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Measure this machine, fit the cost model's coefficients, save them."""
    from forklab.bench import calibrate
    from forklab.bench.measure import BenchError
    from forklab.sim import calibration

    try:
        fitted, made = (calibrate.quick(progress) if args.quick
                        else calibrate.full(args.reps, progress))
    except BenchError as err:
        raise UsageError(str(err)) from None
    low, high = made.tolerance.band()
    print(calibrate.render(fitted))
    print(f"\none call strays from its median by x{made.tolerance.low:.2f} to "
          f"x{made.tolerance.high:.2f}, the model from a median by up to "
          f"{made.tolerance.error:.0%}, and an empty fork costs {made.tolerance.resolution_us:.0f} "
          f"us: verify agrees with a spawn_us from x{low:.2f} to x{high:.2f} the prediction, "
          f"or within that of it")
    if args.dry_run:
        return 0
    try:
        where = calibrate.save(made, fitted)
    except (OSError, calibration.Refused) as err:
        raise UsageError(f"forklab calibrate: cannot save: {err}") from None
    print(f"saved to {where}; the simulator now predicts spawn_us with these")
    return 0


def cmd_lessons(args: argparse.Namespace) -> int:
    """List the lesson catalog in the order of its path; every lesson must parse, have
    its own id, and build only on lessons of the catalog, without a cycle."""
    scenarios = load(catalog_files())
    seen: dict[str, str] = {}
    for file, scenario in scenarios:
        if scenario.id in seen:
            raise UsageError(f"{file}: lesson id {scenario.id!r} is already used by "
                             f"{seen[scenario.id]}")
        seen[scenario.id] = file
    problems = lessons.order_problems(scenarios, lambda fs: fs[1].id, lambda fs: fs[1].builds_on)
    if problems:
        raise UsageError("\n".join(f"forklab: the catalog is not a path: {p}" for p in problems))
    scenarios = lessons.in_order(scenarios, lambda fs: fs[1].id, lambda fs: fs[1].builds_on)
    from forklab.tui.progress import Progress
    progress = Progress()
    upcoming = lessons.next_lesson([s.id for _, s in scenarios], progress.completed)
    if args.json:
        write_json({"lessons": [
            {"id": s.id, "title": s.title, "summary": s.summary, "tags": list(s.tags),
             "builds_on": list(s.builds_on), "real": s.real, "file": file,
             "completed": progress.completed(s.id)}
            for file, s in scenarios
        ], "next": upcoming})
        return 0
    style = Style.for_stream(sys.stdout)
    width = max(len(s.id) for _, s in scenarios)
    for _, s in scenarios:
        mark = style.good("✓") if progress.completed(s.id) else \
            style.bold("▸") if s.id == upcoming else " "
        tags = style.dim(f"  [{', '.join(s.tags)}]") if s.tags else ""
        sim_only = style.dim("  (simulator only)") if not s.real else ""
        print(f"{mark} {style.bold(s.id.ljust(width))}  {s.title}{tags}{sim_only}")
        if s.summary:
            print(f"  {' ' * width}  {style.dim(s.summary)}")
        if s.builds_on:
            print(f"  {' ' * width}  {style.dim('builds on ' + ', '.join(s.builds_on))}")
    done = sum(progress.completed(s.id) for _, s in scenarios)
    print(f"\n{done} of {len(scenarios)} completed" +
          (f"; next: {upcoming} (forklab learn {upcoming})" if upcoming else ""))
    return 0


def _lesson_player_ready() -> None:
    """Textual is a dependency, but say plainly if this install lacks it."""
    try:
        import textual  # noqa: F401
    except ImportError as err:
        raise UsageError(f"forklab: the lesson player needs Textual ({err}); "
                         "install forklab with its dependencies") from None


def cmd_practice(args: argparse.Namespace) -> int:
    """Questions from random scripts, answers from the model confirmed on the kernel."""
    seed = args.seed if args.seed is not None else secrets.randbelow(1_000_000)
    if args.backend == "sim" or (args.backend is None and not real_status()[0]):
        kernel = None
    else:
        kernel = make_backend("real")
    made = practice.questions(seed, args.topic, args.count, make_backend("sim"), kernel,
                              on_progress=progress)
    if not made:
        raise UsageError(f"forklab practice: no question on {args.topic} with seed {seed}; "
                         "try another seed")
    if args.json:
        write_json({"topic": args.topic, "seed": seed,
                    "questions": [q.to_json() for q in made]})
    else:
        sys.stdout.write(practice.render(made, seed=seed, topic=args.topic,
                                         answers=args.answers))
    return 0


def cmd_atlas(args: argparse.Namespace) -> int:
    """What each way of making a process inherits, run on the model and the kernel."""
    from forklab import atlas
    use_kernel = args.backend == "real" or (args.backend is None and real_status()[0])
    kernel = make_backend("real") if use_kernel else None
    rows = atlas.atlas(make_backend("sim"), kernel, on_progress=progress)
    if args.json:
        write_json({"methods": [{"id": m.id, "title": m.title} for m in atlas.METHODS],
                    "attributes": rows})
    elif args.markdown:
        sys.stdout.write(atlas.markdown(rows))
    else:
        sys.stdout.write(atlas.text(rows))
    disagree = any(c["kernel"] == "disagree" for row in rows for c in row["cells"].values())
    return 1 if disagree else 0


def cmd_learn(args: argparse.Namespace) -> int:
    """Open the lesson player: the catalog, or one lesson."""
    _lesson_player_ready()
    from forklab.tui.app import LessonError, make_app
    calibrated = calibrated_here() if real_status()[0] else None
    try:
        app = make_app(args.lesson, progress=args.progress, calibrated=calibrated)
    except LessonError as err:
        raise UsageError(f"forklab: {err}") from None
    app.run()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the lesson player in a browser (textual-serve), for a class."""
    _lesson_player_ready()
    if os.geteuid() == 0 and not args.allow_root:
        raise UsageError("forklab: serve refuses to run as root: every browser session would "
                         "run lessons and the kernel backend as root. Run it as an ordinary "
                         "user, or pass --allow-root if that is what you mean.")
    try:
        from forklab.serve import ClassServer
    except ImportError as err:
        raise UsageError(f"forklab: serving needs textual-serve ({err})") from None
    import shlex
    command = shlex.join([sys.executable, "-m", "forklab", "learn",
                          *([args.lesson] if args.lesson else [])])
    server = ClassServer(command, host=args.host, port=args.port,
                         max_sessions=args.max_sessions)
    if os.geteuid() == 0:
        print("forklab: WARNING: serving as root (--allow-root): every session runs as root",
              file=sys.stderr)
    try:
        server.serve()
    except OSError as err:
        raise UsageError(f"forklab: cannot serve on {args.host}:{args.port}: "
                         f"{err.strerror or err}") from None
    return 0


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value}")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port out of range (1-65535): {port}")
    return port


EXIT_STATUS = """exit status:
  0  every expectation held (verify: and the model agreed with the kernel
     wherever the kernel lets this user look)
  1  an expectation did not hold (verify: or the two disagreed)
  2  a file, the command line or the environment is wrong"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forklab",
        description="How Unix processes are created: simulated, and checked "
                    "against the Linux kernel.",
        epilog=EXIT_STATUS, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"forklab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run scenarios and report each step",
        description="Run scenario files (or lessons, by id) on one backend; print each "
                    "step's ops, what changed and every expectation. Questions' answers, "
                    "and whatever would give them away, are shown only with -c.",
        epilog=EXIT_STATUS, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("files", nargs="+", metavar="FILE|ID",
                     help="scenario files (.toml), or lesson ids (see `forklab lessons`)")
    run.add_argument("-c", "--show-answers", action="store_true",
                     help="show each question's answer, and the expectations and changes "
                          "that give it away (hidden by default; --json always has them)")
    run.add_argument("--backend", choices=("sim", "real"), default="sim",
                     help="sim: the model (default); real: the Linux kernel")
    run.add_argument("--json", action="store_true", help="one JSON document on stdout")
    run.set_defaults(handler=cmd_run)

    verify = commands.add_parser(
        "verify", help="compare the model with the kernel",
        description="Run each scenario on the model and on the kernel and compare "
                    "every observable after every step. Default: the lesson catalog.",
        epilog=EXIT_STATUS, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("paths", nargs="*", metavar="FILE|DIR",
                        help="scenario files, or directories of them (default: the lessons)")
    verify.add_argument("--json", action="store_true", help="one JSON document on stdout")
    verify.add_argument("--junit", type=Path, metavar="PATH",
                        help="also write a JUnit XML report to PATH")
    verify.set_defaults(handler=cmd_verify)

    fuzzing = commands.add_parser(
        "fuzz", help="random scenarios on the model and the kernel, disagreements shrunk",
        description="Generate random scenarios (valid and deterministic on the kernel), run\n"
                    "each on the model and on the kernel, and shrink each distinct\n"
                    "disagreement to a minimal scenario file in --out. The same --seed gives\n"
                    "the same scenarios, whatever --jobs. Progress on stderr, a summary on\n"
                    "stdout.",
        epilog="exit status:\n  0  no disagreement\n  1  a disagreement (see --out)\n"
               "  2  the command line is wrong or the kernel backend cannot run here",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    fuzzing.add_argument("--n", type=_count, default=1000, metavar="N",
                         help="how many scenarios (default 1000)")
    fuzzing.add_argument("--seed", type=_count, default=0, metavar="S",
                         help="the random seed (default 0)")
    fuzzing.add_argument("--out", type=Path, default=Path("forklab-fuzz-out"), metavar="DIR",
                         help="where minimal disagreeing scenarios go (default "
                              "./forklab-fuzz-out)")
    fuzzing.add_argument("--jobs", type=_positive, default=None, metavar="J",
                         help="worker processes (default: two a CPU, at most 8)")
    fuzzing.add_argument("--json", action="store_true",
                         help="one JSON document on stdout: counts, the disagreements "
                              "(shrunk) and coverage of verbs, options and observables")
    fuzzing.set_defaults(handler=cmd_fuzz)

    practising = commands.add_parser(
        "practice", help="questions without end: predict what random scripts leave",
        description="Questions made from random scripts on one topic: predict a value after\n"
                    "each script. Answers come from the model and, where the kernel backend\n"
                    "runs, only those the kernel confirms are asked. The same --seed and\n"
                    "--topic give the same questions: hand out a seed, grade with --answers.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    practising.add_argument("--topic", choices=sorted(practice.TOPICS), default="fork",
                            help="what the questions are about (default fork)")
    practising.add_argument("--seed", type=_count, default=None, metavar="S",
                            help="the random seed (default: a new one, printed)")
    practising.add_argument("--count", type=_positive, default=5, metavar="N",
                            help="how many questions (default 5)")
    practising.add_argument("--answers", action="store_true", help="show the answers")
    practising.add_argument("--backend", choices=("sim", "real"), default=None,
                            help="real: confirm every answer on the kernel (the default where "
                                 "the kernel backend runs); sim: the model alone")
    practising.add_argument("--json", action="store_true",
                            help="one JSON document on stdout, answers included")
    practising.set_defaults(handler=cmd_practice)

    atlas_cmd = commands.add_parser(
        "atlas", help="what a new process inherits, attribute by attribute, on both backends",
        description="For each attribute of a process (fds, signal state, memory, threads...)\n"
                    "and each way of making a process or image (fork, vfork, posix_spawn,\n"
                    "pthread_create, exec, clone with flags), run a small scenario on the model\n"
                    "and on the kernel and say what the new one got: copied, shared, reset or\n"
                    "kept (docs/atlas.md).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    shown = atlas_cmd.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="one JSON document on stdout")
    shown.add_argument("--markdown", action="store_true", help="the table in Markdown")
    atlas_cmd.add_argument("--backend", choices=("sim", "real"), default=None,
                           help="real: run every cell on the kernel too (the default where "
                                "the kernel backend runs); sim: the model alone")
    atlas_cmd.set_defaults(handler=cmd_atlas)

    benching = commands.add_parser(
        "bench", help="spawn latency against parent size: kernel and model",
        description="Time fork, fork+exec, vfork+exec, posix_spawn, clone(vm,vfork), a zygote's\n"
                    "fork and exec alone from a parent of each size (written, 4 KiB pages),\n"
                    "in C on this kernel, each the median of --reps runs with its quartiles,\n"
                    "beside the cost model's prediction. Progress on stderr.",
        epilog="exit status:\n  0  measured\n  2  the command line is wrong, a size does not "
               "fit in memory,\n     or the timing program is not built",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    benching.add_argument("--sizes", default="0,64MiB,256MiB,1GiB", metavar="S,S...",
                          help="parent sizes (default 0,64MiB,256MiB,1GiB)")
    benching.add_argument("--methods", default="fork,fork_exec,vfork_exec,posix_spawn,"
                          "clone_vm_vfork,zygote,exec", metavar="M,M...",
                          help="methods (default: all but plain vfork)")
    benching.add_argument("--reps", type=_positive, default=15, metavar="N",
                          help="repetitions per method and size (default 15)")
    benching.add_argument("--thp", action="store_true", help="the parent's memory in huge pages")
    benching.add_argument("--json", action="store_true", help="one JSON document on stdout")
    benching.add_argument("--png", type=Path, metavar="PATH", help="also draw the figure to PATH")
    benching.set_defaults(handler=cmd_bench)

    calibrating = commands.add_parser(
        "calibrate", help="fit the cost model to this machine",
        description="Time every creating call on parents of several sizes, mapping counts, fd\n"
                    "and thread counts, with and without huge pages; fit the cost model's\n"
                    "coefficients, show the fit and its residuals, and save them under\n"
                    "$XDG_CACHE_HOME/forklab/ (default ~/.cache/forklab/), where the\n"
                    "simulator reads them.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    calibrating.add_argument("--reps", type=_positive, default=15, metavar="N",
                             help="repetitions per point (default 15)")
    calibrating.add_argument("--quick", action="store_true",
                             help="the quick design forklab makes by itself when it has no "
                                  "calibration: a few seconds, a factor per part of the "
                                  "shipped costs")
    calibrating.add_argument("--dry-run", action="store_true",
                             help="show the fit, save nothing")
    calibrating.set_defaults(handler=cmd_calibrate)

    listing = commands.add_parser(
        "lessons", help="list the lesson catalog",
        description="List every lesson: id, title, summary and tags.")
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    listing.set_defaults(handler=cmd_lessons)

    learn = commands.add_parser(
        "learn", help="open the lesson player (the catalog, or lesson ID)",
        description="Step through a lesson on the model, run it on the kernel, answer its "
                    "questions, and try your own lines in a sandbox. Without ID: the catalog.")
    learn.add_argument("lesson", nargs="?", metavar="ID",
                       help="a lesson id (see `forklab lessons`) or a lesson file")
    learn.add_argument("--progress", type=Path, metavar="FILE",
                       help="where to keep progress (default: "
                            "$XDG_STATE_HOME/forklab/progress.json)")
    learn.set_defaults(handler=cmd_learn)

    serve = commands.add_parser(
        "serve", help="serve the lesson player in a web browser",
        description="Serve the lesson player over HTTP with textual-serve: each browser "
                    "tab runs its own `forklab learn`.")
    serve.add_argument("lesson", nargs="?", metavar="ID", help="open this lesson at once")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    serve.add_argument("--max-sessions", type=_positive, default=30,
                       help="browser sessions open at once, at most (default 30)")
    serve.add_argument("--allow-root", action="store_true",
                       help="serve even as root (every session then runs as root)")
    serve.set_defaults(handler=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``forklab`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, and usage errors (status 2)
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        if argv is None and sys.stdout.isatty() and sys.stdin.isatty():
            handler = cmd_learn
            args.lesson = args.progress = None
        else:
            parser.print_help()
            return 0
    try:
        return handler(args)
    except UsageError as err:
        print(err, file=sys.stderr)
        if getattr(args, "json", False):  # stdout still holds one JSON document
            write_json({"ok": False, "errors": err.problems})
        return 2
    except KeyboardInterrupt:
        print("forklab: interrupted", file=sys.stderr)
        return 130
