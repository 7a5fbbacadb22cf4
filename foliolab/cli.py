"""The ``foliolab`` command.

    foliolab list [--json]
    foliolab explore SCENARIO [--variant V] [--strategy random|pct|dfs]
                     [--budget N] [--seed S] [--depth d] [--preemptions k]
                     [--set key=value ...] [--patch FILE ...] [--trace-dir DIR]
                     [--all] [--json] [--full] [--events] [--no-progress]
    foliolab replay TRACE [--json] [--events] [--full] [--original] [--litmus]
    foliolab litmus FILE.litmus ... [--model sc,tso,lkmm] [--json]
    foliolab compare SCENARIO|FAMILY [--variant V ...] [--patch FILE ...]
    foliolab reproduce [--family F ...]
    foliolab measure EXPERIMENT [--variant V ...] [--seeds N] [--set key=value ...]
                     [--cost kind=ns ...] [--cost-file F] [--json] [--plot DIR] [-j N]
    foliolab measure --list

Exit status, as model checkers do: 0 no failure found (or, for compare and
reproduce, every cell as expected), 1 a failure found (a cell not as
expected), 2 a usage or input error (one line on stderr, never a
traceback), 3 nondeterminism or an exception in the model (a foliolab bug)
or in a user's patch (for compare and reproduce: an ERROR or NONDET cell),
130 interrupted (Ctrl-C; what was found is kept).  README.md has the
table, with the valid range of every setting.

Families outside the package (a user's own, a test suite's): ``--family
FILE`` on every command, installed plugins (entry-point group
``foliolab.families``) and the files or modules listed in
``FOLIOLAB_FAMILIES`` (docs/writing-a-family.md).  ``FOLIOLAB_DEBUG=1``
shows tracebacks for internal errors.
"""

from __future__ import annotations

import json
import os
import sys
import time

import click

_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
SEED_MAX = 2**64 - 1            # seeds are 64-bit, as the trace schema says
BUDGET_MAX = 10**9              # schedules: more is a search that never ends
JOBS_MAX = 256                  # worker processes
WATCHDOG_SECONDS = 10.0         # a step that runs longer without yielding: a soft lockup


class InputProblem(Exception):
    """A one-line input error."""


def _input_errors():
    from .engine.kernel import PatchError
    from .explore.run import InputError
    from .scenarios import LookupFailure
    from .scenarios.base import SettingsError
    from .runner import BackendError, RunDirError
    return (PatchError, LookupFailure, SettingsError, InputError, InputProblem,
            BackendError, RunDirError)


def _err(msg):
    click.echo(f"foliolab: error: {msg}", err=True)


def _progress_wanted(no_progress, as_json):
    return not no_progress and not as_json and sys.stderr.isatty()


# ------------------------------------------------------------- scale-out
# The runner (foliolab/runner, docs/scaleout.md): where units of work run,
# and the run directory they are written to as they finish.
_RUN_ARGV = []       # the command line being run (for run.json and --resume)
_DISPLAY_ONLY = {"--no-progress": 0, "--json": 0, "-j": 1, "--jobs": 1, "--backend": 1,
                 "--address": 1, "--run-dir": 1, "--resume": 1}

_scaleout_options = [
    click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
                  show_default=True,
                  help="Where the units run: local (in this process with -j 1, else a "
                       "process pool) or ray (a Ray cluster, see --address)."),
    click.option("--address", default=None, metavar="auto|HOST:PORT",
                 help="The Ray cluster (with --backend ray; default auto)."),
    click.option("--run-dir", "run_dir", default=None, metavar="DIR",
                 help="Write each finished unit to a new run directory under DIR "
                      "[default: TRACE_DIR/runs]."),
    click.option("--resume", default=None, metavar="RUN",
                 help="Continue the run in directory RUN, without redoing its finished units."),
]


def _with_scaleout_options(f):
    for opt in reversed(_scaleout_options):
        f = opt(f)
    return f


# ------------------------------------------------------------------ settings
def _parse_value(key, typ, text):
    if typ is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on", "y"):
            return True
        if low in ("0", "false", "no", "off", "n"):
            return False
        raise InputProblem(f"--set {key}={text}: expected a boolean")
    if typ is int:
        try:
            return int(text, 0)
        except ValueError:
            raise InputProblem(f"--set {key}={text}: expected an integer") from None
    if typ is float:
        try:
            return float(text)
        except ValueError:
            raise InputProblem(f"--set {key}={text}: expected a number") from None
    return text


def _key_value(option, item, shape="key=value"):
    """``--option key=value`` -> (key, text), or a one-line input error."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputProblem(f"{option} {item!r}: expected {shape}")
    return key, text.strip()


def parse_settings(scenario, items):
    """``--set key=value`` items -> overrides, checked against the scenario."""
    from .scenarios.base import SETTING_TYPES, validate_settings
    known = scenario.settings()
    out = {}
    for item in items:
        key, text = _key_value("--set", item)
        if key not in known and key not in SETTING_TYPES:
            names = sorted(set(known) | set(SETTING_TYPES))
            raise InputProblem(f"--set {key}: unknown setting for {scenario.slug} "
                               f"(known: {', '.join(names)})")
        typ = SETTING_TYPES.get(key) or type(known[key])
        if typ not in (bool, int, float, str):
            typ = str
        out[key] = _parse_value(key, typ, text)
    validate_settings(scenario.settings(out), scenario)
    return out


def load_user_patches(paths):
    """``--patch FILE``; also ``--patch revert-<commit>``, a revert of a fix
    the baseline contains (``foliolab list``), when no such file exists."""
    from .patches import all_patches, load_patch_file
    out = []
    for p in paths:
        cat = all_patches().get(p)
        if not os.path.exists(p) and cat is not None and getattr(cat, "revert_of", None):
            out.append(cat)
        else:
            out.append(load_patch_file(p))
    return out


def warn_stacking(label, patches):
    """One line on stderr for every function a user's patch replaces that
    an earlier patch of the same column already replaced: the column runs
    the user's version only, which may not be what was meant."""
    from .engine.kernel import stacked_replacements
    for key, earlier, later in stacked_replacements(patches):
        if not getattr(later, "source", None):
            continue                    # the catalogue's own series stack on purpose
        where = (f"{earlier.source}" if getattr(earlier, "source", None)
                 else f"the variant's patch")
        click.echo(f"foliolab: warning: {label}: patch {later.name} ({later.source}) replaces "
                   f"{key}, which {where} {earlier.name} already replaced; only "
                   f"{later.name}'s {key} runs", err=True)


# ------------------------------------------------------------------ the group
_FAMILY_HELP = ("A family file of your own (a .py file or module defining FAMILY; "
                "docs/writing-a-family.md); repeatable.")


def _load_family_files(ctx, param, values):
    from .explore.registry import load_family_file
    for v in values or ():
        load_family_file(v)
    return values


def family_file_option(f):
    """``--family FILE`` on a command: the file's families are known to it."""
    return click.option("--family", "family_files", multiple=True, metavar="FILE",
                        callback=_load_family_files, expose_value=False, is_eager=True,
                        help=_FAMILY_HELP)(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Your own scenarios: --family FILE on any command, an installed "
                    "plugin (entry points 'foliolab.families') or FOLIOLAB_FAMILIES=FILE; "
                    "see docs/writing-a-family.md.")
