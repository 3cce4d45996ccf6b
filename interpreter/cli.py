"""The command line, ``campaign``: the only module that imports click.

Each command is thin: it loads, calls a stage, renders, and picks an exit
code (LANGUAGE.md §10-§11): 0 clean, 1 when the input has an error (or a
warning with ``--strict``, a file ``fmt --check`` would change, a failing
test), 2 when the command could not run (no such file, bad options).
Heavy modules (the engine, rich, prompt_toolkit) are imported inside the
commands that need them, so ``campaign check`` starts fast.
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__
from .errors import CampaignError, LoadError

#: the path types of the options, made once: each click.Path looks its name up
#: through gettext (a search of the locale folders), 45 of them ~15 % of start-up
_FILE = click.Path(dir_okay=False)
_PATH = click.Path()
_DIR = click.Path(file_okay=False)

#: store files this command created (path, store): a command that fails
#: removes them, so that a refused command leaves no file behind
_CREATED: list[tuple[Path, Any]] = []


def _fail(message: str, code: int = 2, discard: bool = True) -> NoReturn:
    from .render import printable

    click.echo(f"error: {printable(message)}", err=True)   # messages quote names and values
    if discard:
        _discard_created()
    sys.exit(code)


def _discard_created() -> None:
    while _CREATED:
        path, store = _CREATED.pop()
        try:
            store.close()
        except Exception:   # closing is best effort: the file goes either way
            pass
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


#: ``--color``: auto (a terminal, NO_COLOR unset, TERM not dumb), always, never
_COLOR_MODE = "auto"


def _color(err: bool = False) -> bool:
    """Whether to colour stdout (or stderr): ``render.use_color``, the one rule."""
    from .render import use_color

    return use_color(sys.stderr if err else sys.stdout, _COLOR_MODE)


def _show(text: str, err: bool = False) -> None:
    """Echo text that may hold colour (click strips ANSI off a terminal
    unless told: the decision is ``_color``'s)."""
    click.echo(text, err=err, color=_color(err))


def _set_color(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    global _COLOR_MODE
    if value is not None:
        _COLOR_MODE = value


def _color_option() -> click.Option:
    return click.Option(["--color"], type=click.Choice(["auto", "always", "never"]), default=None,
                        expose_value=False, is_eager=True, callback=_set_color,
                        help="Colour the output: auto (a terminal, unless NO_COLOR is set or TERM=dumb), "
                             "always or never.")


class _Group(click.Group):
    """A group whose every command (and sub-group's) takes ``--color``."""

    group_class = type

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(p.name == "color" for p in cmd.params):
            cmd.params.append(_color_option())
        super().add_command(cmd, name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Refuse an argument that is not text before any command sees it. On
        POSIX, Python hands over bytes that are not UTF-8 as lone surrogates
        (``\\udcff``), which no store, file or terminal can take
        (docs/security.md)."""
        for n, arg in enumerate(args, 1):
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                _fail(f"argument {n} ({shown}) is not UTF-8 text")
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command with stdout escaping control characters
        (``render.printable``): names, emails and values from programs, data
        files and stores reach the terminal as text, never as escape
        sequences (docs/security.md). The REPL takes the raw stream back."""
        raw = sys.stdout
        sys.stdout = _PrintableStream(raw)   # type: ignore[assignment]
        try:
            return super().invoke(ctx)
        finally:
            sys.stdout = raw


class _PrintableStream:
    """A text stream writing ``render.printable(text)`` to the one it wraps
    (colour sequences kept only while colour is on for it)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        from .render import printable

        self.raw.write(printable(text, keep_color=_color()) if isinstance(text, str) else text)
        return len(text)

    def __getattr__(self, name: str) -> Any:   # flush, isatty, fileno, encoding, buffer ...
        return getattr(self.raw, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="campaign")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              expose_value=False, is_eager=True, callback=_set_color,
              help="Colour the output: auto (a terminal, unless NO_COLOR is set or TERM=dumb), always or never.")
def main() -> None:
    """campaignlang: Marketo-style smart campaigns as code.

    Check, format, test and simulate .campaign files.
    """
    _CREATED.clear()   # one command per call (tests call main many times in one process)


# --- language core commands -------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=_PATH)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
              help="text for people; json (LANGUAGE.md §10); sarif (SARIF 2.1.0, for code hosts).")
@click.option("--strict", is_flag=True, help="Count warnings as errors for the exit code.")
def check(paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check .campaign files (and their imports) for errors."""
    from .check import check as run_check
    from .errors import Diagnostic
    from .loader import load_each
    from .render import render_json, render_text, summary_line

    try:
        loads = load_each(paths)   # each file on its own, with its imports ("What a file sees")
    except LoadError as exc:
        _fail(str(exc))
    found: set[Diagnostic] = set()
    sources: dict = {}
    for loaded in loads:
        result = run_check(loaded)
        found.update(result.diagnostics)
        sources.update(result.sources)
    diags = sorted(found, key=Diagnostic.sort_key)
    if fmt == "json":
        click.echo(render_json(diags))
    elif fmt == "sarif":
        from .sarif import render_sarif
        click.echo(render_sarif(diags, result.sources))
    else:
        if diags:
            _show(render_text(diags, sources, color=_color()))
            click.echo()
        unread = {d.span.file for d in diags if d.code == "CL002" and d.message.startswith("not read: ")}
        files = len([name for name in sources if name not in unread])
        click.echo(f"checked {files} file{'s' if files != 1 else ''}: {summary_line(diags)}")
    failing = any(d.is_error for d in diags) or (strict and diags)
    sys.exit(1 if failing else 0)


@main.command("parse")
@click.argument("path", type=_PATH)
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def parse_cmd(path: str, fmt: str) -> None:
    """Print the syntax tree of one file, with spans."""
    from pathlib import Path

    from . import ast
    from .loader import read_text
    from .parse import parse
    from .render import render_text

    try:
        text = read_text(Path(path))
    except LoadError as exc:
        _fail(str(exc))
    result = parse(text, path)
    if result.diagnostics:
        _show(render_text(result.diagnostics, {path: result.source}, color=_color(err=True)), err=True)
    if fmt == "json":
        click.echo(json.dumps(ast.dump(result.module), indent=2, ensure_ascii=False))
    else:
        click.echo(repr(result.module))
    sys.exit(0 if result.ok else 1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=_PATH)
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Change nothing; print what would change as a unified diff; exit 1 if a file would change.")
def fmt(paths: tuple[str, ...], check_only: bool, show_diff: bool) -> None:
    """Format .campaign files in the canonical layout, keeping comments."""
    import difflib

    from .errors import DiagnosticError
    from .format import format_source
    from .loader import campaign_scan, read_text, write_inside_root
    from .render import render_text
    from .source import SourceFile

    try:
        scan = campaign_scan(paths)   # nothing selected: exit 2, as check
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
            _show(render_text(exc.diagnostics, {str(f): SourceFile(str(f), text)}, color=_color(err=True)),
                  err=True)
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
    # --diff, like --check (and ruff's --diff), exits 1 when a file would change
    sys.exit(1 if broken or unread or ((check_only or show_diff) and changed) else 0)


# --- checker commands (graph, explain --token) --------------------------------


def _check_path(path: str, campaign: str | None = None):
    """Load and check PATH: (loaded, check result). A file that cannot be
    read stops the command (exit 2). A folder stands for its entry files
    (those no other file in it imports), each with its imports: the one
    whose program has CAMPAIGN, or the only one ("What a file sees")."""
    from .check import check as run_check
    from .explain import find_campaign
    from .loader import entry_points, load_each

    try:
        loads = entry_points(load_each([path]))
    except LoadError as exc:
        _fail(str(exc))
    if len(loads) == 1:
        return loads[0], run_check(loads[0])
    names = [ld.results[-1].source.name for ld in loads]
    if campaign is None:
        _fail(f"{path} holds {len(loads)} files that no other file in it imports ({', '.join(names)}): "
              f"name one of them, or add a file that imports them all")
    checked = [(ld, run_check(ld)) for ld in loads]
    having = [(ld, res) for ld, res in checked if find_campaign(res.model, campaign)[0] is not None]
    if len(having) == 1:
        return having[0]
    if not having:
        _fail(f"no file in {path} has a campaign {campaign} ({len(loads)} files: {', '.join(names)})")
    _fail(f"{campaign} is in {len(having)} files of {path} that do not import each other "
          f"({', '.join(ld.results[-1].source.name for ld, _ in having)}): name one of them")


def _load_checked(path: str, campaign: str | None = None):
    """Load and check PATH for a command that reads its model; syntax and
    import errors stop the command (exit 1), other findings do not."""
    from .render import render_text

    loaded, result = _check_path(path, campaign)
    if not loaded.ok:
        _show(render_text(loaded.diagnostics, result.sources, color=_color(err=True)), err=True)
        _fail(f"{path} has syntax or import errors (see campaign check)", 1)
    return result


@main.command()
@click.argument("path", type=_PATH)
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid"]), default="dot", show_default=True)
def graph(path: str, fmt: str) -> None:
    """Print the execute (solid) / request (dashed) call graph, with depth levels."""
    from .graph import render_graph

    result = _load_checked(path)
    click.echo(render_graph(result.model, fmt), nl=False)


@main.command()
@click.argument("path", type=_PATH)
@click.argument("campaign")
@click.option("--token", "tokens", multiple=True, metavar="my.X",
              help="The My Token to explain (repeatable); default: every one the campaign uses.")
@click.option("--person", metavar="EMAIL", help="Explain why this person did or did not qualify.")
@click.option("--db", type=_PATH, help="The SQLite store (with --person).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(path: str, campaign: str, tokens: tuple[str, ...], person: str | None, db: str | None,
            fmt: str) -> None:
    """Explain how CAMPAIGN's tokens resolve, per call path (CAMPAIGN is
    '"Program"."Campaign"' or "Program/Campaign")."""
    if person is not None:
        # why this person did or did not qualify: computed on a copy of the
        # store, so explaining writes nothing
        from .explain import explain_person, render_explanation

        engine = _open_engine(_program_or_exit(path, campaign), db)
        try:
            report = explain_person(engine, campaign, person)
        except CampaignError as exc:
            _fail(str(exc))
        click.echo(json.dumps(report, indent=2, default=str) if fmt == "json" else render_explanation(report))
        return
    from .explain import explain_token, find_campaign, render_reports, tokens_used

    result = _load_checked(path, campaign)
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


def _program_or_exit(path: str, campaign: str | None = None):
    """Load and check PATH; a program with errors is refused (exit 1)."""
    from .render import render_text

    _, result = _check_path(path, campaign)
    if result.program is None:
        _show(render_text(result.errors, result.sources, color=_color(err=True)), err=True)
        _fail(f"{path} has errors; the engine runs only a program without errors (see campaign check)", 1)
    return result.program


#: the engine's limits per action, from --max-runs, --max-runs-per-person and
#: --max-steps (docs/security.md, "Limits"); the command line's step default
#: bounds an action's work, which the API leaves to the embedder
_LIMITS: dict[str, Any] = {"max_steps": 10_000_000}


def _set_limit(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    if value is not None:
        _LIMITS[{"max_runs": "max_runs_per_action"}.get(param.name or "", param.name or "")] = value


def _limit_options(command: Any) -> Any:
    """--max-runs, --max-runs-per-person and --max-steps for a command that runs the engine."""
    for flag, name, text in (
            ("--max-steps", "max_steps", "Steps one action may run (default 10,000,000); past it nothing is kept."),
            ("--max-runs-per-person", "max_runs_per_person",
             "Runs one person may start in one action (default 1,000): stops a trigger loop."),
            ("--max-runs", "max_runs", "Runs one action may start in all (default 1,000,000).")):
        command = click.option(flag, name, type=click.IntRange(min=1), default=None, expose_value=False,
                               callback=_set_limit, help=text)(command)
    return command


def _open_engine(program, db: str | None, memory_note: bool = True, dry_run: bool = False,
                 command: str = "plan"):
    """An engine over ``--db`` (created when missing; removed again if the
    command fails) or a store in memory; ``dry_run``: a copy in memory of
    the file, which must exist (``command`` names the command in errors)."""
    from .engine import Engine
    from .store import Store

    try:
        if db is None:
            if memory_note and not dry_run:   # a dry run keeps nothing, --db or not
                click.echo("using a store in memory (pass --db FILE to keep it)", err=True)
            store = Store(":memory:")
        elif dry_run:   # read the file as it is, then work on a copy in memory
            if not Path(db).exists():
                _fail(f"no store {db}: {command} reads a store and writes nothing (leave out --db to "
                      f"start from the people of --people alone)")
            original = Store(db)
            store = original.copy_to_memory()
            original.close()
        else:
            created = not Path(db).exists()
            store = Store(db)
            if created:
                _CREATED.append((Path(db), store))
        return Engine(program, store, **_LIMITS)
    except CampaignError as exc:
        _fail(str(exc))


def _interrupted(engine, mark: int,
                 rolled_back: str = "interrupted: the action was rolled back; the store is as it was") -> NoReturn:
    """Ctrl-C: say truly whether the action had been saved (the interrupt may
    come after its commit, while the report is written)."""
    if engine.store.commits > mark:
        _fail("interrupted after the action was saved; the store holds its changes", 130, discard=False)
    _fail(rolled_back, 130)


def _tokens(pairs: tuple[str, ...]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            _fail(f"--token takes my.Name=value, not {pair!r}")
        out[name.strip()] = value
    return out or None


def _with_progress(engine, action, label: str = "running"):
    """Run ``action()`` with a progress bar on stderr when it is a terminal
    (none when piped, none with TERM=dumb): it counts what the engine reports
    through ``engine.progress`` (people of a batch, rows imported, events
    replayed) and pulses, with the time elapsed, while a file is read."""
    if engine.progress is not None or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return action()   # not a terminal, or a bar is already showing (plan imports people)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    console = Console(stderr=True, no_color=not _color(err=True))
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("run", total=None)
        engine.progress = lambda done, total: bar.update(task, completed=done, total=total)
        try:
            return action()
        finally:
            engine.progress = None


def _import_people(engine, path: str, before_write=None):
    """Import a people file whole (a bad row imports nothing): an ImportReport;
    ``before_write(emails)`` may refuse the file's people first."""
    from .datafiles import import_people

    return _with_progress(engine, lambda: import_people(engine, path, before_write),
                          f"importing {Path(path).name}")


def _summary(engine, result, people_label: str = "entered", activities: bool = True,
             emails: bool = True, names: bool = True) -> dict:
    """The report of an action; ``emails``: name the people who entered by
    address (else by number); without ``names`` only their count is right
    (text output prints the count alone: a run of millions makes no names)."""
    from collections import Counter

    acts = result.activities() if activities else []
    who: dict[int, str] = {}
    for pid in (result.entered if names else ()):
        p = engine.store.person(pid) if emails else None
        who[pid] = p.email if p is not None else str(pid)
    by_type: Counter = Counter()
    by_step: Counter = Counter()
    counts = result.counts if result.counts is not None else \
        engine.store.activity_counts(result.first_activity, result.last_activity)
    for campaign, type_, n in counts:
        by_type[type_] += n
        by_step[(campaign or "-", type_)] += n
    return {
        "format_version": 1,
        "campaign": result.campaign,
        "time": engine.now.isoformat(timespec="seconds"),
        people_label: [who[pid] for pid in result.entered] if names else [None] * len(result.entered),
        "runs": result.runs,
        "errors": result.errors,
        "stopped": _stopped_loops(engine, result),
        "activity_counts": dict(sorted(by_type.items())),
        "step_counts": [{"campaign": c, "type": t, "count": n} for (c, t), n in sorted(by_step.items())],
        "activities": [a.to_json() for a in acts],
    }


def _stopped_loops(engine, result) -> list[str]:
    """The distinct messages of the action's limit errors (a trigger loop
    stopped, the runs cap reached): said in the summary, --trace or not."""
    if not result.errors:
        return []
    engine.store.flush()
    rows = engine.store.db.execute(
        "SELECT DISTINCT json_extract(attributes, '$.message') FROM activities WHERE type = 'Error' "
        "AND id > ? AND id <= ? AND json_extract(attributes, '$.cycle') IS NOT NULL LIMIT 10",
        (result.first_activity, result.last_activity)).fetchall()
    return [r[0] for r in rows]


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
    for message in summary.get("stopped", ()):
        click.echo(f"  stopped: {message}")
    if trace:
        _echo_by_person(summary["activities"])


def _echo_by_person(activities: list[dict]) -> None:
    """``--trace`` and ``plan --detail``: each person's activities, values
    shown as the test report shows them (``runner.activity_details``)."""
    from .show import activity_details

    by_person: dict[str, list[dict]] = {}
    for a in activities:
        by_person.setdefault(a["email"] or "-", []).append(a)
    for email, items in by_person.items():
        click.echo(f"{email}:")
        for a in items:
            click.echo(f"  {a['at']}  {a['type']}  [{a['campaign'] or '-'}]  {activity_details(a, None)}".rstrip())


@_limit_options
@main.command()
@click.argument("path", type=_PATH)
@click.argument("campaign")
@click.option("--db", type=_FILE, help="The SQLite store (created when missing).")
@click.option("--people", "people_file", type=_FILE,
              help="Import people (CSV or JSON) before the run.")
@click.option("--token", "tokens", multiple=True, metavar="my.X=V", help="An API-passed My Token (repeatable).")
@click.option("--dry-run", is_flag=True, help="Run on a copy of the store; write nothing.")
@click.option("--trace", is_flag=True, help="Print every activity, per person.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def run(path: str, campaign: str, db: str | None, people_file: str | None, tokens: tuple[str, ...],
        dry_run: bool, trace: bool, fmt: str) -> None:
    """Run a batch campaign now (CAMPAIGN is '"Program"."Campaign"' or Program/Campaign)."""
    program = _program_or_exit(path, campaign)
    token_values = _tokens(tokens)
    engine = _open_engine(program, db, dry_run=dry_run, command="run --dry-run")
    mark = engine.store.commits
    try:
        target, _ = engine.batch_call(campaign, token_values)   # refused before anything is written
        if people_file:
            click.echo(_import_people(engine, people_file).summary(), err=True)
            mark = engine.store.commits
        result = _with_progress(engine, lambda: engine.run_batch(target, tokens=token_values,
                                                                 **_engine_choice()))
        _echo_engine_note(result)
        summary = _summary(engine, result, activities=trace)
    except CampaignError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(engine, mark)
    _echo_summary(summary, fmt, trace, "dry run of" if dry_run else "ran")
    engine.store.close()
    sys.exit(1 if summary["errors"] else 0)


@_limit_options
@main.command()
@click.argument("path", type=_PATH)
@click.argument("campaign")
@click.argument("more_people", nargs=-1, metavar="[EMAIL...]")
@click.option("--person", "people", multiple=True, metavar="EMAIL",
              help="A person to request the campaign for; several may follow one --person "
                   "(--person a@x.com b@x.com) or each have their own (at most 100).")
@click.option("--people", "people_file", type=_FILE,
              help="Import people (CSV or JSON) first; without --person, request for every person of the file.")
@click.option("--db", type=_FILE, help="The SQLite store (created when missing).")
@click.option("--token", "tokens", multiple=True, metavar="my.X=V", help="An API-passed My Token (repeatable).")
@click.option("--trace", is_flag=True, help="Print every activity, per person.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def request(path: str, campaign: str, more_people: tuple[str, ...], people: tuple[str, ...],
            people_file: str | None, db: str | None, tokens: tuple[str, ...], trace: bool, fmt: str) -> None:
    """Request a trigger campaign for people, as the API does
    (campaign request PATH CAMPAIGN --person EMAIL...)."""
    if more_people and not people:
        _fail(f"emails go after --person: --person {' '.join(more_people)}")
    emails = [*people, *more_people]
    if not emails and not people_file:
        _fail("name the people: --person EMAIL... (or --people FILE)")
    program = _program_or_exit(path, campaign)
    token_values = _tokens(tokens)
    engine = _open_engine(program, db)
    mark = engine.store.commits
    try:
        engine.request_call(campaign, token_values)   # refused before anything is written
        if people_file:
            def at_most_100(found: list[str]) -> None:   # the API's limit, before the import
                from .engine import MAX_API_PEOPLE
                if not emails and len(found) > MAX_API_PEOPLE:
                    raise CampaignError(f"at most {MAX_API_PEOPLE} people per request; {people_file} "
                                        f"has {len(found)} (name some with --person)")
            report = _import_people(engine, people_file, at_most_100)
            click.echo(report.summary(), err=True)
            mark = engine.store.commits
            emails = emails or report.emails
        result = _with_progress(engine, lambda: engine.request(campaign, emails, tokens=token_values),
                                "requesting")
        summary = _summary(engine, result, activities=trace)
    except CampaignError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(engine, mark)
    _echo_summary(summary, fmt, trace, "requested")
    engine.store.close()
    sys.exit(1 if summary["errors"] else 0)


@_limit_options
@main.command()
@click.argument("path", type=_PATH)
@click.argument("events_file", metavar="EVENTS.jsonl", type=_FILE)
@click.option("--db", type=_FILE, help="The SQLite store (created when missing).")
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
        done = _with_progress(engine, lambda: replay(engine, events_file), "replaying")   # all or nothing, streamed
        last = engine.store.last_activity_id()
        # counts only: a fire names no campaign, so no one is listed as entered
        total = ActionResult("events", None, first, last, store=engine.store, runs=done.runs, errors=done.errors)
        summary = _summary(engine, total, activities=trace)
        summary["events"] = done.events
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
@click.argument("file", type=_FILE)
@click.option("--db", type=_FILE, help="The SQLite store (created when missing).")
@click.option("--fields", "fields_path", type=_PATH,
              help="A .campaign file whose custom fields the people may have.")
def people_import(file: str, db: str | None, fields_path: str | None) -> None:
    """Import people from a CSV, JSON or Parquet file (a person already in the store is updated)."""
    from .api import compile_text

    program = _program_or_exit(fields_path) if fields_path else compile_text("")
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


@_limit_options
@main.command()
@click.argument("path", type=_PATH)
@click.argument("campaign")
@click.option("--db", type=_FILE, help="The SQLite store to start from (never written).")
@click.option("--people", "people_file", type=_FILE, help="People to add first (CSV or JSON).")
@click.option("--token", "tokens", multiple=True, metavar="my.X=V", help="An API-passed My Token (repeatable).")
@click.option("--until", "until", default=None, metavar="DURATION",
              help="Also advance the virtual clock this long (e.g. '2 weeks'), running what falls due.")
@click.option("--detail", is_flag=True,
              help="Also print every action that would happen, per person (old and new values included).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def plan(path: str, campaign: str, db: str | None, people_file: str | None, tokens: tuple[str, ...],
         until: str | None, detail: bool, fmt: str) -> None:
    """Dry-run a batch campaign over virtual time: who enters, per-step counts
    and, with --detail, every action that would happen. Writes nothing."""
    from .engine import ActionResult

    program = _program_or_exit(path, campaign)
    token_values = _tokens(tokens)
    engine = _open_engine(program, db, dry_run=True, command="plan")

    def work() -> dict:
        target, _ = engine.batch_call(campaign, token_values)
        if people_file:
            _import_people(engine, people_file)
        first = engine.store.last_activity_id()
        result = engine.run_batch(target, tokens=token_values, **_engine_choice())
        _echo_engine_note(result)
        runs, errors = result.runs, result.errors
        if until:
            later = engine.advance(until)
            runs += later.runs
            errors += later.errors
        total = ActionResult("plan", result.campaign, first, engine.store.last_activity_id(),
                             list(result.entered), runs, errors, store=engine.store)
        return _summary(engine, total, activities=detail, emails=fmt == "json")

    try:
        summary = _with_progress(engine, work, "planning")
    except CampaignError as exc:
        _fail(str(exc))
    _echo_summary(summary, fmt, detail, "plan for")
    if fmt == "text":
        if not detail and summary["runs"]:
            click.echo("(pass --detail for every action, per person)")
        click.echo("(plan: nothing was written)")
    engine.store.close()


# --- test and repl commands ---------------------------------------------------


@main.command("test")
@click.argument("paths", nargs=-1, required=True, type=_PATH)
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
    from .check import check as run_check
    from .loader import load_each
    from .render import render_text
    from .runner import TestResult, broken_file_result, format_results, results_json, results_junit, run_tests

    try:   # each file on its own, with its imports, as check does ("What a file sees")
        loads = load_each(paths)
    except LoadError as exc:
        _fail(str(exc))
    coverage = None
    if with_coverage:
        from .coverage import Coverage
        coverage = Coverage()
    results: list[TestResult] = []
    for loaded in loads:
        checked = run_check(loaded)
        name = loaded.results[-1].source.name
        if checked.program is None:
            if fmt == "text":
                _show(render_text(checked.errors, checked.sources, color=_color(err=True)), err=True)
            results.append(broken_file_result(name, checked.errors, checked.sources))
            continue
        if coverage is not None:
            coverage.add_program(checked.program)
        results.extend(run_tests(checked.program, files=[name], pattern=pattern, coverage=coverage))
    if not results:   # nothing selected is an error, as for check (exit 2, not pytest's 5)
        _fail(f"no test matches -k {pattern!r} in {', '.join(paths)}" if pattern
              else f"no tests in {', '.join(paths)}")
    failed = sum(not r.passed for r in results)
    if fmt == "json":
        click.echo(json.dumps(results_json(results, coverage), indent=2, ensure_ascii=False))
    elif fmt == "junit":
        click.echo(results_junit(results))
    else:
        # the diagnostics of a file that does not check went to stderr above
        _show(format_results(results, coverage, color=_color(), diagnostics=False))
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("path", required=False, type=_PATH)
@click.option("--db", type=_FILE,
              help="Work on this SQLite store (created when missing) instead of one in memory.")
def repl(path: str | None, db: str | None) -> None:
    """Try things at a prompt: declarations, test statements and :commands
    (:help lists them). With PATH, load that file (or folder) first. When
    stdin is not a terminal, read entries line by line: printf '...' | campaign repl."""
    from .repl import main as repl_main

    if isinstance(sys.stdout, _PrintableStream):   # prompt_toolkit draws with escape sequences of its own
        sys.stdout = sys.stdout.raw
    sys.exit(repl_main(path, color=_COLOR_MODE, db=db))


# --- reading a store: people list, activities (issue 13) ------------------------


def _read_store(db: str):
    """An existing store, for a command that only reads it (a missing file
    is refused, never created)."""
    from .store import Store

    if not Path(db).exists():
        _fail(f"no store {db} (people list and activities read a store; create one with "
              f"campaign people import or campaign run --db)")
    try:
        return Store(db)
    except CampaignError as exc:
        _fail(str(exc))


def _plain_value(v: Any) -> Any:
    """A field or activity value as JSON has it (dates in ISO form, decimals as text)."""
    import datetime as _dt
    from decimal import Decimal

    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return v


def _cell(v: Any) -> str:
    """A value in a CSV cell or a text table: text as it is, empty as nothing,
    anything else as JSON (non-ASCII kept), as the test report shows values."""
    v = _plain_value(v)
    if v is None:
        return ""
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _write_csv(header: list[str], rows: list[list[str]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    click.echo(buf.getvalue(), nl=False)


def _text_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@people.command("list")
@click.option("--db", required=True, type=_FILE, help="The SQLite store to read.")
@click.option("--email", "pattern", metavar="PATTERN",
              help="Only people whose email contains PATTERN (case-insensitive; * and ? allowed).")
@click.option("--field", "fields", multiple=True, metavar="NAME",
              help="Show this field (repeatable); default: every field someone listed has a value for.")
@click.option("--deleted", is_flag=True, help="Include deleted people.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many people.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
def people_list(db: str, pattern: str | None, fields: tuple[str, ...], deleted: bool, limit: int | None,
                fmt: str) -> None:
    """List the people of a store, in id order."""
    import difflib

    from . import ast
    from .runner import name_matches

    store = _read_store(db)
    names = dict(store.field_names)   # key -> declared name
    by_key = {ast.name_key(n): k for k, n in names.items()}
    by_key.setdefault("email", "email address")
    wanted: list[str] = []
    for f in fields:
        key = by_key.get(ast.name_key(f))
        if key is None:
            close = difflib.get_close_matches(f, list(names.values()), n=1)
            _fail(f"the store has no field '{f}'" + (f"; did you mean '{close[0]}'?" if close else
                                                     "; its fields: " + ", ".join(names.values())))
        wanted.append(key)
    people = []
    for p in store.people(include_deleted=deleted):
        if pattern and not name_matches(p.email, pattern):
            continue
        people.append(p)
        if limit is not None and len(people) >= limit:
            break
    if not wanted:   # every field someone listed has a value for, in the store's order
        have = {k for p in people for k in names if p.get(k) is not None}
        wanted = [k for k in names if k in have and k != "email address"]
    columns = ["email address", *[k for k in wanted if k != "email address"]]
    if fmt == "json":
        out = [{"id": p.id, **({"deleted": True} if p.deleted else {}),
                "fields": {names[k]: _plain_value(p.get(k)) for k in columns if p.get(k) is not None}}
               for p in people]
        click.echo(json.dumps({"format_version": 1, "people": out}, indent=2, ensure_ascii=False))
    else:
        header = ["id", *[names[k] for k in columns], *(["deleted"] if deleted else [])]
        rows = [[str(p.id), *[_cell(p.get(k)) for k in columns],
                 *([("true" if p.deleted else "")] if deleted else [])] for p in people]
        if fmt == "csv":
            _write_csv(header, rows)
        else:
            _text_table(header, rows)
            click.echo(f"{len(rows)} {'person' if len(rows) == 1 else 'people'}")
    store.close()


def _campaign_matches(actual: str | None, wanted: str) -> bool:
    """``--campaign``: '"P"."C"', P/C or a bare C, as the activity log names
    campaigns ('"P"."C"', or '"W"."P"."C"' outside the Default workspace)."""
    if actual is None:
        return False
    parts = [p for p in wanted.replace('"."', "/").strip('"').split("/")]
    quoted = ".".join(f'"{p}"' for p in parts)
    return actual == wanted or actual == quoted or actual.endswith("." + quoted) or (
        len(parts) == 1 and actual.endswith(f'."{parts[0]}"'))


@main.command()
@click.option("--db", required=True, type=_FILE, help="The SQLite store to read.")
@click.option("--person", "people", multiple=True, metavar="EMAIL",
              help="Only this person's activities (repeatable; several emails after one --person too).")
@click.option("--type", "types", multiple=True, metavar="TYPE",
              help='Only this activity type (repeatable; case-insensitive: "send email").')
@click.option("--campaign", metavar="CAMPAIGN", help="Only activities of this campaign (\"P\".\"C\" or P/C).")
@click.option("--since", metavar="TIME", help="Only activities at or after this virtual time (2026-01-02T09:00).")
@click.option("--until", metavar="TIME", help="Only activities at or before this virtual time.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N activities that match.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
def activities(db: str, people: tuple[str, ...], types: tuple[str, ...], campaign: str | None,
               since: str | None, until: str | None, limit: int | None, fmt: str) -> None:
    """Print the activity log of a store, oldest first, filtered."""
    import difflib

    from .check import ACTIVITY_TYPES
    from .clock import parse_time
    from .runner import activity_table

    store = _read_store(db)
    canon = {t.casefold(): t for t in ACTIVITY_TYPES}
    wanted_types: set[str] = set()
    for t in types:
        found = canon.get(" ".join(t.split()).casefold())
        if found is None:
            close = difflib.get_close_matches(t, ACTIVITY_TYPES, n=1)
            _fail(f"no activity type '{t}'" + (f"; did you mean '{close[0]}'?" if close
                                               else "; types: " + ", ".join(ACTIVITY_TYPES)))
        wanted_types.add(found)
    bounds: list[Any] = []
    for option, value in (("--since", since), ("--until", until)):
        if value is None:
            bounds.append(None)
            continue
        try:
            bounds.append(parse_time(value).isoformat(timespec="seconds"))
        except ValueError:
            _fail(f"{option} takes a date or date-time like 2026-01-02T09:00, not {value!r}")
    pids: list[int] | None = None
    if people:
        pids = []
        for email in people:
            pid = store.find_person(email, include_deleted=True)
            if pid is None:
                _fail(f"no person {email} in {db}")
            pids.append(pid)
    rows = []
    for a in store.activities():
        if pids is not None and a.person not in pids:
            continue
        if wanted_types and a.type not in wanted_types:
            continue
        if campaign is not None and not _campaign_matches(a.campaign, campaign):
            continue
        if bounds[0] is not None and a.at < bounds[0]:
            continue
        if bounds[1] is not None and a.at > bounds[1]:
            continue
        rows.append(a.to_json())
    if limit is not None:
        rows = rows[-limit:]
    if fmt == "json":
        click.echo(json.dumps({"format_version": 1, "activities": rows}, indent=2, ensure_ascii=False,
                              default=str))
    elif fmt == "csv":
        _write_csv(["id", "at", "email", "type", "campaign", "run", "old", "new", "attributes"],
                   [[str(a["id"]), a["at"], a["email"] or "", a["type"], a["campaign"] or "",
                     "" if a["run"] is None else str(a["run"]), _cell(a.get("old")), _cell(a.get("new")),
                     json.dumps(a["attributes"], ensure_ascii=False, default=str)] for a in rows])
    else:
        for line in activity_table(rows, with_email=True, last=None, limit=None):
            click.echo(line)
        click.echo(f"{len(rows)} activit{'y' if len(rows) == 1 else 'ies'}")
    store.close()


# --- Marketo: import, drift, replay (docs/marketo.md) -------------------------


def _marketo_source(from_dir: str | None, url: str | None, client_id: str | None,
                    client_secret: str | None, identity_url: str | None, save: str | None):
    """The instance to read: a folder of saved responses, or the REST API."""
    from .marketo.source import DirSource, RestSource

    if from_dir is not None:
        if url is not None or save is not None:
            _fail("--from reads saved responses: leave out --url and --save")
        return DirSource(from_dir)
    if not url:
        _fail("name the instance: --from DIR (saved API responses), or --url with --client-id and "
              "--client-secret (or MARKETO_URL, MARKETO_CLIENT_ID, MARKETO_CLIENT_SECRET)")
    if not client_id or not client_secret:
        _fail("a live instance needs --client-id and --client-secret (or MARKETO_CLIENT_ID and "
              "MARKETO_CLIENT_SECRET)")
    return RestSource(url, client_id, client_secret, identity_url=identity_url, save=save is not None)


def _fetch_marketo(source):
    """Read the instance, with a progress bar on stderr when it is a terminal."""
    from .marketo.source import fetch_instance

    if not sys.stderr.isatty():
        return fetch_instance(source)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("reading {task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("instance", total=None)
        return fetch_instance(source, lambda done, total, label: bar.update(
            task, completed=done, total=total, description=label))


def _marketo_options(f):
    for option in reversed([
        click.option("--from", "from_dir", type=_PATH, metavar="DIR",
                     help="A folder of saved API responses (offline), as --save writes it."),
        click.option("--url", envvar="MARKETO_URL", metavar="URL",
                     help="The instance's REST base URL (env MARKETO_URL)."),
        click.option("--client-id", envvar="MARKETO_CLIENT_ID", metavar="ID",
                     help="OAuth client id (env MARKETO_CLIENT_ID)."),
        click.option("--client-secret", envvar="MARKETO_CLIENT_SECRET", metavar="SECRET",
                     help="OAuth client secret (env MARKETO_CLIENT_SECRET)."),
        click.option("--identity-url", envvar="MARKETO_IDENTITY_URL", metavar="URL",
                     help="The identity URL, when not the REST host's /identity."),
    ]):
        f = option(f)
    return f


@main.group("import")
def import_group() -> None:
    """Bring campaigns in from elsewhere."""


@import_group.command("marketo")
@click.option("--out", "out_dir", required=True, type=_DIR, metavar="DIR",
              help="The project folder to write (a re-import keeps the flows written there).")
@_marketo_options
@click.option("--save", type=_DIR, metavar="DIR",
              help="With --url: also save every API response in DIR (for --from).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def import_marketo(out_dir: str, from_dir: str | None, url: str | None, client_id: str | None,
                   client_secret: str | None, identity_url: str | None, save: str | None, fmt: str) -> None:
    """Import a Marketo instance's programs, tokens, lists, smart lists and smart
    campaigns as .campaign files; report what the language cannot express."""
    from .marketo.diff import describe
    from .marketo.project import import_instance
    from .marketo.source import MarketoError

    try:
        source = _marketo_source(from_dir, url, client_id, client_secret, identity_url, save)
        inst = _fetch_marketo(source)
        outcome = import_instance(inst, out_dir)
        saved = source.save_to(save) if save is not None else 0
    except MarketoError as exc:
        _fail(str(exc).replace("\n", " ") if fmt == "json" else str(exc))
    except KeyboardInterrupt:
        _fail("interrupted: nothing was written", 130)
    result = outcome.result
    counts = {"programs": len(result.ids["programs"]), "campaigns": len(result.ids["campaigns"]),
              "lists": len(result.ids["lists"]), "smart lists": len(result.ids["smart_lists"]),
              "emails": len(result.ids["emails"]), "forms": len(result.ids["forms"]),
              "folders": len(result.ids["folders"])}
    if fmt == "json":
        click.echo(json.dumps({
            "format_version": 1, "out": out_dir, "files": outcome.written, "imported": counts,
            "skipped_count": len(result.skipped), "skipped_by_kind": result.counts,
            "skipped": [s.to_json() for s in result.skipped],
            "reimport": outcome.reimport,
            "changes": [c.to_json("before", "after") for c in outcome.changes],
            "kept_flows": outcome.kept_flows, "dropped_flows": outcome.dropped_flows,
            "saved_responses": saved}, indent=2, ensure_ascii=False))
        return
    what = ", ".join(f"{n} {k}" for k, n in counts.items())
    click.echo(f"imported {what} into {out_dir} ({len(outcome.written)} files)")
    if save is not None:
        click.echo(f"saved {saved} API responses in {save}")
    if result.skipped:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(result.counts.items()))
        click.echo(f"not imported: {len(result.skipped)} ({kinds}); each is a comment at its place:")
        for s in result.skipped:
            click.echo(f"  {s.kind:<10} {s.where}: {s.text}: {s.reason}")
    else:
        click.echo("everything was imported")
    if outcome.reimport:
        click.echo(f"re-import: {len(outcome.changes)} change{'s' if len(outcome.changes) != 1 else ''}"
                   f", {len(outcome.kept_flows)} hand-written flow{'s' if len(outcome.kept_flows) != 1 else ''} kept")
        for c in outcome.changes:
            click.echo("  " + describe(c, "before", "after"))
        for name in outcome.dropped_flows:
            click.echo(f"  the flow of {name} was dropped: the campaign is no longer in the instance")


@main.command()
@click.argument("path", type=_PATH)
@_marketo_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True)
def drift(path: str, from_dir: str | None, url: str | None, client_id: str | None,
          client_secret: str | None, identity_url: str | None, fmt: str) -> None:
    """What a Marketo instance holds that the code at PATH does not, and the
    reverse, in the language's terms. Exit 1 when anything drifted."""
    from .marketo.diff import describe
    from .marketo.project import drift as find_drift
    from .marketo.source import MarketoError

    try:
        source = _marketo_source(from_dir, url, client_id, client_secret, identity_url, None)
        changes = find_drift(_fetch_marketo(source), path)
    except MarketoError as exc:
        _fail(str(exc))
    if fmt == "json":
        click.echo(json.dumps({"format_version": 1, "drifted": bool(changes), "count": len(changes),
                               "changes": [c.to_json("instance", "code") for c in changes]},
                              indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(f"# Drift: {len(changes)} difference{'s' if len(changes) != 1 else ''}\n")
        if changes:
            click.echo("| where | what | instance | code |\n| --- | --- | --- | --- |")
            for c in changes:
                cells = [c.where, c.what, c.left or "(absent)", c.right or "(absent)"]
                click.echo("| " + " | ".join(x.replace("|", "\\|").replace("`", "'") for x in cells) + " |")
    else:
        for c in changes:
            click.echo(describe(c, "instance", "code"))
        click.echo(f"{len(changes)} difference{'s' if len(changes) != 1 else ''} between the instance "
                   f"and {path}" if changes else f"no drift: the instance matches {path}")
    sys.exit(1 if changes else 0)


@main.command()
@click.argument("extract", metavar="EXTRACT.csv", type=_FILE)
@click.argument("path", type=_PATH)
@click.option("--ids", "ids_file", type=_FILE, metavar="FILE",
              help="Marketo ids -> names (default: marketo-ids.json beside the project).")
@click.option("--events-out", type=_FILE, metavar="FILE",
              help="Also write the replayed events as JSON lines (what campaign events reads).")
@click.option("--window", default="1 hour", show_default=True, metavar="DURATION",
              help="How long after the simulator's step Marketo's may be logged and still match.")
@click.option("--leads", "leads_file", type=_FILE, metavar="FILE.csv",
              help="A lead export (column id and fields): the people as they were before the extract.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def replay(extract: str, path: str, ids_file: str | None, events_out: str | None, window: str,
           leads_file: str | None, fmt: str) -> None:
    """Replay a Marketo Bulk Activity Extract through the simulator and compare
    what the campaigns at PATH did with what Marketo's did. Exit 1 on a difference."""
    from .marketo.project import entry_file, ids_of
    from .marketo.replay import Ids, events_of, read_extract, write_events
    from .marketo.replay import replay as run_replay
    from .marketo.source import MarketoError

    try:
        entry = entry_file(path)
        if ids_file is not None:
            try:
                ids_data = json.loads(Path(ids_file).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise MarketoError(f"{ids_file}: cannot be read: {exc}") from None
        else:
            ids_data = ids_of(entry)
        if not ids_data:
            raise MarketoError(f"no marketo-ids.json beside {entry} (campaign import marketo writes it; "
                               f"or name one with --ids)")
        rows = read_extract(extract)
    except MarketoError as exc:
        _fail(str(exc))
    program = _program_or_exit(str(entry))
    ids = Ids(ids_data)
    if events_out is not None:
        write_events(events_of(rows, ids, ids.activity_types()), events_out)
    import re as _re
    from datetime import timedelta

    m = _re.fullmatch(r"\s*(\d+)\s+(second|minute|hour|day)s?\s*", window)
    if m is None:
        _fail(f"--window takes a duration like 30 minutes or 1 hour, not {window!r}")
    span = timedelta(**{m.group(2) + "s": int(m.group(1))})
    try:
        result, engine = run_replay(program, rows, ids, window=span, leads_file=leads_file)
    except MarketoError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted: nothing was kept (the replay works on a store in memory)", 130)
    engine.store.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(f"replayed {result.events} events of {result.rows} activities over {result.people} "
                   f"people ({result.unresolved} trigger activities named nothing the project has)")
        click.echo(f"compared: {', '.join(result.compared_types) or 'nothing'}")
        for t in result.tallies:
            mark = "ok" if not (t.missing or t.extra) else "DIFF"
            click.echo(f"  {mark:<4} {t.campaign} {t.type}: {t.matched} matched, {t.missing} missing, "
                       f"{t.extra} extra")
            for d in t.people:
                click.echo(f"         lead {d.lead}: {d.missing} missing, {d.extra} extra")
                for side, act in d.first.items():
                    click.echo(f"           first {'in Marketo' if side == 'in_marketo' else 'in the simulator'}: "
                               + json.dumps(act, ensure_ascii=False, sort_keys=True))
        for cid in result.unknown_campaigns:
            click.echo(f"  DIFF campaign id {cid}: not in the project's marketo-ids.json")
        click.echo("all matched" if result.matched else "differences found")
    sys.exit(0 if result.matched else 1)


# --- serve: a local Marketo behind Marketo's REST API (docs/serve.md) -----------


@main.command()
@click.argument("path", type=_PATH)
@click.option("--db", type=_FILE, help="The SQLite store (created when missing).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (127.0.0.1: this machine only).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="The port (0: any free port; the chosen one is printed).")
@click.option("--client-id", envvar="CAMPAIGN_SERVE_CLIENT_ID", metavar="ID",
              help="The API user's client id (or $CAMPAIGN_SERVE_CLIENT_ID).")
@click.option("--client-secret", envvar="CAMPAIGN_SERVE_CLIENT_SECRET", metavar="SECRET",
              help="The API user's client secret (or $CAMPAIGN_SERVE_CLIENT_SECRET; never printed).")
@click.option("--token-ttl", default=3600, show_default=True, type=click.IntRange(1, 86400),
              help="Seconds an access token lives.")
@click.option("--advance", "advance_by", metavar="DURATION",
              help="Advance the virtual clock first (e.g. '3 days'), running what falls due.")
@click.option("--max-body", default=1_048_576, show_default=True, type=click.IntRange(1024, 64 << 20),
              help="The largest request body accepted, in bytes (Marketo: 1 MB).")
@click.option("--log-requests", is_flag=True,
              help="Print each request's method, path and status (never a query, header or body).")
def serve(path: str, db: str | None, host: str, port: int, client_id: str | None, client_secret: str | None,
          token_ttl: int, advance_by: str | None, max_body: int, log_requests: bool) -> None:
    """Serve the program at PATH behind Marketo's REST API, on a virtual
    clock: point any Marketo client at http://HOST:PORT (docs/serve.md)."""
    import logging

    if not client_id or not client_secret:
        _fail("serve needs --client-id and --client-secret (or $CAMPAIGN_SERVE_CLIENT_ID and "
              "$CAMPAIGN_SERVE_CLIENT_SECRET): the one API user it accepts")
    try:
        from .serve.api import MarketoAPI
        from .serve.app import serve as run_server
    except ImportError as exc:
        _fail(f"serve needs the 'serve' extra (pip install 'campaignlang[serve]'): {exc}")
    program = _program_or_exit(path)
    from .engine import Engine
    from .store import Store

    try:
        store = Store(":memory:") if db is None else Store(db, write_ahead=True)
        engine = Engine(program, store)
        if advance_by:
            engine.advance(advance_by)
    except CampaignError as exc:
        _fail(str(exc))
    api = MarketoAPI(engine, client_id, client_secret, token_ttl=token_ttl, max_body=max_body)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("campaignlang.serve").setLevel(logging.INFO if log_requests else logging.WARNING)

    def ready(bound: int) -> None:
        where = "in memory" if db is None else db
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"serving {path} on http://{shown}:{bound} (store {where}, clock {engine.now.isoformat()})",
                   err=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            click.echo(f"warning: listening on {host}: other machines can reach this server", err=True)
        sys.stderr.flush()

    try:
        run_server(api, host=host, port=port, on_ready=ready)
        click.echo("stopped", err=True)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    finally:
        store.close()


# --- review commands (schema, diff, report) ------------------------------------


@main.command("schema")
@click.argument("name", required=False)
@click.option("--list", "list_all", is_flag=True, help="List the names of the schemas.")
def schema_cmd(name: str | None, list_all: bool) -> None:
    """Print the JSON Schema of a command's JSON output (NAME: check, test,
    run, plan, diff, sarif ...; --list shows them all)."""
    from . import schemas

    if list_all or name is None:
        if name is not None:
            _fail("give a schema NAME or --list, not both")
        for n in schemas.names():
            click.echo(f"{n:<16} {schemas.load(n).get('title', '')}")
        return
    try:
        click.echo(schemas.dumps(name))
    except schemas.SchemaNotFound:
        _fail(f"no schema {name!r}; the schemas are: {', '.join(schemas.names())}")


@main.command("diff")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@click.option("--people", "people_file", type=_FILE,
              help="Run both versions over these people (CSV or JSON), in memory, and compare outcomes.")
@click.option("--events", "events_file", type=_FILE,
              help="With --people: replay these events (JSON lines) through both versions.")
@click.option("--until", default=None, metavar="DURATION",
              help="With --people: then advance the virtual clock this long (e.g. '1 week').")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="markdown: to paste into a pull request.")
def diff_cmd(old: str, new: str, people_file: str | None, events_file: str | None, until: str | None,
             fmt: str) -> None:
    """What changed between two versions of a program, in the language's
    terms (OLD and NEW: files, or REV:PATH read from git). Exit 0: no
    change; 1: changes; 2: the diff could not be made."""
    from .diff import DiffError, diff_versions, read_version, render_markdown, render_text, to_json

    if (events_file or until) and not people_file:
        _fail("--events and --until need --people")
    try:
        result = diff_versions(read_version(old), read_version(new), people_file, events_file, until)
    except (DiffError, CampaignError) as exc:
        _fail(str(exc))
    if fmt == "json":
        click.echo(json.dumps(to_json(result), indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(render_markdown(result), nl=False)
    else:
        click.echo(render_text(result))
    sys.exit(1 if result.changed else 0)


@main.command("report")
@click.argument("path", type=_PATH)
@click.option("--out", "out_dir", required=True, type=_DIR,
              help="The folder to write index.html into (created when missing).")
@click.option("--db", type=_FILE, help="Counts per step from a plan on a copy of this store.")
@click.option("--people", "people_file", type=_FILE,
              help="Counts per step from a plan over these people (CSV or JSON).")
@click.option("--events", "events_file", type=_FILE,
              help="With --db or --people: replay these events (JSON lines) too.")
@click.option("--until", default=None, metavar="DURATION",
              help="With --db or --people: then advance the virtual clock this long.")
@click.option("--coverage", "with_coverage", is_flag=True, help="Run the tests and show what they reached.")
@click.option("--title", default=None, help="The page's title (default: PATH).")
def report_cmd(path: str, out_dir: str, db: str | None, people_file: str | None, events_file: str | None,
               until: str | None, with_coverage: bool, title: str | None) -> None:
    """Write one self-contained HTML page showing the program: the call graph
    by depth, each campaign's smart list and flow, and with --db/--people
    the counts per step, with --coverage what the tests reached."""
    from .report import Measures, measure_scenario, measure_tests, render_report

    if (events_file or until) and not (db or people_file):
        _fail("--events and --until need --db or --people")
    result = _load_checked(path)
    measures = Measures()
    try:
        if db or people_file:
            measure_scenario(result, measures, db, people_file, events_file, until)
        if with_coverage:
            measure_tests(result, measures)
    except CampaignError as exc:
        _fail(str(exc), 1 if result.program is None else 2)
    page = render_report(result, title or path, measures)
    target = Path(out_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / "index.html").write_text(page, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {target / 'index.html'}: {exc.strerror or exc}")
    click.echo(f"wrote {target / 'index.html'}")


# --- language server ------------------------------------------------------------


@main.command("lsp")
def lsp_cmd() -> None:
    """Serve the Language Server Protocol on stdin/stdout, for editors
    (docs/editors.md). Needs the extra: pip install 'campaignlang[lsp]'."""
    try:
        from .lsp import main as lsp_main
    except ImportError as exc:
        _fail(f"campaign lsp needs the 'lsp' extra (pip install 'campaignlang[lsp]'): {exc}")
    sys.exit(lsp_main())


# --- the set-based engine: --engine and --fallback of run and plan (issue 16) ---------
#
# The options are added to the two commands here, in one block; the choice
# reaches their bodies through a context variable (``_engine_choice``). Nothing
# here imports duckdb: Engine.run_batch loads campaignlang.sets when asked.

_ENGINE_CHOICE: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("engine_choice", default={})


def _engine_choice() -> dict[str, Any]:
    """The ``run_batch`` keywords the user chose (none: the per-person engine)."""
    return dict(_ENGINE_CHOICE.get())


def _echo_engine_note(result: Any) -> None:
    note = getattr(result, "note", None)
    if note:
        click.echo(note, err=True)


def _with_engine_options(command: click.Command) -> None:
    command.params += [
        click.Option(["--engine"], type=click.Choice(["python", "duckdb", "spark"]), default="python",
                     show_default=True,
                     help="python: person by person (the reference); duckdb: set-based, in process "
                          "(the 'sets' extra; docs/scale.md); spark: set-based on Spark."),
        click.Option(["--fallback"], is_flag=True,
                     help="With --engine duckdb or spark: run per person what the set-based engine cannot "
                          "(said in the output) instead of refusing."),
    ]
    inner = command.callback
    assert inner is not None

    def callback(*args: Any, engine: str = "python", fallback: bool = False, **kwargs: Any) -> Any:
        if fallback and engine == "python":
            _fail("--fallback goes with --engine duckdb or --engine spark")
        choice = {} if engine == "python" else {"engine": engine, "fallback": fallback}
        token = _ENGINE_CHOICE.set(choice)
        try:
            return inner(*args, **kwargs)
        finally:
            _ENGINE_CHOICE.reset(token)
    command.callback = functools.update_wrapper(callback, inner)


_with_engine_options(run)
_with_engine_options(plan)



# --- the set-based engine on Spark; people from Parquet, results as Parquet (issue 16) ---
#
# --spark-master and --spark-conf of run and plan (with --engine spark), and
# run's --people parquet:SOURCE --out DIR: a run without a SQLite store over
# people in Parquet files (docs/scale.md, "On Spark, Parquet and warehouses").
# One block, built on the --engine options above; pyspark loads only when a
# Spark backend is made.

PARQUET_PREFIX = "parquet:"


def _with_spark_options(command: click.Command, parquet: bool) -> None:
    command.params += [
        click.Option(["--spark-master"], metavar="URL", default=None,
                     help="With --engine spark: the Spark master (default $CAMPAIGN_SPARK_MASTER, else local[2]); "
                          "spark://host:7077, yarn, k8s://... for a cluster."),
        click.Option(["--spark-conf"], metavar="KEY=VALUE", multiple=True,
                     help="With --engine spark: a Spark setting (repeatable; $CAMPAIGN_SPARK_CONF holds more, "
                          "separated by spaces)."),
    ]
    if parquet:
        command.params.append(click.Option(
            ["--out"], type=_DIR, default=None,
            help="With --people parquet:SOURCE: a new folder for the results as Parquet (activities, runs, "
                 "list_members, program_members, people)."))
    inner = command.callback
    assert inner is not None

    def callback(*args: Any, spark_master: str | None = None, spark_conf: tuple[str, ...] = (),
                 out: str | None = None, **kwargs: Any) -> Any:
        engine = kwargs.get("engine", "python")
        if (spark_master or spark_conf) and engine != "spark":
            _fail("--spark-master and --spark-conf go with --engine spark")
        if engine == "spark":
            from .sets.spark import configure, parse_conf
            try:
                configure(spark_master, parse_conf(spark_conf))
            except CampaignError as exc:
                _fail(str(exc))
        people = kwargs.get("people_file") or ""
        if parquet and (people.startswith(PARQUET_PREFIX) or out is not None):
            return _run_over_parquet(out=out, **kwargs)
        return inner(*args, **kwargs)
    command.callback = functools.update_wrapper(callback, inner)


def _run_over_parquet(path: str, campaign: str, db: str | None, people_file: str | None,
                      tokens: tuple[str, ...], dry_run: bool, trace: bool, fmt: str, engine: str = "python",
                      fallback: bool = False, out: str | None = None) -> None:
    """campaign run ... --engine duckdb|spark --people parquet:SOURCE --out DIR."""
    if not (people_file or "").startswith(PARQUET_PREFIX):
        _fail("--out goes with --people parquet:SOURCE (the results of a run over Parquet people)")
    source = people_file[len(PARQUET_PREFIX):]
    if engine not in ("duckdb", "spark"):
        _fail("--people parquet:SOURCE needs --engine duckdb or --engine spark")
    if out is None:
        _fail("--people parquet:SOURCE needs --out DIR: the results are written there as Parquet, not to a store")
    for flag, given in (("--db", db), ("--dry-run", dry_run), ("--fallback", fallback)):
        if given:
            _fail(f"{flag} does not go with --people parquet:SOURCE (a run over Parquet people has no store; "
                  f"its results go to --out)")
    if "://" in out:
        _fail(f"--out takes a folder of this machine (on a cluster, one the executors share), not {out}")
    if Path(out).exists() and (not Path(out).is_dir() or any(Path(out).iterdir())):
        _fail(f"--out {out} exists and is not an empty folder; name a new one (nothing is overwritten)")
    program = _program_or_exit(path, campaign)
    token_values = _tokens(tokens)
    eng = _open_engine(program, None, memory_note=False)
    backend = None
    try:
        from .clock import iso
        from .sets.parquet import ParquetPeople, parquet_paths, read_activities
        from .sets.run import make_backend

        target, _ = eng.batch_call(campaign, token_values)   # refused before anything is read
        parquet_paths(source)   # a missing source: one line before a session starts
        backend = ParquetPeople(make_backend(engine), source, eng.model, eng.store.columns,
                                eng.store.field_types, iso(eng.clock.now), out=os.path.abspath(out))
        result = _with_progress(eng, lambda: eng.run_batch(target, tokens=token_values, engine=engine,
                                                           backend=backend))
        counts = dict(result.written or {})   # rows per folder of --out, people last
        # the people are not in the store: named by number, as the results name them
        summary = _summary(eng, result, activities=False, emails=False, names=fmt == "json")
        if trace:
            summary["activities"] = [a.to_json() for a in read_activities(out)]
    except ImportError as exc:   # the sets extra (pyarrow, sqlglot) is missing
        extra = "spark" if engine == "spark" else "sets"
        _fail(f"--engine {engine} needs the '{extra}' extra ({exc.name or exc} is not installed): "
              f"pip install 'campaignlang[{extra}]'")
    except CampaignError as exc:
        _fail(str(exc))
    finally:
        if backend is not None:
            backend.close()
    click.echo(f"{backend.people} people read from {source}; wrote " + ", ".join(
        f"{n} {name}" for name, n in counts.items()) + f" to {out}", err=True)
    _echo_summary(summary, fmt, trace, "ran")
    eng.store.close()
    sys.exit(1 if summary["errors"] else 0)


_with_spark_options(run, parquet=True)
_with_spark_options(plan, parquet=False)


if __name__ == "__main__":  # pragma: no cover
    main()
