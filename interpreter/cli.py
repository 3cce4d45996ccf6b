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
from typing import Any, NoReturn

import click

from . import __version__
from .errors import CampaignError, LoadError


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _color(ctx_stream=None) -> bool:
    return sys.stdout.isatty()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    from .loader import read_text
    from .render import render_text
    from .source import SourceFile

    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(sorted(path.rglob("*.campaign")))
        elif path.exists():
            files.append(path)
        else:
            _fail(f"no such file: {p}")
    changed = broken = 0
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
            f.write_text(out, encoding="utf-8")
            click.echo(f"formatted {f}")
    total = len(files)
    verb = "would change" if (check_only or show_diff) else "changed"
    click.echo(f"{total} file{'s' if total != 1 else ''} checked, {changed} {verb}"
               + (f", {broken} with syntax errors" if broken else ""), err=check_only)
    sys.exit(1 if broken or (check_only and changed) else 0)


# --- checker commands (graph, explain --token) --------------------------------

# --- engine commands (run, request, events, people, plan, explain --person) -----

# --- test and repl commands ---------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()