@click.version_option(package_name="foliolab", prog_name="foliolab")
@click.option("--family", "family_files", multiple=True, metavar="FILE",
              callback=_load_family_files, expose_value=False, help=_FAMILY_HELP)
def cli():
    """foliolab: an executable model of the Linux page lifecycle with a
    controlled scheduler that explores how CPUs interleave."""


# ---------------------------------------------------------------------- list
@cli.command("list")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--markdown", is_flag=True,
              help="The scenario catalogue as Markdown (docs/scenarios.md is this output "
                   "for the package's families).")
@click.option("--functions", is_flag=True,
              help="The functions a patch can replace or wrap (matching PATTERN, a glob "
                   "or a substring): signature, whether it yields, kernel file, era.")
@family_file_option
def list_cmd(pattern, as_json, functions, markdown):
    """Families, variants (with their patches) and scenarios (actors,
    property, expected outcome per variant); with --functions, the hook
    points for patches."""
    from .explore.registry import families, patch_name
    if functions:
        from .report.functions import function_catalogue, functions_text
        rows = function_catalogue(pattern)
        if not rows:
            from .explore.registry import did_you_mean
            raise InputProblem(f"no function matches {pattern!r}"
                               f"{did_you_mean(pattern, [r['name'] for r in function_catalogue()])}")
        click.echo(json.dumps({"functions": rows}, indent=1) if as_json else functions_text(rows),
                   nl=not not as_json)
        return EXIT_OK
    if pattern:
        raise InputProblem(f"list {pattern}: a PATTERN goes with --functions")
    fams = families()
    if markdown:
        from .report.catalogue import catalogue_markdown
        click.echo(catalogue_markdown(list(fams.values())), nl=False)
        return EXIT_OK
    if as_json:
        out = []
        for fam in fams.values():
            out.append({
                "family": fam.name, "title": fam.title, "seed": fam.seed,
                "thread": getattr(fam, "thread", None),
                "era": _era_text(fam),
                "baseline_contains": _era_contains(fam),
                "variants": [{"name": v.name, "patches": [patch_name(p) for p in v.patches],
                              "summary": v.summary, "mutant": v.mutant,
                              "sources": [_patch_source(p) for p in v.patches]}
                             for v in fam.variants.values()],
                "scenarios": [{"slug": s.slug, "title": s.title, "actors": s.actors,
                               "property": s.prop,
                               "expected": {vn: _expect_text(s.expect(vn))
                                            for vn in fam.variants}}
                              for s in fam.scenarios],
            })
        click.echo(json.dumps({"families": out}, indent=1))
        return EXIT_OK
    if not fams:
        click.echo("no scenario families")
    for fam in fams.values():
        click.echo(f"family {fam.name}: {fam.title}")
        thread = getattr(fam, "thread", None)
        click.echo(f"  seed thread: {thread or 'not recorded'} [{fam.seed}]")
        click.echo(f"  era: {_era_text(fam) or 'none (the plain model, model names)'}")
        contains = _era_contains(fam)
        if contains:
            click.echo("  fixes the baseline contains:")
            for line in contains:
                click.echo(f"    {line}")
        click.echo("  variants:")
        w = max((len(v) for v in fam.variants), default=0)
        for v in fam.variants.values():
            pl = ", ".join(patch_name(p) for p in v.patches) or "baseline, no patches"
            summ = f"  -- {v.summary}" if v.summary else ""
            click.echo(f"    {v.name.ljust(w)}  [{pl}]{summ}")
            for p in v.patches:
                src = _patch_source(p)
                if src is None:
                    continue
                click.echo(f"    {''.ljust(w)}    {src['name']}: \"{src['title']}\""
                           + (f" ({src['commit']})" if src["commit"] else ""))
                click.echo(f"    {''.ljust(w)}      author: {src['author'] or 'not recorded'}; "
                           f"link: {src['link'] or 'not recorded'}")
        click.echo("  scenarios:")
        for s in fam.scenarios:
            click.echo(f"    {s.slug}: {s.title}")
            if s.actors:
                click.echo(f"        actors:   {s.actors}")
            if s.prop:
                click.echo(f"        property: {s.prop}")
            exp = ", ".join(f"{vn} {_expect_text(s.expect(vn))}" for vn in fam.variants)
            click.echo(f"        expected: {exp}")
        click.echo("")
    return EXIT_OK


def _patch_source(name):
    """Title, commit, author and lore link of a catalogue patch (what the
    Patch object carries; None for names that are not patches)."""
    from .patches import get_patch
    try:
        p = get_patch(name) if isinstance(name, str) else name
    except Exception:
        return None
    return {"name": p.name, "title": p.title, "commit": p.commit,
            "author": getattr(p, "author", None), "link": p.link}


def _era_text(fam):
    """The family's kernel era, its era patches and what they contain."""
    era = getattr(fam, "era", None)
    if era is None:
        return None
    from .patches.eras import get_era
    return get_era(era).describe()


def _era_contains(fam):
    from .patches.eras import ERAS, get_era
    era = getattr(fam, "era", None)
    if not era and fam.scenarios and all(getattr(s, "make_run", None) for s in fam.scenarios):
        return []                   # runs of its own (no mm model): no kernel baseline
    # the plain model is the v5.12 baseline: it contains what v5.12 does
    return get_era(era).contains_lines() if era else ERAS["v5.12"].contains_lines()


def _expect_text(e):
    from .report.catalogue import expect_text
    from .scenarios.base import SAFE
    # a safe cell also says why its bound is below 2, when it is (Expect.note)
    note = f" [{e.note}]" if e.outcome == SAFE and e.note else ""
    return expect_text(e) + note


# ------------------------------------------------------------------- explore
@cli.command()
@click.argument("scenario")
@click.option("--variant", "-V", "variant_name", default=None,
              help="Variant of the scenario's family (default: its baseline).")
@click.option("--strategy", "-s",
              type=click.Choice(["portfolio", "random", "sticky", "pct", "pos", "dfs"]),
              default="portfolio", show_default=True,
              help="portfolio: PCT d=2 and d=3, random, sticky and POS, interleaved; "
                   "dfs: systematic (DPOR) within --preemptions, a certificate when it ends.")
@click.option("--budget", "-n", type=click.IntRange(min=1, max=BUDGET_MAX), default=None,
              help="Maximum number of schedules.  [default: 1000; dfs: none, "
                   "the search runs until it certifies or fails]")
@click.option("--seed", type=click.IntRange(min=0, max=SEED_MAX), default=0, show_default=True)
@click.option("--depth", "-d", type=click.IntRange(min=1), default=2,
              show_default=True, help="PCT bug depth (at most the run's length, max_steps).")
@click.option("--preemptions", "-k", type=click.IntRange(min=0), default=2,
              show_default=True, help="DFS preemption bound.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a setting (ncpus, preempt, memory_model, ...).")
