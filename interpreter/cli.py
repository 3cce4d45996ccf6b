"""The command line, ``campaign``: the only module that imports click.

Each command is thin: it loads, calls a stage, renders, and picks an exit
code (LANGUAGE.md §10-§11): 0 clean, 1 when the input has an error (or a
warning with ``--strict``, a file ``fmt --check`` would change, a failing
test), 2 when the command could not run (no such file, bad options).
Heavy modules (the engine, rich, prompt_toolkit) are imported inside the
commands that need them, so ``campaign check`` starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__
from .errors import CampaignError, LoadError


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _color(ctx_stream=None) -> bool:
    return sys.stdout.isatty()


class _Group(click.Group):
    """The ``campaign`` group: refuses an argument that is not text before
    any command sees it. On POSIX, Python hands over bytes that are not UTF-8
    as lone surrogates (``\\udcff``), which no store, file or terminal can
    take (docs/security.md)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for n, arg in enumerate(args, 1):
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                _fail(f"argument {n} ({shown}) is not UTF-8 text")
        return super().parse_args(ctx, args)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="campaign")
def main() -> None:
    """campaignlang: Marketo-style smart campaigns as code.

    Check, format, test and simulate .campaign files.
    """


# --- language core commands -------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Count warnings as errors for the exit code.")
def check(paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check .campaign files (and their imports) for errors."""
    from .check import check as run_check
    from .loader import load_paths
    from .render import render_json, render_text, summary_line

    try:
        loaded = load_paths(paths)
    except LoadError as exc:
        _fail(str(exc))
    result = run_check(loaded)
    diags = result.diagnostics
    if fmt == "json":
        click.echo(render_json(diags))
    else:
        if diags:
            click.echo(render_text(diags, result.sources, color=_color()))
            click.echo()
        files = len(loaded.results)
        click.echo(f"checked {files} file{'s' if files != 1 else ''}: {summary_line(diags)}")
    failing = any(d.is_error for d in diags) or (strict and diags)
    sys.exit(1 if failing else 0)


@main.command("parse")
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def parse_cmd(path: str, fmt: str) -> None:
    """Print the syntax tree of one file, with spans."""
    from . import ast
    from .loader import read_text
    from .parse import parse
    from .render import render_text
    from pathlib import Path

    try:
        text = read_text(Path(path))
    except LoadError as exc:
        _fail(str(exc))
    result = parse(text, path)
    if result.diagnostics:
        click.echo(render_text(result.diagnostics, {path: result.source}, color=_color()), err=True)
    if fmt == "json":
        click.echo(json.dumps(ast.dump(result.module), indent=2, ensure_ascii=False))
    else:
        click.echo(repr(result.module))
    sys.exit(0 if result.ok else 1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Print what would change as a unified diff.")
def fmt(paths: tuple[str, ...], check_only: bool, show_diff: bool) -> None:
    """Format .campaign files in the canonical layout, keeping comments."""
    import difflib
    from pathlib import Path

    from .errors import DiagnosticError
    from .format import format_source
    from .loader import expand_paths, read_text, write_inside_root
    from .render import render_text
    from .source import SourceFile

    try:
        scan = expand_paths(paths)
    except LoadError as exc:
        _fail(str(exc))
    files = list(scan.files)
    changed = broken = unread = 0
    for skipped, why in scan.skipped:
        unread += 1
        click.echo(f"error: not read: {skipped} is {why}", err=True)
    for f in files:
        try:
            text = read_text(f)
        except LoadError as exc:
            _fail(str(exc))
        try:
            out = format_source(text, str(f))
        except DiagnosticError as exc:
            broken += 1
            click.echo(render_text(exc.diagnostics, {str(f): SourceFile(str(f), text)}, color=_color()), err=True)
            continue
        if out == text:
            continue
        changed += 1
        if show_diff:
            click.echo("".join(difflib.unified_diff(text.splitlines(True), out.splitlines(True),
                                                    f"{f} (original)", f"{f} (formatted)")), nl=False)
        if check_only:
            click.echo(f"would reformat {f}", err=True)
        elif not show_diff:
            try:
                write_inside_root(f, out)
            except LoadError as exc:
                changed -= 1
                unread += 1
                click.echo(f"error: {exc}", err=True)
                continue
            click.echo(f"formatted {f}")
    total = len(files)
    verb = "would change" if (check_only or show_diff) else "changed"
    click.echo(f"{total} file{'s' if total != 1 else ''} checked, {changed} {verb}"
               + (f", {broken} with syntax errors" if broken else "")
               + (f", {unread} not read or written" if unread else ""), err=check_only)
    sys.exit(1 if broken or unread or (check_only and changed) else 0)


# --- checker commands (graph, explain --token) --------------------------------


def _check_path(path: str):
    """Load and check PATH: (loaded, check result). A file that cannot be
    read stops the command (exit 2)."""
    from .check import check as run_check
    from .loader import load_paths

    try:
        loaded = load_paths([path])
    except LoadError as exc:
        _fail(str(exc))
    return loaded, run_check(loaded)


def _load_checked(path: str):
    """Load and check PATH for a command that reads its model; syntax and
    import errors stop the command (exit 1), other findings do not."""
    from .render import render_text

    loaded, result = _check_path(path)
    if not loaded.ok:
        click.echo(render_text(loaded.diagnostics, result.sources, color=False), err=True)
        _fail(f"{path} has syntax or import errors (see campaign check)", 1)
    return result


@main.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid"]), default="dot", show_default=True)
def graph(path: str, fmt: str) -> None:
    """Print the execute (solid) / request (dashed) call graph, with depth levels."""
    from .graph import render_graph

    result = _load_checked(path)
    click.echo(render_graph(result.model, fmt), nl=False)


@main.command()
@click.argument("path", type=click.Path())
@click.argument("campaign")
@click.option("--token", "tokens", multiple=True, metavar="my.X",
              help="The My Token to explain (repeatable); default: every one the campaign uses.")
@click.option("--person", metavar="EMAIL", help="Explain why this person did or did not qualify.")
@click.option("--db", type=click.Path(), help="The SQLite store (with --person).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(path: str, campaign: str, tokens: tuple[str, ...], person: str | None, db: str | None,
            fmt: str) -> None:
    """Explain how CAMPAIGN's tokens resolve, per call path (CAMPAIGN is
    '"Program"."Campaign"' or "Program/Campaign")."""
    if person is not None:
        # why this person did or did not qualify: computed on a copy of the
        # store, so explaining writes nothing
        from .engine import explain_person, render_explanation

        engine = _open_engine(_program_or_exit(path), db)
        try:
            report = explain_person(engine, campaign, person)
        except CampaignError as exc:
            _fail(str(exc))
        click.echo(json.dumps(report, indent=2, default=str) if fmt == "json" else render_explanation(report))
        return
    from .explain import explain_token, find_campaign, render_reports, tokens_used

    result = _load_checked(path)
    target, why = find_campaign(result.model, campaign)
    if target is None:
        _fail(why or f"no campaign {campaign!r}")
    names = list(tokens) or tokens_used(result.model, target, result.refs)
    if not names:
        click.echo(f"{target.qualname} uses no My Token and its scope declares none", err=True)
        sys.exit(0)
    reports = [explain_token(result.model, target, n, result.graph) for n in names]
    click.echo(render_reports(reports, fmt))

# --- engine commands (run, request, events, people, plan, explain --person) -----


def _program_or_exit(path: str):
    """Load and check PATH; a program with errors is refused (exit 1)."""
    from .render import render_text

    _, result = _check_path(path)
    if result.program is None:
        click.echo(render_text(result.errors, result.sources, color=_color()), err=True)
        _fail(f"{path} has errors; the engine runs only a program without errors (see campaign check)", 1)
    return result.program


def _open_engine(program, db: str | None, memory_note: bool = True, dry_run: bool = False):
    from .engine import Engine
    from .store import Store

    try:
        if db is None:
            if memory_note:
                click.echo("using a store in memory (pass --db FILE to keep it)", err=True)
            store = Store(":memory:")
        elif dry_run:   # read the file as it is, then work on a copy in memory
            if not Path(db).exists():
                _fail(f"no store {db}: plan reads a store and writes nothing (leave out --db to "
                      f"plan against the people of --people alone)")
            original = Store(db)
            store = original.copy_to_memory()
            original.close()
        else:
            store = Store(db)
        return Engine(program, store)
    except CampaignError as exc:
        _fail(str(exc))


def _interrupted(engine, mark: int,
                 rolled_back: str = "interrupted: the action was rolled back; the store is as it was") -> NoReturn:
    """Ctrl-C: say truly whether the action had been saved (the interrupt may
    come after its commit, while the report is written)."""
    if engine.store.commits > mark:
        _fail("interrupted after the action was saved; the store holds its changes", 130)
    _fail(rolled_back, 130)


def _tokens(pairs: tuple[str, ...]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            _fail(f"--token takes my.Name=value, not {pair!r}")
        out[name.strip()] = value
    return out or None


def _with_progress(engine, action):
    """Run ``action()`` with a progress bar on stderr when it is a terminal
    (none when piped)."""
    if not sys.stderr.isatty():
        return action()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("running"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("run", total=None)
        engine.progress = lambda done, total: bar.update(task, completed=done, total=total)
        try:
            return action()
        finally:
            engine.progress = None


def _import_people(engine, path: str):
    """Import a people file whole (a bad row imports nothing): an ImportReport."""
    from .datafiles import import_people

    return import_people(engine, path)


def _summary(engine, result, people_label: str = "entered", activities: bool = True) -> dict:
    from collections import Counter

    acts = result.activities() if activities else []
    emails = {}
    for pid in result.entered:
        p = engine.store.person(pid)
        emails[pid] = p.email if p is not None else str(pid)
    by_type: Counter = Counter()
    by_step: Counter = Counter()
    for campaign, type_, n in engine.store.activity_counts(result.first_activity, result.last_activity):
        by_type[type_] += n
        by_step[(campaign or "-", type_)] += n
    return {
        "format_version": 1,
        "campaign": result.campaign,
        "time": engine.now.isoformat(timespec="seconds"),
        people_label: [emails[pid] for pid in result.entered],
        "runs": result.runs,
        "errors": result.errors,
        "activity_counts": dict(sorted(by_type.items())),
        "step_counts": [{"campaign": c, "type": t, "count": n} for (c, t), n in sorted(by_step.items())],
        "activities": [a.to_json() for a in acts],
    }


def _echo_summary(summary: dict, fmt: str, trace: bool, verb: str, people_label: str = "entered") -> None:
    if fmt == "json":
        if not trace:
            summary = {k: v for k, v in summary.items() if k != "activities"}
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=True))
        return
    people = summary[people_label]
    head = f"{verb} {summary['campaign']}" if summary["campaign"] else verb
    who = (f"{len(people)} {'person' if len(people) == 1 else 'people'} {people_label}, "
           if summary["campaign"] else "")
    click.echo(f"{head} at {summary['time']}: {who}{summary['runs']} "
               f"run{'s' if summary['runs'] != 1 else ''}, {summary['errors']} "
               f"error{'s' if summary['errors'] != 1 else ''}")
    for row in summary["step_counts"]:
        click.echo(f"  {row['count']:>7}  {row['type']:<28} {row['campaign']}")
    if trace:
        by_person: dict[str, list[dict]] = {}
        for a in summary["activities"]:
            by_person.setdefault(a["email"] or "-", []).append(a)
        for email, items in by_person.items():
            click.echo(f"{email}:")
            for a in items:
                attrs = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in a["attributes"].items())
                change = f" {json.dumps(a.get('old'))} -> {json.dumps(a.get('new'))}" if "old" in a else ""
                click.echo(f"  {a['at']}  {a['type']}{change}  [{a['campaign'] or '-'}] {attrs}")


@main.command()
@click.argument("path", type=click.Path())
@click.argument("campaign")
@click.option("--db", type=click.Path(dir_okay=False), help="The SQLite store (created when missing).")
@click.option("--people", "people_file", type=click.Path(dir_okay=False),
              help="Import people (CSV or JSON) before the run.")
@click.option("--token", "tokens", multiple=True, metavar="my.X=V", help="An API-passed My Token (repeatable).")
@click.option("--dry-run", is_flag=True, help="Run on a copy of the store; write nothing.")
@click.option("--trace", is_flag=True, help="Print every activity, per person.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def run(path: str, campaign: str, db: str | None, people_file: str | None, tokens: tuple[str, ...],
        dry_run: bool, trace: bool, fmt: str) -> None:
    """Run a batch campaign now (CAMPAIGN is '"Program"."Campaign"' or Program/Campaign)."""
    program = _program_or_exit(path)
    engine = _open_engine(program, db, dry_run=dry_run)
    mark = engine.store.commits
    try:
        if people_file:
            click.echo(_import_people(engine, people_file).summary(), err=True)
            mark = engine.store.commits
        token_values = _tokens(tokens)
        result = _with_progress(engine, lambda: engine.run_batch(campaign, tokens=token_values))
        summary = _summary(engine, result, activities=trace)
    except CampaignError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(engine, mark)
    _echo_summary(summary, fmt, trace, "dry run of" if dry_run else "ran")
    engine.store.close()
    sys.exit(1 if summary["errors"] else 0)


@main.command()
@click.argument("path", type=click.Path())
@click.argument("campaign")
@click.option("--person", "people", multiple=True, required=True, metavar="EMAIL",
              help="A person to request the campaign for (repeatable, at most 100).")
@click.option("--db", type=click.Path(dir_okay=False), help="The SQLite store (created when missing).")
@click.option("--token", "tokens", multiple=True, metavar="my.X=V", help="An API-passed My Token (repeatable).")
@click.option("--trace", is_flag=True, help="Print every activity, per person.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def request(path: str, campaign: str, people: tuple[str, ...], db: str | None, tokens: tuple[str, ...],
            trace: bool, fmt: str) -> None:
    """Request a trigger campaign for people, as the API does."""
    program = _program_or_exit(path)
    engine = _open_engine(program, db)
    mark = engine.store.commits
    try:
        result = engine.request(campaign, list(people), tokens=_tokens(tokens))
        summary = _summary(engine, result, activities=trace)
    except CampaignError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(engine, mark)
    _echo_summary(summary, fmt, trace, "requested")
    engine.store.close()
    sys.exit(1 if summary["errors"] else 0)


@main.command()
@click.argument("path", type=click.Path())
@click.argument("events_file", metavar="EVENTS.jsonl", type=click.Path(dir_okay=False))
@click.option("--db", type=click.Path(dir_okay=False), help="The SQLite store (created when missing).")
@click.option("--trace", is_flag=True, help="Print every activity, per person.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def events(path: str, events_file: str, db: str | None, trace: bool, fmt: str) -> None:
    """Replay events (JSON lines) through the trigger campaigns, in time order."""
    from .datafiles import replay
    from .engine import ActionResult

    program = _program_or_exit(path)
    engine = _open_engine(program, db)
    mark = engine.store.commits
    try:
        first = engine.store.last_activity_id()
        results = replay(engine, events_file)   # all or nothing
        last = engine.store.last_activity_id()
        total = ActionResult("events", None, first, last, store=engine.store,
                             runs=sum(r.runs for r in results), errors=sum(r.errors for r in results))
        for r in results:
            total.entered.extend(r.entered)
        summary = _summary(engine, total, activities=trace)
        summary["events"] = sum(1 for r in results if r.action == "fire")
    except CampaignError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(engine, mark, f"interrupted: nothing from {events_file} was kept; the store is as it was")
    _echo_summary(summary, fmt, trace, f"replayed {summary['events']} event{'s' if summary['events'] != 1 else ''}")
    engine.store.close()
    sys.exit(1 if summary["errors"] else 0)


@main.group()
def people() -> None:
    """Manage the people of a store."""


@people.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--db", type=click.Path(dir_okay=False), help="The SQLite store (created when missing).")
@click.option("--fields", "fields_path", type=click.Path(),
              help="A .campaign file whose custom fields the people may have.")
def people_import(file: str, db: str | None, fields_path: str | None) -> None:
    """Import people from a CSV or JSON file (a person already in the store is updated)."""
    from .engine import program_from_text

    program = _program_or_exit(fields_path) if fields_path else program_from_text("")
    engine = _open_engine(program, db)
    mark = engine.store.commits
    try:
        report = _import_people(engine, file)
    except CampaignError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(engine, mark, "interrupted: nothing was imported; the store is as it was")
    click.echo(report.summary(db))
    engine.store.close()


@main.command()
@click.argument("path", type=click.Path())
@click.argument("campaign")
@click.option("--db", type=click.Path(dir_okay=False), help="The SQLite store to start from (never written).")
@click.option("--people", "people_file", type=click.Path(dir_okay=False), help="People to add first (CSV or JSON).")
@click.option("--token", "tokens", multiple=True, metavar="my.X=V", help="An API-passed My Token (repeatable).")
@click.option("--until", "until", default=None, metavar="DURATION",
              help="Also advance the virtual clock this long (e.g. '2 weeks'), running what falls due.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def plan(path: str, campaign: str, db: str | None, people_file: str | None, tokens: tuple[str, ...],
         until: str | None, fmt: str) -> None:
    """Dry-run a batch campaign over virtual time: who enters, per-step counts,
    every action that would happen. Writes nothing."""
    from .engine import ActionResult

    program = _program_or_exit(path)
    engine = _open_engine(program, db, memory_note=db is None, dry_run=True)
    try:
        if people_file:
            _import_people(engine, people_file)
        first = engine.store.last_activity_id()
        result = engine.run_batch(campaign, tokens=_tokens(tokens))
        runs, errors = result.runs, result.errors
        if until:
            later = engine.advance(until)
            runs += later.runs
            errors += later.errors
        total = ActionResult("plan", result.campaign, first, engine.store.last_activity_id(),
                             list(result.entered), runs, errors, store=engine.store)
        summary = _summary(engine, total)
    except CampaignError as exc:
        _fail(str(exc))
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=True))
    else:
        _echo_summary(summary, fmt, False, "plan for")
        for a in summary["activities"]:
            attrs = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in a["attributes"].items())
            click.echo(f"  {a['at']}  {a['email'] or '-'}  {a['type']}  [{a['campaign'] or '-'}] {attrs}")
        click.echo("(plan: nothing was written)")
    engine.store.close()


# --- test and repl commands ---------------------------------------------------


@main.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-k", "pattern", default=None, metavar="PATTERN",
              help="Run only tests whose name contains PATTERN (case-insensitive; * and ? allowed).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit"]), default="text", show_default=True,
              help="text for people; json (one object: tests, totals); junit (XML for CI tools).")
@click.option("--coverage", "with_coverage", is_flag=True,
              help="Report which flow steps and choice branches the tests reached, per campaign.")
def test_cmd(paths: tuple[str, ...], pattern: str | None, fmt: str, with_coverage: bool) -> None:
    """Run the test blocks of .campaign files; the last line is 'N passed, M failed'.

    Each file is loaded (with its imports) and checked on its own; every
    test runs against a fresh store in memory. A file that does not check
    is one failing result, its diagnostics shown. Exit 1 when a test fails."""
    from pathlib import Path

    from .check import check as run_check
    from .loader import expand_paths, load_paths, skipped_diagnostic
    from .render import render_text
    from .runner import (TestResult, broken_file_result, format_results, results_json, results_junit,
                         run_tests)

    files: list[str] = []
    seen: set[Path] = set()
    try:
        scan = expand_paths(paths)
    except LoadError as exc:
        _fail(str(exc))
    for f in scan.files:
        try:
            key = f.resolve()
        except (OSError, RuntimeError):
            key = f
        if key not in seen:
            seen.add(key)
            files.append(str(f))
    skipped = [skipped_diagnostic(p, why) for p, why in scan.skipped]
    coverage = None
    if with_coverage:
        from .coverage import Coverage
        coverage = Coverage()
    results: list[TestResult] = []
    for d in skipped:
        if fmt == "text":
            click.echo(render_text([d], {}, color=_color()), err=True)
        results.append(broken_file_result(d.span.file, [d], {}))
    for f in files:
        try:
            loaded = load_paths([f])
        except LoadError as exc:
            _fail(str(exc))
        checked = run_check(loaded)
        name = loaded.results[-1].source.name if loaded.results else f
        if checked.program is None:
            if fmt == "text":
                click.echo(render_text(checked.errors, checked.sources, color=_color()), err=True)
            results.append(broken_file_result(name, checked.errors, checked.sources))
            continue
        if coverage is not None:
            coverage.add_program(checked.program)
        results.extend(run_tests(checked.program, files=[name], pattern=pattern, coverage=coverage))
    failed = sum(not r.passed for r in results)
    if fmt == "json":
        click.echo(json.dumps(results_json(results, coverage), indent=2, ensure_ascii=False))
    elif fmt == "junit":
        click.echo(results_junit(results))
    else:
        # the diagnostics of a file that does not check went to stderr above
        click.echo(format_results(results, coverage, color=_color(), diagnostics=False))
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("path", required=False, type=click.Path())
def repl(path: str | None) -> None:
    """Try things at a prompt: declarations, test statements and :commands
    (:help lists them). With PATH, load that file (or folder) first. When
    stdin is not a terminal, read entries line by line: printf '...' | campaign repl."""
    from .repl import main as repl_main

    sys.exit(repl_main(path))


if __name__ == "__main__":  # pragma: no cover
    main()