@click.option("--patch", "patch_files", multiple=True, metavar="FILE",
              help="A patch file applied after the variant's patches.")
@click.option("--trace-dir", default="traces", show_default=True,
              help="Where failure traces are written.")
@click.option("--all", "count", is_flag=True,
              help="Do not stop at the first failure: count failing schedules "
                   "(failure rate with a 95%% interval).")
@click.option("--no-shrink", is_flag=True, help="Do not shrink the failing schedule.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--full", is_flag=True, help="Do not elide repetitive rows of the table.")
@click.option("--events", is_flag=True, help="Print the run's tracepoints, ftrace style.")
@click.option("--mail", is_flag=True,
              help="The failure as a commit message draws it: one column per CPU, "
                   "72 columns, only the steps that matter.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--watchdog", type=click.FloatRange(min=0, max=86400), default=WATCHDOG_SECONDS,
              show_default=True, metavar="SECONDS",
              help="Stop a step that runs this long without yielding (soft lockup); 0: off.")
@click.option("--proc", "procs", multiple=True,
              type=click.Choice(["buddyinfo", "pagetypeinfo", "vmstat"]),
              help="Print /proc/FILE as it reads at the failing step.")
@click.option("--split", type=click.IntRange(min=1, max=100_000), default=None, metavar="N",
              help="dfs: split the search into at least N subtrees by schedule prefix, "
                   "run as units (-j, --backend); the certificate says how many.")
@click.option("--seeds", "nseeds", type=click.IntRange(min=1, max=1_000_000), default=None,
              metavar="N", help="Seeds --seed .. --seed+N-1, --budget schedules each, run as "
                                "units (-j, --backend); the first failing seed is shown.")
@click.option("--jobs", "-j", type=click.IntRange(min=1, max=JOBS_MAX), default=None,
              help="Worker processes for --split/--seeds (default: the number of CPUs).")
@_with_scaleout_options
@family_file_option
def explore(scenario, variant_name, strategy, budget, seed, depth, preemptions, sets,
            patch_files, trace_dir, count, no_shrink, as_json, full, events, mail,
            no_progress, watchdog, procs, split, nseeds, jobs, backend, address, run_dir,
            resume):
    """Look for a failing interleaving of SCENARIO."""
    from .explore import explore as run_explore
    from .explore.registry import (
        default_variant, find_scenario, find_variant, variant_patches,
    )
    fam, sc = find_scenario(scenario)
    # --variant '' names no variant: refused, not the baseline
    v = find_variant(fam, variant_name) if variant_name is not None else default_variant(fam)
    user = load_user_patches(patch_files)
    patches = variant_patches(v) + user
    from .explore.registry import variant_label
    warn_stacking(variant_label(v.name, patches), patches)
    overrides = parse_settings(sc, sets)
    max_steps = sc.settings(overrides)["max_steps"]
    if depth > max_steps:
        # d-1 change points over a run of at most max_steps steps
        raise InputProblem(f"--depth {depth}: must be 1..{max_steps} (at most the run's "
                           f"length, max_steps={max_steps})")
    if budget is None and strategy != "dfs":
        budget = 1000
    _check_trace_dir(trace_dir)
    if split is not None or nseeds is not None:
        ex = _explore_units(fam, sc, v, patches, patch_files, strategy, budget, seed, depth,
                            preemptions, overrides, trace_dir, count, no_shrink, events,
                            _progress_wanted(no_progress, as_json), watchdog, split, nseeds,
                            jobs, backend, address, run_dir, resume)
    else:
        if backend != "local" or jobs or address or resume or run_dir:
            raise InputProblem("--backend, --address, -j, --run-dir and --resume need "
                               "--split (dfs) or --seeds")
        ex = run_explore(sc, v.name, patches, strategy, budget, seed, overrides, trace_dir,
                         _progress_wanted(no_progress, as_json), family=fam.name,
                         depth=depth, preemptions=preemptions,
                         mode="count" if count else "first", shrink=not no_shrink,
                         record=True, events=events, watchdog=watchdog)
    if as_json:
        from .provenance import provenance
        d = ex.to_json()
        for extra in ("split", "seeds"):          # --split, --seeds (foliolab/runner)
            if getattr(ex, extra, None):
                d[extra] = getattr(ex, extra)
        d["provenance"] = provenance(ex.settings, sc.era)
        if ex.recording is not None:
            d["vmstat_delta"] = ex.recording.vmstat_delta()
        if events and ex.recording is not None and ex.recording.events is not None:
            d["events"] = ex.recording.to_json()["events"]
        click.echo(json.dumps(d, indent=1))
    else:
        _print_exploration(ex, full, events, mail)
        if procs and ex.outcome == "failure":
            _print_proc_at_failure(ex, sc, patches, procs)
    if ex.interrupted:
        return EXIT_INTERRUPTED
    if ex.outcome in ("nondeterminism", "error"):
        return EXIT_INTERNAL
    return EXIT_FAILURE if ex.outcome == "failure" else EXIT_OK


def _explore_units(fam, sc, v, patches, patch_files, strategy, budget, seed, depth,
                   preemptions, overrides, trace_dir, count, no_shrink, events, progress,
                   watchdog, split, nseeds, jobs, backend, address, run_dir, resume):
    """explore --split (subtrees of the DFS) or --seeds (a seed range) as
    units through the runner (foliolab/runner/drive.py)."""
    from .runner.drive import seed_range, split_dfs
    if split is not None and nseeds is not None:
        raise InputProblem("--split and --seeds do not go together")
    if split is not None and strategy != "dfs":
        raise InputProblem("--split splits the systematic search: it needs --strategy dfs")
    if nseeds is not None and strategy == "dfs":
        raise InputProblem("--seeds: the systematic search has no seed to vary (--split "
                           "splits it)")
    if count or events:
        raise InputProblem("--all and --events are for one exploration, not --split/--seeds")
    files = [os.path.abspath(f) for f in patch_files]
    runner, rd = _runner_and_dir("explore", backend, address, jobs, run_dir, resume,
                                 os.path.join(trace_dir, "runs"))
    try:
        if split is not None:
            ex = split_dfs(runner, sc, fam.name, v.name, patches, files,
                           preemptions=preemptions, seed=seed, settings=overrides,
                           trace_dir=trace_dir, split=split, budget=budget,
                           shrink=not no_shrink, watchdog=watchdog, rundir=rd,
                           progress=progress)
        else:
            ex = seed_range(runner, sc, fam.name, v.name, patches, files, strategy=strategy,
                            seed=seed, seeds=nseeds, budget=budget, depth=depth,
                            settings=overrides, trace_dir=trace_dir, shrink=not no_shrink,
                            watchdog=watchdog, rundir=rd, progress=progress)
    except KeyboardInterrupt:
        _close_run(rd, True, "explore")
        raise
    _close_run(rd, ex.interrupted, "explore")
    return ex


def _check_trace_dir(trace_dir):
    """Before the search: a trace directory that cannot take a trace is an
    input error now, not a failure lost later."""
    from .explore.trace import check_trace_dir
    why = check_trace_dir(trace_dir)
    if why:
        raise InputProblem(f"--trace-dir {why}")


def _print_proc_at_failure(ex, sc, patches, procs):
    """Replay the shown failing schedule (it stops at the failing step) and
    print the /proc files as they read there."""
    from .explore.run import replay_schedule
    from .report.proc import PROC_FILES
    schedule = ex.shrunk.schedule if ex.shown == "shrunk" and ex.shrunk else ex.schedule
    k, res = replay_schedule(sc, patches, ex.settings, schedule)
    _print_procs(k, res, procs)


def _kernel(scenario):
    """The kernel version a scenario's era models ("v5.12"), or None."""
    era = getattr(scenario, "era", None)
    if not era:
        return None
    from .patches.eras import get_era
    return get_era(era).kernel


def _print_procs(k, res, procs):
    from .report.proc import PROC_FILES
    for name in procs:
        click.echo(f"/proc/{name} at step {res.steps}:")
        click.echo(PROC_FILES[name](k), nl=False)
        click.echo("")


def _print_exploration(ex, full, events, mail=False):
    from .report import ftrace_text, header_line, interleaving_table
    if ex.outcome == "failure" and ex.recording is not None:
        idx = ex.schedule_index
        extra = []
        if ex.shrunk is not None:
            extra.append(ex.shrunk.line())
            if ex.failure is not None and ex.shrunk.failure.message != ex.failure.message:
                # the same failure (kind, check, message class), other figures:
                # both are shown, and which is which
                extra.append(f"as found (schedule {idx}, before shrinking): "
                             f"{ex.failure.headline()}")
        if ex.trace_path:
            extra.append(f"replay: foliolab replay {ex.trace_path}")
        failure = ex.recording.failure or ex.failure
        from .report.vmstat import delta_line
        extra.insert(0, delta_line(ex.recording.vmstat_delta(), ex.scenario.era))
        if mail:
            from .report.mail import mail_head, mail_text
            head = mail_head(ex.scenario.slug, ex.label, era=ex.scenario.era,
                             settings=ex.settings, strategy=ex.strategy, seed=ex.seed,
                             schedule_index=idx, shown=ex.shown, actors=ex.scenario.actors)
            click.echo(mail_text(ex.recording, head=head, failure=failure, tail=extra),
                       nl=False)
        else:
            from .provenance import tool_text
            head = header_line(ex.scenario.slug, ex.label, ex.strategy, ex.seed, idx,
                               ex.settings, ex.shown, era=ex.scenario.era)
            from .report.table import legend_lines
            extra += [tool_text()] + legend_lines(getattr(ex.scenario, "legend", None))
            click.echo(interleaving_table(ex.recording, header=head, failure=failure,
                                          extra_lines=extra, full=full), nl=False)
        if events:
            click.echo("")
            click.echo(ftrace_text(ex.recording.events, ex.recording.tasks,
                                   kernel=_kernel(ex.scenario),
                                   ncpus=ex.settings.get("ncpus")), nl=False)
        click.echo("")
    elif ex.outcome == "failure" and ex.trace_path:
        click.echo(f"trace: {ex.trace_path}")
    if ex.trace_error and ex.schedule is not None:
        # the failure is not lost with its trace: its schedule, on stdout
        click.echo(f"trace not written ({ex.trace_error}); the failing schedule "
                   f"(task ids by step; tasks {', '.join(ex.tasks or ())}): "
                   f"{' '.join(map(str, ex.schedule))}")
        if ex.shrunk is not None:
            click.echo(f"shrunk: {' '.join(map(str, ex.shrunk.schedule))}")
    if ex.outcome == "nondeterminism" and ex.trace_path:
        click.echo(f"trace of the failure that did not replay: {ex.trace_path}")
    # with --mail stdout is the mail alone; the search's figures go to stderr
    click.echo(ex.summary(), err=mail)
    if ex.interrupted:
        click.echo("interrupted: the results above cover the schedules explored so far")


# -------------------------------------------------------------------- replay
@cli.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--events", is_flag=True, help="Print the run's tracepoints, ftrace style.")
@click.option("--full", is_flag=True, help="Do not elide repetitive rows of the table.")
@click.option("--original", is_flag=True,
              help="Show the schedule as found, not the shrunk one.")
@click.option("--mail", is_flag=True,
              help="The run as a commit message draws it: one column per CPU, "
                   "72 columns, only the steps that matter.")
@click.option("--proc", "procs", multiple=True,
              type=click.Choice(["buddyinfo", "pagetypeinfo", "vmstat"]),
              help="Print /proc/FILE as it reads at the end of the replayed run.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Write the run as a timeline: a self-contained HTML page.")
@click.option("--perfetto", "perfetto_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Write the run as a Chrome trace (JSON) that "
                                   "ui.perfetto.dev and chrome://tracing open.")
@click.option("--as-test", "as_test", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Write a pytest regression test that replays the trace "
                                   "(the trace is embedded in it).")
@click.option("--litmus", "as_litmus", is_flag=True,
              help="Print the failing run as a C litmus test (its shared words, accesses "
                   "and barriers), for herd7.")
@family_file_option
def replay(trace, as_json, events, full, original, mail, procs, html_file, perfetto_file,
           as_test, as_litmus):
    """Replay a trace file exactly and show its interleaving table."""
    from .explore import replay as run_replay
    if as_litmus:
        from .litmus.export import export_trace
        r = run_replay(trace, record=False, original=original)
        if r.outcome in ("nondeterminism", "error"):
            raise InputProblem(f"{trace}: the trace does not replay ({r.outcome})")
        text = export_trace(r)
        if text is None:
            raise InputProblem(f"{trace}: no Shared word is written by one task and read "
                               "by another: nothing to export")
        click.echo(text, nl=False)
        return EXIT_OK
    from .report import ftrace_text, header_line, interleaving_table
    from .explore.watchdog import watchdog
    t0 = time.perf_counter()
    with watchdog(WATCHDOG_SECONDS):
        r = run_replay(trace, record=True, events=events, original=original)
    secs = time.perf_counter() - t0
    tr = r.trace
    for note in r.notes:
        click.echo(f"foliolab: note: {note}", err=True)
    _write_views(r, trace, html_file, perfetto_file, as_test)
    if as_json:
        from .provenance import provenance
        d = r.to_json()
        d["seconds"] = round(secs, 6)
        d["provenance"] = provenance(r.settings, r.scenario.era if r.scenario else None)
        if r.recording is not None:
            d["vmstat_delta"] = r.recording.vmstat_delta()
        if events and r.recording is not None:
            d["events"] = r.recording.to_json()["events"]
        click.echo(json.dumps(d, indent=1))
    else:
        if r.outcome == "nondeterminism":
            click.echo(f"{trace}: NONDETERMINISM (a foliolab bug, not a kernel bug): "
                       f"{r.nondeterminism}")
        elif r.outcome == "error":
            click.echo(f"{trace}: ERROR: {r.error}")
        else:
            strat = tr["strategy"]
            sdesc = strat.get("name", "?")
            if "depth" in strat:
                sdesc += f"(d={strat['depth']})"
            elif "preemptions" in strat:
                sdesc += f"(k={strat['preemptions']})"
            head = header_line(r.scenario.slug, r.trace.get("label") or r.variant, sdesc, tr.get("seed"),
                               tr.get("schedule_index"), r.settings, r.shown,
                               era=r.scenario.era)
            extra = []
            sh = tr.get("shrunk")
            if sh and r.shown == "shrunk":
                n = sh.get("preemptions", 0)
                ps = sh.get("preemption_steps") or []
                where = f" (step{'s' if len(ps) > 1 else ''} {', '.join(map(str, ps))})" if ps else ""
                op = sh.get("original_preemptions")
                found = f"{op} preemption{'s' if op != 1 else ''}, " if op is not None else ""
                extra.append(f"shrunk: {n} preemption{'s' if n != 1 else ''}{where}, "
                             f"{sh.get('steps')} steps (as found: schedule "
                             f"{tr.get('schedule_index')}, {found}{len(tr['schedule'])} steps)")
            if r.outcome == "failure":
                extra.append(f"reproduced: same failure at step {r.failure.step}")
            if r.recording is not None:
                from .report.vmstat import delta_line
                extra.append(delta_line(r.recording.vmstat_delta(), r.scenario.era))
            if mail:
                from .report.mail import mail_head, mail_text
                mhead = mail_head(r.scenario.slug, r.trace.get("label") or r.variant,
                                  era=r.scenario.era, settings=r.settings, strategy=sdesc,
                                  seed=tr.get("seed"), schedule_index=tr.get("schedule_index"),
                                  shown=r.shown, actors=r.scenario.actors)
                extra.append(f"replay: foliolab replay {trace}")
                click.echo(mail_text(r.recording, head=mhead, failure=r.failure,
                                     tail=extra), nl=False)
            else:
                from .provenance import tool_text
                from .report.table import legend_lines
                extra += [tool_text()] + legend_lines(getattr(r.scenario, "legend", None))
                click.echo(interleaving_table(r.recording, header=head, failure=r.failure,
                                              extra_lines=extra, full=full), nl=False)
            if events:
                click.echo("")
                click.echo(ftrace_text(r.recording.events, r.recording.tasks,
                                       kernel=_kernel(r.scenario),
                                       ncpus=r.settings.get("ncpus")), nl=False)
            if procs:
                from .explore.run import replay_schedule
                click.echo("")
                k, res = replay_schedule(r.scenario, r.patches, r.settings, r.schedule)
                _print_procs(k, res, procs)
    if r.outcome in ("nondeterminism", "error"):
        return EXIT_INTERNAL
    return EXIT_FAILURE if r.outcome == "failure" else EXIT_OK


def _write_views(r, trace, html_file, perfetto_file, as_test):
    """replay --html / --perfetto / --as-test: written before the table."""
    if as_test:
        from .pytest_plugin import regression_test_source
        _write_text(as_test, regression_test_source(trace, r))
        click.echo(f"regression test: {as_test}", err=True)
    if r.recording is None or not (html_file or perfetto_file):
        return
    from .report.timeline import chrome_trace_json, html_timeline
    title = f"{r.scenario.slug} ({r.trace.get('label') or r.variant})"
    if perfetto_file:
        _write_text(perfetto_file, chrome_trace_json(r.recording, failure=r.failure,
                                                     title=title))
    if html_file:
        from .provenance import tool_text
        _write_text(html_file, html_timeline(r.recording, failure=r.failure, title=title,
                                             meta=f"{tool_text()}; {r.shown} schedule of {trace}"))


def _write_text(path, text):
    try:
        d = os.path.dirname(path)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise InputProblem(f"{path}: {e.strerror or e}") from None


@cli.command("litmus")
@click.argument("files", nargs=-1, required=True)
@click.option("--model", "models", default="sc,tso,lkmm", show_default=True,
              help="Memory models, comma-separated.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def litmus_cmd(files, models, as_json):
    """Run C litmus tests (the kernel's herd7 dialect) under the memory
    models with exhaustive DFS; exit 1 when a verdict differs from the
    test's "Result:" line."""
    from .litmus.reader import LitmusError
    from .litmus.table import parse_models, render, run_files, to_json
    try:
        mdl = parse_models(models)
        rows = run_files(files, mdl)
    except LitmusError as e:
        raise InputProblem(str(e)) from None
    if as_json:
        click.echo(json.dumps(to_json(rows, mdl), indent=1))
    else:
        click.echo(render(rows, mdl), nl=False)
    return EXIT_FAILURE if any(bad for *_x, bad in rows) else EXIT_OK


# ------------------------------------------------------- compare / reproduce
def _work_argv(argv):
    """The command line without the options that change where and how the
    work is shown, not what it computes: the run's fingerprint."""
    out = []
    skip = 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        name = a.split("=", 1)[0]
        if name in _DISPLAY_ONLY:
            skip = _DISPLAY_ONLY[name] if "=" not in a else 0
            continue
        out.append(a)
    return out


def _resume_argv(argv):
    """``foliolab CMD --resume RUN`` takes the rest of its command line from
    RUN/run.json (options that only change where and how the work runs may
    be given again)."""
    if not argv:
        return argv
    path = None
    for i, a in enumerate(argv):
        if a == "--resume" and i + 1 < len(argv):
            path = argv[i + 1]
        elif a.startswith("--resume="):
            path = a.split("=", 1)[1]
    if path is None or len(_work_argv(argv)) > 1:
        return argv                     # a whole command line: the fingerprint decides
    from .runner import load_header
    hdr = load_header(path)
    if not hdr["argv"] or hdr["argv"][0] != argv[0]:
        raise InputProblem(f"--resume {path}: the run was made by "
                           f"`foliolab {' '.join(hdr['argv'])}`, not by {argv[0]}")
    return hdr["argv"] + argv[1:]


def _runner_and_dir(command, backend, address, jobs, run_dir, resume, default_parent):
    """The runner and the run directory (None: not journaled) of a command."""
    from .runner import make_runner
    from .runner.drive import open_rundir
    runner = make_runner(backend, jobs, address)
    argv = list(_RUN_ARGV) or [command]
    rd = open_rundir(command, argv, _work_argv(argv),
                     run_dir=run_dir or default_parent, resume=resume)
    return runner, rd


def _close_run(rd, interrupted, command):
    if rd is None:
        return
    rd.close()
    if interrupted:
        click.echo(f"foliolab: interrupted; what finished is in {rd.path}: "
             f"foliolab {command} --resume {rd.path} continues it", err=True)


# ------------------------------------------------------- compare / reproduce
def _cell_groups(cells):
    """The cells as groups for the worker processes: cells of one scenario
    whose first schedule looks up the same functions (the same code under
    the same names, the same init hooks) go together; every other cell
    alone, so that a finished cell is shown as soon as it is done.  Only a
    prediction: the cache itself decides on the whole exploration's
    lookups."""
    from .engine.kernel import record_lookups, table_provenance
    from .explore import explore
    from .scenarios.base import NA
    groups = {}
    for i, (s, _col, vname, patches, e, _judged, kw) in enumerate(cells):
        key = ("cell", i)
        if e.outcome != NA:
            try:
                with record_lookups() as names:
                    explore(s, vname, patches, "random", 1, 0, settings=kw["settings"],
                            trace_dir=None, progress=False, family=kw["family"],
                            shrink=False, record=False)
                prov = table_provenance(patches)
                key = (s.slug, e.outcome, e.preemptions, tuple(e.witness),
                       tuple(h for p in patches for h in p.init_hooks),
                       frozenset((n, prov.get(n)) for n in names))
            except Exception:                     # the cell itself will say what is wrong
                pass
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _run_table(fam, scenarios, columns, *, budget, dfs_budget, seed, trace_dir,
               progress, runner, settings_by_scenario=None, rundir=None, patch_files=()):
    """columns: [(column name, variant name, patches, judged)] -> rows.
    Cells are independent (fixed seeds): every runner (foliolab/runner) and
    every number of workers gives the same table.  ``patch_files``: the
    user's patch files of the unjudged columns (workers load them)."""
    from .runner import InlineRunner
    from .runner.drive import run_cells
    from .scenarios.base import NA, SAFE, Expect
    cells = []
    payloads = []
    for s in scenarios:
        for col, vname, patches, judged in columns:
            e = s.expect(vname)
            if not judged and e.outcome != NA:
                # no expectation for a user's patch: certify with the
                # largest bound the scenario's safe cells are certified with
                # (what the search affords there), 2 if none is safe
                bounds = [x.preemptions for x in s.expected.values() if x.outcome == SAFE]
                e = Expect(SAFE, preemptions=max(bounds) if bounds else 2)
            kw = dict(family=fam.name, budget=budget, dfs_budget=dfs_budget, seed=seed,
                      trace_dir=trace_dir, watchdog=WATCHDOG_SECONDS,
                      settings=(settings_by_scenario or {}).get(s.slug))
            payloads.append({"index": len(cells), "family": fam.name, "scenario": s.slug,
                             "variant": vname, "expect": e, "judged": judged, "kw": kw,
                             "patch_files": [] if judged else
                             [os.path.abspath(f) for f in patch_files]})
            cells.append((s, col, vname, patches, e, judged, kw))
    # in-process every cell is a unit of its own, in table order (the
    # process's cell cache spans them all); worker processes get groups
    if isinstance(runner, InlineRunner) or len(cells) < 2:
        groups = [[i] for i in range(len(cells))]
    else:
        groups = _cell_groups(cells)
    results, interrupted = run_cells(runner, payloads, groups, rundir=rundir,
                                     progress=progress, desc=fam.name)
    rows = []
    i = 0
    for s in scenarios:
        row = {}
        for col, _, _, _ in columns:
            if i in results:                # missing: not computed (Ctrl-C)
                row[col] = results[i]
            i += 1
        if row:
            rows.append((s.slug, row))
    return rows, interrupted


def _table_json(fam, columns, rows):
    from .provenance import provenance
    return {"family": fam.name, "provenance": provenance(None, getattr(fam, "era", None)),
            "columns": [c[0] for c in columns],
            "cells": [v.to_json() for _, row in rows for v in row.values()]}


_table_options = [
    click.option("--budget", "-n", type=click.IntRange(min=1, max=BUDGET_MAX), default=225,
                 show_default=True,
                 help="Portfolio schedules of a cell expected safe (its certificate "
                      "decides); 8 times that where a failure is expected or the column is "
                      "a user's patch (1,800 by default)."),
    click.option("--dfs-budget", type=click.IntRange(min=1, max=BUDGET_MAX), default=100_000,
                 show_default=True, help="Schedules for the DFS certificate."),
    click.option("--seed", type=click.IntRange(min=0, max=SEED_MAX), default=0,
                 show_default=True),
    click.option("--trace-dir", default="traces", show_default=True),
    click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout."),
    click.option("--no-progress", is_flag=True, help="No progress bar."),
    click.option("--jobs", "-j", type=click.IntRange(min=1, max=JOBS_MAX), default=None,
                 help="Worker processes for the cells (default: the number of CPUs)."),
    click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                 help="Override a setting of every scenario (memory_model, ncpus, preempt, "
                      "...); the JSON records every cell's settings."),
]


def _settings_by_scenario(scenarios, sets):
    return {s.slug: parse_settings(s, sets) for s in scenarios} if sets else None


def _with_table_options(f):
    for opt in reversed(_table_options + _scaleout_options):
        f = opt(f)
    return f


@cli.command()
@click.argument("target", metavar="SCENARIO|FAMILY")
@click.option("--variant", "-V", "variants", multiple=True,
              help="Variants to compare (default: all of the family).")
@click.option("--patch", "patch_files", multiple=True, metavar="FILE",
              help="A patch file: adds a column V+file for each variant given "
                   "(the baseline if none is given).")
@_with_table_options
@family_file_option
def compare(target, variants, patch_files, budget, dfs_budget, seed, trace_dir,
            as_json, no_progress, jobs, sets, backend, address, run_dir, resume):
    """Variant x scenario verdict table for a family or one scenario."""
    from .explore.registry import (
        default_variant, families, find_scenario, find_variant, variant_label,
        variant_patches,
    )
    from .report import verdict_table
    from .scenarios import LookupFailure
    fams = families()
    if target in fams:
        fam = fams[target]
        scenarios = list(fam.scenarios)
    else:
        try:
            fam, sc = find_scenario(target)
        except LookupFailure:
            raise InputProblem(
                f"unknown family or scenario {target!r} (families: {', '.join(fams)}; "
                f"scenarios: {', '.join(s.slug for f in fams.values() for s in f.scenarios)})"
            ) from None
        scenarios = [sc]
    chosen = [find_variant(fam, vn) for vn in variants] or list(fam.variants.values())
    user = load_user_patches(patch_files)
    columns = [(v.name, v.name, variant_patches(v), True) for v in chosen]
    if user:
        bases = chosen if variants else [default_variant(fam)]
        for v in bases:
            columns.append((variant_label(v.name, user), v.name, variant_patches(v) + user, False))
            warn_stacking(columns[-1][0], columns[-1][2])
    _check_trace_dir(trace_dir)
    settings_by = _settings_by_scenario(scenarios, sets)
    runner, rd = _runner_and_dir("compare", backend, address, jobs, run_dir, resume,
                                 os.path.join(trace_dir, "runs"))
    t0 = time.perf_counter()
    try:
        rows, interrupted = _run_table(fam, scenarios, columns, budget=budget,
                                       dfs_budget=dfs_budget, seed=seed, trace_dir=trace_dir,
                                       progress=_progress_wanted(no_progress, as_json),
                                       settings_by_scenario=settings_by, runner=runner,
                                       rundir=rd, patch_files=patch_files)
    except KeyboardInterrupt:
        _close_run(rd, True, "compare")
        raise
    _close_run(rd, interrupted, "compare")
    secs = time.perf_counter() - t0
    ok = all(v.as_expected for _, row in rows for v in row.values())
    if as_json:
        d = {"outcome": "as-expected" if ok else "unexpected", "seconds": round(secs, 3),
             "interrupted": interrupted,
             "schedules": sum(v.schedules for _, row in rows for v in row.values()),
             # a patch of the user's own has no expected outcome: its
             # columns are results, not part of "as-expected"
             "unjudged": [c[0] for c in columns if not c[3]],
             "families": [_table_json(fam, columns, rows)]}
        click.echo(json.dumps(d, indent=1))
    else:
        click.echo(verdict_table(fam.name, [c[0] for c in columns], rows,
                                 trace_dir=trace_dir, interrupted=interrupted,
                                 era=getattr(fam, "era", None)), nl=False)
    if interrupted:
        return EXIT_INTERRUPTED
    return _table_status(ok, [v for _, row in rows for v in row.values()])


def _table_status(ok, cells):
    """0 every cell as expected, 3 a cell raised or did not replay (an
    exception in the model or a user's patch, nondeterminism), 1 otherwise."""
    if any(v.outcome in ("error", "nondeterminism") for v in cells):
        return EXIT_INTERNAL
    return EXIT_OK if ok else EXIT_FAILURE


@cli.command()
@click.option("--family", "-f", "family_names", multiple=True, metavar="NAME|FILE",
              help="Only these families (default: all): a family's name, or a family "
                   "file of your own (docs/writing-a-family.md).")
@click.option("--lkmm", "lkmm_diff", is_flag=True,
              help="Also run every cell under memory_model=lkmm and show the cells whose "
                   "verdict differs as a table of their own (doubles the time).")
@_with_table_options
def reproduce(family_names, lkmm_diff, budget, dfs_budget, seed, trace_dir, as_json,
              no_progress, jobs, sets, backend, address, run_dir, resume):
    """Every scenario of every family under every variant: the fidelity
    table.  Exit 0 when every cell is as expected, 1 otherwise."""
    from .explore.registry import families, find_family, load_family_file, variant_patches
    from .report import verdict_table
    fams = []
    for n in family_names:
        if n.endswith(".py") or os.sep in n or (os.path.isfile(n) and n not in families()):
            fams += load_family_file(n)
        else:
            fams.append(find_family(n))
    fams = fams or list(families().values())
    _check_trace_dir(trace_dir)
    settings_by = {fam.name: _settings_by_scenario(fam.scenarios, sets) for fam in fams}
    runner, rd = _runner_and_dir("reproduce", backend, address, jobs, run_dir, resume,
                                 os.path.join(trace_dir, "runs"))
    t0 = time.perf_counter()
    tables = []
    ok = True
    interrupted = False
    for fam in fams:
        columns = [(v.name, v.name, variant_patches(v), True) for v in fam.variants.values()]
        if rd is not None:
            rd.prefix = fam.name + "/"        # cell keys are per family
        rows, interrupted = _run_table(fam, list(fam.scenarios), columns, budget=budget,
                                       dfs_budget=dfs_budget, seed=seed, trace_dir=trace_dir,
                                       progress=_progress_wanted(no_progress, as_json),
                                       settings_by_scenario=settings_by[fam.name],
                                       runner=runner, rundir=rd)
        ok = ok and all(v.as_expected for _, row in rows for v in row.values())
        tables.append((fam, columns, rows))
        if not as_json:
            click.echo(verdict_table(fam.name, [c[0] for c in columns], rows,
                                     trace_dir=trace_dir, interrupted=interrupted,
                                     era=getattr(fam, "era", None)))
        if lkmm_diff and not interrupted:
            from .report.model_diff import diff_rows, diff_table
            rows2, interrupted = _run_table(
                fam, list(fam.scenarios), columns, budget=budget, dfs_budget=dfs_budget,
                seed=seed, trace_dir=trace_dir, progress=_progress_wanted(no_progress, as_json),
                settings_by_scenario=_settings_by_scenario(
                    fam.scenarios, list(sets) + ["memory_model=lkmm"]),
                runner=runner, rundir=None)     # not journaled: its keys are the tso run's
            diffs = diff_rows(rows, rows2)
            ncells = sum(1 for _, row in rows for v in row.values() if v.outcome != "n/a")
            if not as_json:
                click.echo(diff_table(fam.name, diffs, ncells))
        if interrupted:
            break
    secs = time.perf_counter() - t0
    _close_run(rd, interrupted, "reproduce")
    if as_json:
        d = {"outcome": "as-expected" if ok else "unexpected", "seconds": round(secs, 3),
             "interrupted": interrupted,
             "schedules": sum(v.schedules for _, _, rows in tables
                              for _, row in rows for v in row.values()),
             "families": [_table_json(f, c, r) for f, c, r in tables]}
        click.echo(json.dumps(d, indent=1))
    elif not fams:
        click.echo("no scenario families")
    if interrupted:
        return EXIT_INTERRUPTED
    return _table_status(ok, [v for _, _, rows in tables for _, row in rows for v in row.values()])


# --------------------------------------------------------------------- measure
def _measure_params(exp, sets):
    """--set key=value for a measure experiment: its parameters and the
    machine settings, typed by their defaults."""
    from .measure.run import MEASURE_MACHINE
    known = dict(MEASURE_MACHINE)
    known.update(exp.defaults)
    out = {}
    for item in sets:
        key, text = _key_value("--set", item)
        if key not in known:
            raise InputProblem(f"--set {key}: unknown parameter of {exp.name} "
                               f"(known: {', '.join(sorted(known))})")
        typ = type(known[key])
        out[key] = _parse_value(key, typ if typ in (bool, int, float) else str, text)
    params = exp.params(out)
    from .measure.run import MM_SETTINGS
    from .scenarios.base import validate_settings
    validate_settings(dict(MEASURE_MACHINE, **{k: params[k] for k in (*MEASURE_MACHINE, *MM_SETTINGS)
                                               if k in params}))
    for key in ("ncpus", "cma_allocs", "cma_alloc_pages", "zone_pages", "pagevec_size"):
        if key in params and params[key] < 1:
            raise InputProblem(f"--set {key}={params[key]}: must be at least 1")
    if "cma_alloc_pages" in params and params["cma_alloc_pages"] > params["cma_pages"]:
        raise InputProblem(f"--set cma_alloc_pages={params['cma_alloc_pages']}: larger than "
                           f"the CMA area ({params['cma_pages']} pages)")
    if not 1 <= params["ncpus"] <= 64:
        raise InputProblem(f"--set ncpus={params['ncpus']}: must be 1..64")
    return out


def _measure_costs(cost_file, cost_items):
    from .measure.costs import CostError, CostModel
    extra = dict(_key_value("--cost", item, "kind=ns") for item in cost_items)
    try:
        if cost_file:
            return CostModel.from_file(cost_file, extra)
        return CostModel(extra)
    except CostError as e:
        raise InputProblem(str(e)) from None


@cli.command()
@click.argument("experiment", required=False)
@click.option("--list", "list_", is_flag=True, help="List the experiments.")
@click.option("--variant", "-V", "variants", multiple=True,
              help="Variants to compare (default: the experiment's); the first is the baseline.")
@click.option("--seeds", type=click.IntRange(min=1, max=100_000), default=None,
              help="Runs per variant (default: the experiment's).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="An experiment parameter or machine setting (see --list).")
@click.option("--cost", "cost_items", multiple=True, metavar="KIND=NS",
              help="Override one cost of the cost model (ns).")
@click.option("--cost-file", type=click.Path(dir_okay=False), default=None,
              help="A JSON object of kind -> ns overriding the cost model.")
@family_file_option
@click.option("--plot", "plot_dir", default=None, metavar="DIR",
              help="Run the experiment's sweep too and write its plot (PNG, SVG) to DIR.")
@click.option("--trace", "trace_dir", default=None, metavar="DIR",
              help="Write seed 0's tracepoints of each variant to DIR, ftrace text with "
                   "simulated timestamps.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--jobs", "-j", type=click.IntRange(min=1, max=JOBS_MAX), default=None,
              help="Worker processes (default: one per CPU).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@_with_scaleout_options
def measure(experiment, list_, variants, seeds, sets, cost_items, cost_file, plot_dir,
            trace_dir, as_json, jobs, no_progress, backend, address, run_dir, resume):
    """How often it happens under a workload: counters, rates and latencies
    in simulated time, with intervals (see docs/measure.md)."""
    from .explore.registry import find_family, find_variant
    from .measure.experiments import EXPERIMENTS, find_experiment
    from .measure.session import Measurement, default_jobs
    from .measure.table import render
    if list_ or not experiment:
        if as_json:
            click.echo(json.dumps({n: {"title": e.title, "anchor": e.anchor,
                                       "variants": list(e.variants), "seeds": e.seeds,
                                       "params": e.defaults, "sweep": list(e.sweep)}
                                   for n, e in EXPERIMENTS.items()}, indent=1))
            return EXIT_OK
        for n, e in EXPERIMENTS.items():
            click.echo(f"{n:16s} {e.title}")
            click.echo(f"{'':16s} anchor: {e.anchor}")
            click.echo(f"{'':16s} variants: {', '.join(e.variants)}; {e.seeds} seeds"
                       + (f"; sweep {e.sweep[0]} {list(e.sweep[1])}" if e.sweep else ""))
            click.echo(f"{'':16s} parameters: " + ", ".join(f"{k}={v}" for k, v in e.defaults.items()))
        if not list_:
            raise InputProblem("name an experiment (foliolab measure --list)")
        return EXIT_OK
    exp = find_experiment(experiment)
    fam = find_family(exp.family)
    variants = variants or exp.variants
    for v in variants:
        find_variant(fam, v)
    overrides = _measure_params(exp, sets)
    costs = _measure_costs(cost_file, cost_items)
    params = exp.params(overrides)
    for d, what in ((plot_dir, "--plot"), (trace_dir, "--trace")):
        # checked before the runs: a bad directory must not cost the results
        if d:
            try:
                os.makedirs(d, exist_ok=True)
            except OSError as e:
                raise InputProblem(f"{what} {d}: {e.strerror}") from None
            if not os.access(d, os.W_OK):
                raise InputProblem(f"{what} {d}: not writable")
    sweep_values = exp.sweep[1] if (plot_dir and exp.sweep) else ()
    meas = Measurement(exp, variants, seeds or exp.seeds, params, costs, sweep_values,
                       trace=bool(trace_dir))
    bar = None
    if _progress_wanted(no_progress, as_json):
        from tqdm import tqdm
        bar = tqdm(total=meas.total(), file=sys.stderr, unit="run", leave=False,
                   desc=exp.name)

    def progress(done, total):
        if bar is not None:
            bar.update(1)

    def on_result(r):
        # written as soon as the run ends: an interruption loses nothing
        if trace_dir and "trace" in r:
            from .report.events import ftrace_text
            os.makedirs(trace_dir, exist_ok=True)
            path = os.path.join(trace_dir, f"{exp.name}-{r['variant']}-seed{r['seed']}.txt")
            with open(path, "w") as f:
                f.write(ftrace_text(r["trace"], r["pids"], timed=True))
            r["trace_file"] = path
            del r["trace"]
    from .runner.drive import measure_runs
    runner, rd = _runner_and_dir("measure", backend, address, jobs or default_jobs(),
                                 run_dir, resume, "runs")
    try:
        measure_runs(runner, meas, rundir=rd, progress=progress, on_result=on_result)
    finally:
        if bar is not None:
            bar.close()
        _close_run(rd, meas.interrupted, "measure")
    summary = meas.summary()
    summary["cost_overrides"] = costs.overrides()
    files = []
    if plot_dir and summary.get("sweep"):
        from .measure.plot import plot_sweep
        files = plot_sweep(summary, plot_dir)
        summary["plots"] = files
    if as_json:
        for v in summary["variants"].values():
            for row in v["rows"].values():
                if row and "values" in row:
                    row["values"] = [int(x) for x in row["values"]]
        click.echo(json.dumps(summary, indent=1, default=float))
    else:
        click.echo(render(summary, exp, files))
        for (value, variant, seed), r in sorted(meas.results.items(), key=lambda kv: kv[0][1:]):
            if r.get("trace_file"):
                click.echo(f"trace: {r['trace_file']}")
    if meas.interrupted:
        _err("interrupted: the table covers the runs that finished")
        return EXIT_INTERRUPTED
    return EXIT_OK


# ---------------------------------------------------------------------- main
def _own_sigint():
    """Ctrl-C raises KeyboardInterrupt, whatever the parent left us: a shell
    running us in the background (or nohup) hands down an ignored SIGINT,
    and the exploration could then never be interrupted."""
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv=None):
    """Entry point: runs the command and exits with its status."""
    sys.exit(run(argv))


def run(argv=None):
    """Run the command line; returns the exit status (no SystemExit)."""
    _own_sigint()
    errors = _input_errors()
    global _RUN_ARGV
    try:
        argv = _resume_argv(list(sys.argv[1:] if argv is None else argv))
        _RUN_ARGV = list(argv)
        rv = cli.main(args=argv, prog_name="foliolab", standalone_mode=False)
    except _NO_ARGS_IS_HELP as e:  # click >= 8.2
        # the help on stdout, the error in one line on stderr
        if e.ctx:
            click.echo(e.ctx.get_help())
        _err("no command given (the commands are listed above)")
        return EXIT_USAGE
    except click.exceptions.UsageError as e:
        _err(_one_line(e.format_message()))
        return EXIT_USAGE
    except click.exceptions.Abort:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except click.ClickException as e:
        _err(_one_line(e.format_message()))
        return e.exit_code if e.exit_code else EXIT_USAGE
    except errors as e:
        _err(_one_line(str(e)))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:
        if os.environ.get("FOLIOLAB_DEBUG"):
            raise
        _err(f"internal error: {type(e).__name__}: {_one_line(str(e))} "
             f"(set FOLIOLAB_DEBUG=1 for the traceback)")
        return EXIT_INTERNAL
    if isinstance(rv, int):
        return rv
    return EXIT_OK


def _one_line(text):
    return " ".join(str(text).split())


if __name__ == "__main__":
    main()
