"""The REPL, ``campaign repl [PATH]``: trying things at a prompt.

The core is ``Session``, which owns no terminal: ``Session.execute(text)``
takes what was typed and returns what to print. The interactive loop
(prompt_toolkit) and the pipe mode (``printf '...' | campaign repl``) both feed
it, and tests call it directly.

What an entry is, decided by its first word:

* ``:name ...`` is a command (``COMMANDS``; ``:help`` lists them).
* ``person``, ``for``, ``run``, ``request``, ``fire``, ``advance``,
  ``expect`` are statements of a test block (LANGUAGE.md §9). They are
  parsed inside a hidden ``test { }``, checked against the program, and run
  on the session's engine one by one: each action, then whatever falls due at
  the current time, as ``campaign test`` does. An ``expect`` prints ``ok`` or
  what failed.
* Anything else is a declaration (``program``, ``workspace``, ``folder``,
  ``fields``, ``tokens``, ``import``, ``test``). It is checked at once against
  everything loaded and typed so far; with an error it is refused and nothing
  changes ("a bad entry changes nothing"), otherwise it joins the session's
  *working module*.

Choices (docs/language.md, "The REPL"):

* **Redefinition.** A ``program``, ``folder``, ``workspace`` or ``test``
  typed at the prompt replaces one of the same kind and name typed earlier
  (a REPL is where you fix things); one from a loaded file is never replaced
  (that is a duplicate, CL102, as in a file). ``fields`` and ``tokens`` blocks
  add to what is there.
* **When an entry is complete** is the parser's decision, not a count of
  braces: the buffer is parsed, and while a diagnostic says a block is
  unclosed, or the last line ends in a comma (the language's own line
  continuation), the prompt asks for more. Meta-Enter (Esc, Enter) submits
  anyway; in pipe mode, the end of the input does.
* **Diagnostics** of an entry are drawn as ``campaign check`` draws them,
  against the entry's own lines (file ``<input>``); a refused entry shows its
  errors and the warnings it caused, an accepted one its warnings.
* **Files** named by ``PATH`` or ``:load`` are read once (their imports
  too) and kept as read; ``:load`` again re-reads them. ``:check`` re-reads
  them from disk to report, without changing what is loaded.
* **State**: one store in memory, its clock starting at 2026-01-01T00:00 as
  in tests. A new declaration rebuilds the engine over the same store, so
  people, memberships, activities, paused runs and the clock are kept.
  ``:reset`` empties the store and forgets the typed declarations; loaded
  files stay.
* **Output**: diagnostics in colour and rich tables only when stdout is a
  terminal; plain text otherwise. Errors are one line (``error: ...``), never
  a traceback. In pipe mode the exit status is 1 when any entry failed (an
  error, a refused declaration, a failed ``expect``), else 0.

Imports ``ast``, ``errors``, ``loader``, ``parse``, ``check``, ``render``,
``format``, ``explain``, ``source`` and the ``stdlib`` vocabulary; the engine,
the store and the test runner on first use; prompt_toolkit only in the
interactive loop, rich only for tables and ``:show`` on a terminal, and
``highlight`` (the Pygments lexer that colours the prompt) when colouring.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import io
import os
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from attrs import frozen

from . import ast
from . import loader as _loader
from .check import CheckResult, check
from .errors import CampaignError, Diagnostic, LoadError, Related
from .parse import ParseResult, parse
from .render import printable, render_text, summary_line, use_color
from .source import SourceFile, Span
from .stdlib import filters as _filters
from .stdlib import steps as _steps
from .stdlib import triggers as _triggers

if TYPE_CHECKING:  # pragma: no cover
    from .engine import ActionResult, Engine
    from .store import Store

__all__ = ["Session", "COMMANDS", "STATEMENT_WORDS", "main", "run_pipe", "run_interactive",
           "build_prompt", "highlight_line", "history_path"]

#: the file name an entry's diagnostics point at
INPUT = "<input>"
#: the file name of the declarations typed so far (``:check`` shows it)
WORKING = "<repl>"

STATEMENT_WORDS = ("person", "for", "run", "request", "fire", "advance", "expect")
DECLARATION_WORDS = ("import", "fields", "workspace", "folder", "program", "tokens", "test")

#: name -> (usage, what it does), in the order ``:help`` lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "load": (":load FILE", "load a .campaign file (or a folder) and its imports; again to re-read it"),
    "check": (":check", "check the loaded files (as on disk now) and the declarations typed here"),
    "campaigns": (":campaigns", "list the campaigns"),
    "people": (":people [EMAIL]", "list the people (add one with: person \"EMAIL\" { Field = value })"),
    "run": (":run CAMPAIGN [--token my.X=V]...", "run a batch campaign now"),
    "fire": (":fire TRIGGER for \"EMAIL\" [{ attrs }]", "fire an event, e.g. :fire fills out form \"F\" for \"a@b.c\""),
    "advance": (":advance DURATION|TIME", "move the clock (2 days, 2026-02-01T09:00), running what falls due"),
    "log": (":log [EMAIL]", "the activity log, of everyone or of one person"),
    "explain": (":explain CAMPAIGN [--token my.X]... [--person EMAIL]",
                "how the campaign's tokens resolve per call path, or why a person qualifies"),
    "tokens": (":tokens CAMPAIGN", "the campaign's token environment, layer by layer"),
    "show": (":show CAMPAIGN", "the campaign's source, coloured on a terminal"),
    "test": (":test [PATTERN]", "run the test blocks loaded and typed here"),
    "save": (":save FILE", "write the declarations typed here, formatted"),
    "reset": (":reset", "forget the declarations typed here and empty the store; loaded files stay"),
    "help": (":help", "this list"),
    "quit": (":quit", "leave (also :exit, Ctrl-D)"),
}
_ALIASES = {"exit": "quit", "q": "quit", "h": "help", "?": "help"}

HELP_STATEMENTS = """\
Statements of test blocks run at the prompt:
  person "ann@example.com" { Country = "US", "Lead Score" = 0 }
  for "ann@example.com" { add to list "Customers" }
  run "Program"."Campaign" [with tokens { my.Score = +3 }]
  request "Program"."Campaign" for "ann@example.com" [with tokens { ... }]
  fire fills out form "Contact Us" for "ann@example.com" { "Web Page" = "/lp" }
  advance 3 days
  expect "ann@example.com"."Lead Score" == 10     (and the other expect forms)
Declarations (program, workspace, folder, fields, tokens, import, test) are
checked against everything loaded and join the working module; a program,
folder, workspace or test typed again replaces the earlier one.
An entry continues while a block is open; Esc then Enter submits anyway."""

_STATEMENT_WRAP = 'test "<prompt>" {\n'


# --------------------------------------------------------------------------
# Small helpers


def _first_word(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            m = re.match(r":?[A-Za-z_?][A-Za-z0-9_!]*", s)
            return m.group(0) if m else s[:1]
    return ""


def _is_blank(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("#") for line in text.splitlines())


def _ends_with_comma(text: str) -> bool:
    """The language's line continuation: the last line ends in a comma,
    before any trailing comment (a comma inside a string or a comment does
    not count)."""
    last = text.rstrip().rsplit("\n", 1)[-1]
    bare = re.sub(r'"(?:[^"\\\n]|\\.)*"|\{\{[^{}\n]*\}\}', "x", last)
    return bare.split("#", 1)[0].rstrip().endswith(",")


def _unclosed(diags: Iterable[Diagnostic]) -> bool:
    return any(d.code == "CL001" and d.message.startswith("unclosed block") for d in diags)


def _show_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, _dt.datetime):
        return v.isoformat(timespec="minutes" if not v.second else "seconds")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(_show_value(x) for x in v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_show_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field_spelling(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else _quote(name)


def _strip_arg(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1]
    return t


def history_path() -> Path:
    """Where the REPL keeps its history: ``$XDG_DATA_HOME/campaignlang/
    repl_history`` (``~/.local/share`` when unset; ``%LOCALAPPDATA%`` on
    Windows)."""
    base = os.environ.get("XDG_DATA_HOME")
    if not base:
        if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
            base = os.environ["LOCALAPPDATA"]
        else:
            base = str(Path.home() / ".local" / "share")
    return Path(base) / "campaignlang" / "repl_history"


# --------------------------------------------------------------------------
# Loading: files read once, parses cached


class _SessionLoader(_loader.Loader):
    """The loader's rules (imports, the root, cycles) with two changes for a
    session: files are read once into ``snapshot`` (what is loaded does not
    change behind the user's back), and parses are cached by name and text."""

    def __init__(self, root: Path | None, snapshot: dict[str, str],
                 parses: dict[str, tuple[str, ParseResult]]):
        super().__init__(root)
        self.snapshot = snapshot
        self.parses = parses

    def read(self, key: str, path: Path) -> str:
        text = self.snapshot.get(key)
        if text is None:
            text = self.snapshot[key] = _loader.read_text(path)
        return text

    def parse(self, text: str, name: str) -> ParseResult:
        cached = self.parses.get(name)
        if cached is not None and cached[0] == text:
            return cached[1]
        result = parse(text, name)
        self.parses[name] = (text, result)
        return result


def _expand(path: str) -> list[str]:
    p = Path(path)
    if p.is_dir():
        # the loader's scan: no link out of the root, no loop, no FIFO (docs/security.md)
        found = [str(f) for f in _loader.scan_folder(p).files]
        if not found:
            raise LoadError(f"no .campaign files in {path}")
        return found
    if not p.exists():
        raise LoadError(f"no such file: {path}")
    return [path]


# --------------------------------------------------------------------------
# The working module: declarations typed at the prompt


@frozen
class _Item:
    """One top-level declaration typed at the prompt, as it was typed."""

    key: tuple[str, str] | None   # (kind, name): a later item of the same key replaces it
    label: str                    # 'program "Webinar"'
    text: str


def _item_key(node: ast.Node) -> tuple[str, str] | None:
    for cls, kind in ((ast.Program, "program"), (ast.Folder, "folder"), (ast.Workspace, "workspace"),
                      (ast.Test, "test")):
        if isinstance(node, cls):
            return kind, node.name
    return None


def _item_label(node: ast.Node) -> str:
    if isinstance(node, ast.Program):
        n = sum(isinstance(i, ast.Campaign) for i in node.items)
        return f'program {_quote(node.name)} ({_plural(n, "campaign")})'
    if isinstance(node, (ast.Folder, ast.Workspace)):
        kind = "folder" if isinstance(node, ast.Folder) else "workspace"
        n = sum(1 for x in ast.walk(node) if isinstance(x, ast.Program))
        return f"{kind} {_quote(node.name)} ({_plural(n, 'program')})"
    if isinstance(node, ast.Test):
        return f"test {_quote(node.name)}"
    if isinstance(node, ast.Fields):
        return "fields " + ", ".join(_quote(f.name) for f in node.fields)
    if isinstance(node, ast.Tokens):
        return "tokens " + ", ".join("my." + _field_spelling(t.name) for t in node.tokens)
    if isinstance(node, ast.Import):
        return ("import std " if node.std else "import ") + _quote(node.path)
    return type(node).__name__.lower()


def _chunks(text: str, items: Sequence[ast.Node]) -> list[str]:
    """The text of each item, with the comments before it (and, for the
    last, after it)."""
    out = []
    prev = 0
    for n, item in enumerate(items):
        item_end = item.span.end if item.span is not None else len(text)
        end = len(text) if n == len(items) - 1 else item_end
        out.append(text[prev:end].strip().strip(";").strip())
        prev = item_end
    return out


def _shift(d: Diagnostic, src: SourceFile, shift: int) -> Diagnostic:
    """A diagnostic of the wrapped statement text, moved onto the text as typed."""
    def fix(span: Span) -> Span:
        if span.file != src.name:
            return span
        size = len(src.text)
        start = min(max(span.start - shift, 0), size)
        end = min(max(span.end - shift, start), size)
        return src.span(start, end)
    related = [Related(r.message, fix(r.span)) for r in d.related]
    return Diagnostic(d.code, d.severity, d.message, fix(d.span), d.hint, related)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Tables: rich on a terminal, aligned plain text otherwise


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, rich: bool, color: bool,
           width: int, wrap: int = 1) -> str:
    """A table as text; with ``rich``, the last ``wrap`` columns may wrap,
    the others keep their width."""
    if rich:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for i, h in enumerate(headers):
            table.add_column(h, overflow="fold",
                             ratio=(2 if i == len(headers) - 1 else 1) if i >= len(headers) - wrap else None)
        for r in rows:
            table.add_row(*r)
        buf = io.StringIO()
        console = Console(file=buf, width=width, force_terminal=color, no_color=not color,
                          color_system="standard" if color else None, highlight=False)
        console.print(table)
        return buf.getvalue().rstrip()
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


# --------------------------------------------------------------------------
# The session


class _Output:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failed = False

    def __call__(self, text: str = "") -> None:
        self.lines.append(text)

    def error(self, message: str) -> None:
        self.lines.append(f"error: {message}")
        self.failed = True

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n")


class _Refused(Exception):
    """An entry was refused; its output is already written."""


class Session:
    """A REPL session: loaded files, the declarations typed so far (the
    working module), a store in memory and an engine over it.

    ``execute(text)`` runs an entry (or several, one after another) and
    returns what to print; ``needs_more(text)`` says whether a buffer is an
    unfinished entry. Nothing here touches a terminal."""

    def __init__(self, *, color: bool = False, rich_tables: bool = False, width: int = 100,
                 cwd: str | os.PathLike[str] | None = None, db: str | None = None):
        self.color = color
        self.db = db             # ``repl --db FILE``: the session's store is that SQLite file
        self.rich_tables = rich_tables
        self.width = width
        self.cwd = Path(cwd) if cwd is not None else Path.cwd()
        self.files: list[str] = []
        self.items: list[_Item] = []
        self.errors = 0          # entries that failed
        self.done = False        # :quit was typed
        self._root: Path | None = None
        self._snapshot: dict[str, str] = {}
        self._parses: dict[str, tuple[str, ParseResult]] = {}
        self._saved: set[str] = set()
        self._store: Store | None = None
        self._engine: Engine | None = None
        self._engine_program: Any = None
        self.result: CheckResult = self._check(self.files, self.items, None, self._snapshot)[0]

    # -- state ---------------------------------------------------------------

    @property
    def working_text(self) -> str:
        """The declarations typed so far, as typed, a blank line between two."""
        return "\n\n".join(i.text for i in self.items) + ("\n" if self.items else "")

    @property
    def model(self):
        return self.result.model

    @property
    def engine(self) -> "Engine":
        """The engine over the session's store, for the current program."""
        from .engine import Engine
        from .store import Store

        program = self.result.program
        assert program is not None, "the session only ever holds a program without errors"
        if self._engine is None or self._engine_program is not program:
            if self._store is None:
                self._store = Store(self.db if self.db is not None else ":memory:")
            self._engine = Engine(program, self._store)
            self._engine_program = program
        return self._engine

    def _root_for(self, files: Sequence[str]) -> Path:
        if self._root is None:
            self._root = _loader.find_root(Path(files[0]) if files else self.cwd / WORKING)
        return self._root

    def _check(self, files: Sequence[str], items: Sequence[_Item], entry: tuple[str, str] | None,
               snapshot: dict[str, str]) -> tuple[CheckResult, _loader.Loaded]:
        """Load ``files``, the working module and an entry; check them together."""
        ld = _SessionLoader(self._root_for(files), snapshot, self._parses)
        for f in files:
            p = Path(f)
            ld.load_file(p, f if not p.is_absolute() else _loader.display_name(p))
        folder = self.cwd
        if items:
            ld.load("<text>:" + WORKING, "\n\n".join(i.text for i in items) + "\n", WORKING, folder)
        if entry is not None:
            ld.load("<text>:" + entry[0], entry[1], entry[0], folder)
        diags = sorted(set(ld.diags), key=Diagnostic.sort_key)
        loaded = _loader.Loaded(tuple(ld.results), tuple(diags), ld.root)
        return check(loaded), loaded

    def _adopt(self, result: CheckResult) -> None:
        """Make ``result`` the session's program; the engine is rebuilt over
        the same store on next use (a field whose type changed is refused
        first, by building it now)."""
        old_result, old_engine = self.result, self._engine
        self.result = result
        if self._store is not None:
            try:
                self.engine   # build it now: the store may refuse the program's fields
            except CampaignError:
                self.result, self._engine = old_result, old_engine
                self._engine_program = old_engine.program if old_engine is not None else None
                raise

    # -- entries -------------------------------------------------------------

    def needs_more(self, text: str) -> bool:
        """True while ``text`` is an unfinished entry: a block is still open
        (the parser says so) or the last line ends in a comma."""
        if _is_blank(text):
            return False
        word = _first_word(text)
        if word.startswith(":"):
            return False
        if _ends_with_comma(text):
            return True
        if word in STATEMENT_WORDS:
            text = _STATEMENT_WRAP + text + "\n}"
        return _unclosed(parse(text, INPUT).diagnostics)

    def entries(self, text: str) -> list[str]:
        """Split a buffer into entries: lines gather until they make a
        complete one (a pasted block of declarations and commands runs
        entry by entry). An unfinished tail is the last entry."""
        out: list[str] = []
        buf: list[str] = []
        for line in text.split("\n"):
            if not buf and _is_blank(line):
                continue
            buf.append(line)
            joined = "\n".join(buf)
            if not self.needs_more(joined):
                out.append(joined)
                buf = []
        if buf and not _is_blank("\n".join(buf)):
            out.append("\n".join(buf))
        return out

    def execute(self, text: str, *, split: bool = True) -> str:
        """Run what was typed and return what to print. A buffer may hold
        several entries (a paste): they run one after another, unless
        ``split`` is false (the caller already cut one complete entry)."""
        outputs = []
        for entry in (self.entries(text) if split else [text] if not _is_blank(text) else []):
            outputs.append(self._execute_one(entry))
            if self.done:
                break
        return "\n".join(o for o in outputs if o)

    def _execute_one(self, text: str) -> str:
        out = _Output()
        try:
            word = _first_word(text)
            if word.startswith(":"):
                self._command(text.strip(), out)
            elif word in STATEMENT_WORDS:
                self._statements(text, out)
            else:
                self._declarations(text, out)
        except _Refused:
            out.failed = True
        except CampaignError as exc:
            out.error(str(exc))
        except KeyboardInterrupt:
            out.error("interrupted; an action that was running was rolled back")
        except RecursionError:
            out.error("internal error: the entry is nested too deeply")
        except Exception as exc:  # never a traceback at the prompt
            out.error(f"internal error: {type(exc).__name__}: {exc} (please report it)")
        if out.failed:
            self.errors += 1
        return out.text()

    def _render(self, diags: Sequence[Diagnostic], sources: dict[str, SourceFile]) -> str:
        return render_text(diags, sources, color=self.color)

    # -- declarations ----------------------------------------------------------

    def _declarations(self, text: str, out: _Output) -> None:
        parsed = parse(text, INPUT)
        self._parses[INPUT] = (text, parsed)
        sources = {INPUT: parsed.source}
        if not parsed.ok:
            errors = [_entry_hint(d, text) for d in parsed.diagnostics if d.is_error]
            out(self._render(errors, sources))
            word = _first_word(text)
            if any(w.split()[0] == word for w in _STEP_WORDS):
                out('note: a step runs inside a flow; to run it for one person now, write '
                    'for "EMAIL" { ' + " ".join(text.split()) + " }")
            self._refuse(out, [d for d in parsed.diagnostics if d.is_error])
        items = parsed.module.items
        if not items:
            return
        new = [_Item(_item_key(n), _item_label(n), chunk) for n, chunk in zip(items, _chunks(text, items))]
        keys = {i.key for i in new if i.key is not None}
        kept = [i for i in self.items if i.key is None or i.key not in keys]
        replaced = {i.key for i in self.items if i.key is not None and i.key in keys}
        candidate, _ = self._check(self.files, kept, (INPUT, text), self._snapshot)
        shown = [d for d in candidate.diagnostics if d.is_error or d.span.file == INPUT]
        if not candidate.ok:
            out(self._render(shown, candidate.sources))
            self._refuse(out, [d for d in shown if d.is_error])
        final, _ = self._check(self.files, kept + new, None, self._snapshot)
        if not final.ok:   # the same declarations, only in one file: cannot differ
            out(self._render(final.errors, final.sources))
            self._refuse(out, final.errors)
        self._adopt(final)
        self.items = kept + new
        for i in new:
            out(("replaced " if i.key in replaced else "added ") + i.label)
        if shown:
            out(self._render(shown, candidate.sources))

    def _refuse(self, out: _Output, errors: Sequence[Diagnostic]) -> None:
        out(f"nothing changed ({_plural(len(errors), 'error')})")
        raise _Refused

    # -- statements ------------------------------------------------------------

    def _statements(self, text: str, out: _Output) -> None:
        wrapped = _STATEMENT_WRAP + text + "\n}\n"
        shift = len(_STATEMENT_WRAP)
        typed = SourceFile(INPUT, text)
        candidate, loaded = self._check(self.files, self.items, (INPUT, wrapped), self._snapshot)
        sources = dict(candidate.sources)
        sources[INPUT] = typed
        shown = [_shift(d, typed, shift) for d in candidate.diagnostics
                 if d.is_error or d.span.file == INPUT]
        if _unclosed(shown):
            # the hidden test block would be named: name the user's own block instead
            shown = [d for d in parse(text, INPUT).diagnostics if _unclosed([d])] or shown
        if not candidate.ok:
            out(self._render(shown, sources))
            self._refuse(out, [d for d in shown if d.is_error])
        if shown:
            out(self._render(shown, sources))
        tests = loaded.results[-1].module.of(ast.Test)
        statements = tests[0].statements if tests else ()
        for s in statements:
            self._statement(s, candidate, wrapped, out)

    def _statement(self, s: ast.Node, candidate: CheckResult, wrapped: str, out: _Output) -> None:
        from .runner import ACTIONS, TestResult, TestRun, perform

        e = self.engine
        first = e.store.last_activity_id()
        if not isinstance(s, ACTIONS):   # an expectation
            result = TestResult("<prompt>", INPUT, 0)
            assert candidate.program is not None
            TestRun(e, candidate.program, result).statement(s)
            if result.failures:
                for f in result.failures:
                    out(f"FAIL  {f.message}")
                out.failed = True
            else:
                out("ok")
            return
        existed = isinstance(s, ast.PersonStmt) and e.store.find_person(s.email) is not None
        results = perform(e, s)
        if isinstance(s, ast.PersonStmt):
            head = f"{'updated' if existed else 'added'} {s.email}"
        elif isinstance(s, ast.ForStmt):
            head = f"ran {_plural(len(s.steps), 'step')} for {s.email}"
        elif isinstance(s, ast.RunStmt):
            head = f"ran {results[0].campaign}: {_plural(len(results[0].entered), 'person', 'people')} entered"
        elif isinstance(s, ast.RequestStmt):
            head = f"requested {results[0].campaign} for {', '.join(s.people)}"
        elif isinstance(s, ast.FireStmt):
            span = s.trigger.span
            what = " ".join(wrapped[span.start:span.end].split()) if span else s.trigger.kind
            head = f"fired {what} for {', '.join(s.people)}"
        else:
            assert isinstance(s, ast.AdvanceStmt)
            head = f"advanced {s.duration.text} to {_show_value(e.now)}"
        self._summary(head, results, first, out)

    def _summary(self, head: str, results: Sequence["ActionResult"], first: int, out: _Output,
                 quiet_types: tuple[str, ...] = ("New Person",)) -> None:
        e = self.engine
        last = e.store.last_activity_id()
        runs = sum(r.runs for r in results)
        counts = e.store.activity_counts(first, last)
        errors = sum(n for _c, t, n in counts if t == "Error")
        tail = f", {_plural(runs, 'run')}" if runs else ""
        tail += f", {_plural(errors, 'error')}" if errors else ""
        out(head + tail)
        if any(t not in quiet_types for _c, t, _n in counts):
            for campaign, type_, n in counts:
                out(f"  {n:>5}  {type_:<28} {campaign or '-'}")
        if errors:
            for a in e.store.activities(type_="Error", after_id=first):
                if a.id <= last:
                    out(f"  error: {a.email or '-'}: {a.attributes.get('message', '')}")

    # -- commands --------------------------------------------------------------

    def _command(self, text: str, out: _Output) -> None:
        head, _, arg = text[1:].partition(" ")
        if "\n" in head:
            head, _, more = head.partition("\n")
            arg = more + " " + arg
        name = _ALIASES.get(head, head)
        if name not in COMMANDS:
            close = difflib.get_close_matches(name, list(COMMANDS) + list(_ALIASES), n=1)
            hint = f"; did you mean :{close[0]}?" if close else ""
            out.error(f"unknown command ':{head}'{hint} (:help lists them)")
            return
        getattr(self, "cmd_" + name)(arg.strip(), out)

    def load(self, path: str) -> str:
        """``:load PATH``, for the command line's PATH argument."""
        return self._execute_one(":load " + path)

    def cmd_load(self, arg: str, out: _Output) -> None:
        if not arg:
            out.error("usage: :load FILE")
            return
        new_files = _expand(_strip_arg(arg))
        files = list(self.files)
        keys = {str(Path(f).resolve()) for f in files}
        reloaded = [f for f in new_files if str(Path(f).resolve()) in keys]
        files += [f for f in new_files if str(Path(f).resolve()) not in keys]
        snapshot = {} if reloaded else dict(self._snapshot)   # a reload re-reads everything
        result, loaded = self._check(files, self.items, None, snapshot)
        if not result.ok:
            out(self._render(result.errors, result.sources))
            self._refuse(out, result.errors)
        self._adopt(result)
        self.files, self._snapshot = files, snapshot
        m = result.model
        warnings = len(result.warnings)
        verb = "reloaded" if reloaded and len(reloaded) == len(new_files) else "loaded"
        out(f"{verb} {', '.join(new_files)}: {_plural(len(m.programs), 'program')}, "
            f"{_plural(len(m.campaigns), 'campaign')}, {_plural(len(m.tests), 'test')}"
            + (f"; {_plural(warnings, 'warning')} (see :check)" if warnings else ""))

    def cmd_check(self, arg: str, out: _Output) -> None:
        fresh: dict[str, str] = {}
        result, loaded = self._check(self.files, self.items, None, fresh)
        if result.diagnostics:
            out(self._render(result.diagnostics, result.sources))
            out()
        changed = sorted(k for k, v in fresh.items() if self._snapshot.get(k) not in (None, v))
        n = len(loaded.results)
        out(f"checked {_plural(n, 'file')}: {summary_line(result.diagnostics)}")
        for k in changed:
            out(f"note: {_loader.display_name(Path(k))} changed since it was loaded; :load it to use the new version")
        if not result.ok:
            out.failed = True

    def cmd_campaigns(self, arg: str, out: _Output) -> None:
        rows = [[c.qualname, c.kind + ("" if c.active else " (inactive)"), str(c.id)]
                for c in self.model.campaigns]
        if not rows:
            out("no campaigns yet (:load FILE, or type a program)")
            return
        out(_table(["campaign", "kind", "id"], rows, rich=self.rich_tables, color=self.color, width=self.width))

    def cmd_people(self, arg: str, out: _Output) -> None:
        e = self.engine
        store = e.store
        if arg:
            email = _strip_arg(arg)
            p = e.person(email)
            if p is None:
                out.error(f"no person {email}")
                return
            rows = [[store.field_names.get(k, k), _show_value(v)] for k, v in p.fields().items()]
            rows += [["list", name] for name in store.lists_of(p.id)]
            rows += [["program", f"{m.program}: {m.status or '(no status)'}"
                      + (f" {_show_value(m.data)}" if m.data else "")] for m in store.memberships(p.id)]
            out(_table(["field", "value"], rows, rich=self.rich_tables, color=self.color, width=self.width))
            return
        people = e.people()
        if not people:
            out('no people yet (add one: person "ann@example.com" { Country = "US" })')
            return
        skip = {"email address", "created at", "updated at"}
        order = [ast.name_key(n) for n in self.model.field_names()]
        used = {k for p in people for k, v in p.fields().items() if k not in skip and v not in (None, "")}
        keys = [k for k in order if k in used] + sorted(used - set(order))
        lists = {p.id: store.lists_of(p.id) for p in people}
        programs = {p.id: store.memberships(p.id) for p in people}
        headers = ["id", "Email Address"] + [store.field_names.get(k, k) for k in keys]
        if any(lists.values()):
            headers.append("lists")
        if any(programs.values()):
            headers.append("programs")
        rows = []
        for p in people:
            row = [str(p.id), p.email] + [_show_value(p.get(k)) for k in keys]
            if any(lists.values()):
                row.append(", ".join(lists[p.id]))
            if any(programs.values()):
                row.append(", ".join(f"{m.program}: {m.status or '-'}" for m in programs[p.id]))
            rows.append(row)
        out(_table(headers, rows, rich=self.rich_tables, color=self.color, width=self.width))

    def _find_campaign(self, text: str):
        from .explain import find_campaign

        c, why = find_campaign(self.model, text)
        if c is None:
            raise CampaignError(why or f"no campaign {text!r}")
        return c

    @staticmethod
    def _options(arg: str, names: Sequence[str]) -> tuple[str, dict[str, list[str]]]:
        """Split ``CAMPAIGN --opt V --opt V`` (the campaign may hold spaces and quotes)."""
        opts: dict[str, list[str]] = {n: [] for n in names}
        pattern = re.compile(r'\s--(' + "|".join(names) + r')(?:\s+|=)("(?:[^"\\]|\\.)*"|\S+)')
        def take(m: re.Match[str]) -> str:
            opts[m.group(1)].append(m.group(2))
            return ""
        rest = pattern.sub(take, " " + arg)
        bad = re.search(r"\s(--\S+)", rest)
        if bad:
            raise CampaignError(f"unknown option {bad.group(1)} (options: "
                                + ", ".join("--" + n for n in names) + ")")
        return rest.strip(), opts

    def cmd_run(self, arg: str, out: _Output) -> None:
        target, opts = self._options(arg, ["token"])
        if not target:
            out.error("usage: :run CAMPAIGN [--token my.X=V]")
            return
        c = self._find_campaign(target)
        tokens: dict[str, str] = {}
        for pair in opts["token"]:
            name, eq, value = _strip_arg(pair).partition("=")
            if not eq:
                raise CampaignError(f"--token takes my.Name=value, not {pair!r}")
            tokens[name.strip()] = value
        e = self.engine
        first = e.store.last_activity_id()
        results = [e.run_batch(c, tokens=tokens or None)]
        results.append(e.run_due())
        self._summary(f"ran {c.qualname}: {_plural(len(results[0].entered), 'person', 'people')} entered",
                      results, first, out)

    def cmd_fire(self, arg: str, out: _Output) -> None:
        if not arg:
            out.error('usage: :fire TRIGGER for "EMAIL" [{ attributes }], '
                      'e.g. :fire visits web page "/pricing" for "ann@example.com"')
            return
        self._statements("fire " + arg, out)

    def cmd_advance(self, arg: str, out: _Output) -> None:
        if not arg:
            out.error("usage: :advance DURATION|TIME (2 days, 2026-02-01T09:00)")
            return
        e = self.engine
        first = e.store.last_activity_id()
        before = e.now
        result = e.advance(arg)
        self._summary(f"advanced {arg} to {_show_value(e.now)}" if e.now != before
                      else f"the clock stays at {_show_value(e.now)}", [result], first, out)

    def cmd_log(self, arg: str, out: _Output) -> None:
        e = self.engine
        who = _strip_arg(arg) if arg else None
        acts = e.activities(who)
        if not acts:
            out("no activities yet" + (f" for {who}" if who else ""))
            return
        rows = []
        for a in acts:
            details = ", ".join(f"{k}={_show_value(v)}" for k, v in a.attributes.items())
            if a.old is not None or a.new is not None:
                change = f"{_show_value(a.old) or 'empty'} -> {_show_value(a.new) or 'empty'}"
                details = change + (f"; {details}" if details else "")
            at = a.at.replace("T", " ")
            row = [str(a.id), at[:-3] if at.endswith(":00") else at, a.type, a.campaign or "-", details]
            if who is None:
                row.insert(2, a.email or "-")
            rows.append(row)
        headers = ["#", "time", "activity", "campaign", "details"]
        if who is None:
            headers.insert(2, "person")
        out(_table(headers, rows, rich=self.rich_tables, color=self.color, width=self.width, wrap=2))

    def cmd_explain(self, arg: str, out: _Output) -> None:
        from .explain import explain_token, render_reports, token_name, tokens_used

        target, opts = self._options(arg, ["token", "person"])
        if not target:
            out.error("usage: :explain CAMPAIGN [--token my.X]... [--person EMAIL]")
            return
        c = self._find_campaign(target)
        if opts["person"]:
            from .explain import explain_person, render_explanation

            for who in opts["person"]:
                out(render_explanation(explain_person(self.engine, c, _strip_arg(who))))
            if not opts["token"]:
                return
        names = [token_name(_strip_arg(t)) for t in opts["token"]] or tokens_used(self.model, c, dict(self.result.refs))
        if not names:
            out(f"{c.qualname} uses no My Token and its scope declares none")
            return
        reports = [explain_token(self.model, c, n, self.result.graph) for n in names]
        out(render_reports(reports))

    def cmd_tokens(self, arg: str, out: _Output) -> None:
        from .explain import value_text

        if not arg:
            out.error("usage: :tokens CAMPAIGN")
            return
        c = self._find_campaign(arg)
        env = c.env()
        out(f"token environment of {c.qualname} ({c.kind}), innermost layer first:")
        seen: dict[str, str] = {}
        for layer in env.layers:
            out(f"  {layer.label}")
            if not layer.bindings:
                out("    (no My Tokens)")
            for key, b in sorted(layer.bindings.items(), key=lambda kv: kv[1].name.casefold()):
                note = f"   (hidden by {seen[key]})" if key in seen else ""
                seen.setdefault(key, layer.label)
                out(f"    my.{_field_spelling(b.name)} = {value_text(b.value)}{note}")
        out("  campaign and program tokens")
        for ns, obj in (("campaign", c), ("program", c.program)):
            for attr in ("name", "id", "description"):
                out(f"    {{{{{ns}.{attr}}}}} = {getattr(obj, attr) or '(empty)'}")
        if c.kind == "executable":
            out("  run with 'use parent token context', the caller's context comes first: "
                f":explain {c.qualname} --token my.X shows each call path")
        elif c.kind == "trigger":
            out("  {{trigger.Name}} and the trigger's attributes come from the event that started the run")
        out("  values passed with run or request (API) override My Tokens for that run")

    def cmd_show(self, arg: str, out: _Output) -> None:
        if not arg:
            out.error("usage: :show CAMPAIGN")
            return
        c = self._find_campaign(arg)
        span = c.node.span
        src = self.result.sources.get(span.file) if span is not None else None
        if src is None:
            out.error(f"the source of {c.qualname} is not at hand")
            return
        # from the start of its line, so the first line keeps its indentation
        line_start = src.text.rfind("\n", 0, span.start) + 1
        text = src.text[line_start:span.end]
        out(f"# {span.file}:{span.line}")
        if self.color:
            from .highlight import to_ansi

            out(to_ansi(text, self.width))
        else:
            out(text)

    def cmd_test(self, arg: str, out: _Output) -> None:
        from .runner import format_results, run_tests

        program = self.result.program
        assert program is not None
        files = [name for name in self.result.sources if not name.startswith(_loader.STD_PREFIX)]
        results = run_tests(program, files=files, pattern=_strip_arg(arg) or None)
        if not results:
            out("no tests" + (f" matching {arg!r}" if arg else ""))
            return
        out(format_results(results))
        if any(not r.passed for r in results):
            out.failed = True

    def cmd_save(self, arg: str, out: _Output) -> None:
        from .format import format_source

        if not arg:
            out.error("usage: :save FILE")
            return
        path = Path(_strip_arg(arg))
        if not self.items:
            out.error("nothing to save: no declarations were typed here")
            return
        key = str(path.resolve())
        if key in {str(Path(f).resolve()) for f in self.files} or key in self._snapshot:
            out.error(f"{path} is loaded in this session; save to another file")
            return
        if path.exists() and key not in self._saved:
            out.error(f"{path} exists; save to a new file (a file this session saved may be saved again)")
            return
        text = format_source(self.working_text, str(path))
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CampaignError(f"cannot write {path}: {exc.strerror or exc}") from None
        self._saved.add(key)
        note = "; it uses declarations of the loaded files (add an import)" if self.files else ""
        out(f"saved {_plural(len(self.items), 'declaration')} to {path}{note}")

    def cmd_reset(self, arg: str, out: _Output) -> None:
        result, _ = self._check(self.files, [], None, self._snapshot)
        if self._store is not None:
            self._store.close()
        self._store = self._engine = self._engine_program = None
        self.result, self.items = result, []
        kept = f"; {_plural(len(self.files), 'loaded file')} kept" if self.files else ""
        if self.db is not None:   # a store file is the user's data: never emptied from here
            out(f"reset: the declarations typed here are gone; the store {self.db} is kept{kept}")
            return
        out(f"reset: the declarations typed here and the store (people, activities, clock) are gone{kept}")

    def cmd_help(self, arg: str, out: _Output) -> None:
        width = max(len(u) for u, _ in COMMANDS.values())
        out("Commands:")
        for usage, what in COMMANDS.values():
            out(f"  {usage:<{width}}  {what}")
        out()
        out(HELP_STATEMENTS)

    def cmd_quit(self, arg: str, out: _Output) -> None:
        self.done = True

    # -- completion -------------------------------------------------------------

    def completions(self, before: str) -> list[tuple[str, int, str]]:
        """What may complete the text before the cursor: (text, start
        position relative to the cursor, what it is)."""
        return list(_complete(self, before))

    def vocabulary(self) -> dict[str, list[str]]:
        """Names from what is loaded: campaigns, programs, assets, fields,
        tokens and people."""
        m = self.model
        assets: list[str] = []
        for p in m.programs:
            for table in (p.lists, p.smart_lists, p.forms, p.emails, p.webhooks):
                assets.extend(table)
        tokens: set[str] = set()
        for p in m.programs:
            for layer in p.layers():
                tokens.update(b.name for b in layer.bindings.values())
        for ws in m.workspaces.values():
            tokens.update(t.name for t in ws.tokens)
        people: list[str] = []
        if self._engine is not None:
            people = [p.email for p in self._engine.people()]
        return {
            "campaigns": [c.qualname for c in m.campaigns],
            "programs": [p.name for p in m.programs],
            "assets": sorted(set(assets)),
            "fields": m.field_names(),
            "tokens": sorted(tokens, key=str.casefold),
            "people": people,
        }


# --------------------------------------------------------------------------
# Completion and colouring (pure functions; prompt_toolkit wraps them)

KEYWORDS = ("import", "std", "fields", "workspace", "folder", "program", "description", "statuses",
            "member", "tokens", "list", "smart", "form", "email", "subject", "from", "body", "webhook",
            "url", "method", "payload", "response", "campaign", "batch", "trigger", "executable",
            "inactive", "clone", "flow", "qualify", "once", "every", "time", "schedule", "starting",
            "test", "at", "filter", "any", "all", "logic", "if", "then", "else", "do", "nothing",
            "with", "activity", "no", "in", "status", "is", "true", "false", "null",
            *STATEMENT_WORDS)

def _entry_hint(d: Diagnostic, text: str) -> Diagnostic:
    """An unknown first word at the prompt: the nearest of everything an
    entry may start with (declaration keywords, test statements, steps,
    :commands), not only the declarations a file may hold."""
    word = _first_word(text)
    if not d.message.startswith(f"unknown word '{word}'") or d.span.start != len(text) - len(text.lstrip()):
        return d
    import attrs

    phrase = " ".join(text.split()[:len(word.split()) + 1])
    pool = [*("fields", "folder", "import", "program", "test", "tokens", "workspace"), *STATEMENT_WORDS,
            *_STEP_WORDS, *COMMANDS]
    close = (difflib.get_close_matches(phrase, pool, n=1, cutoff=0.75)
             or difflib.get_close_matches(word, pool, n=1, cutoff=0.6))
    if not close:
        return attrs.evolve(d, hint="an entry starts with a declaration (program, workspace, ...), a test "
                                    "statement (person, run, fire, ...) or a :command (:help lists them)")
    return attrs.evolve(d, hint=f"did you mean '{close[0]}'?")


_STEP_WORDS = tuple(p.words for p in _steps.STEPS)
_FILTER_WORDS = tuple(p.words for p in _filters.FILTERS)
_TRIGGER_WORDS = tuple(p.words for p in _triggers.TRIGGERS)
_OPERATOR_WORDS = tuple(_filters.OPERATORS)
_TOKEN_NAMESPACES = {"campaign": ("name", "id", "description"), "program": ("name", "id", "description"),
                     "system": ("date", "time", "dateTime"), "trigger": ("Name", "Trigger Name")}


def _complete(session: Session, before: str) -> Iterator[tuple[str, int, str]]:
    line = before.rsplit("\n", 1)[-1]
    stripped = line.lstrip()
    names = session.vocabulary()

    # :commands and their arguments
    if stripped.startswith(":") and "\n" not in before.strip():
        if " " not in stripped:
            for name, (usage, what) in COMMANDS.items():
                if (":" + name).startswith(stripped):
                    yield ":" + name, -len(stripped), what
            return
        cmd, _, arg = stripped.partition(" ")
        if cmd in (":load", ":save"):
            yield from _complete_path(arg)
            return
        if cmd in (":log", ":people"):
            partial = _strip_arg(arg)
            for email in names["people"]:
                if email.startswith(partial):
                    yield email, -len(arg.lstrip()), "person"
            return
        if "--" in arg:
            m = re.search(r"--(person)\s+(\S*)$", arg)
            if m:
                for email in names["people"]:
                    if email.startswith(m.group(2)):
                        yield email, -len(m.group(2)), "person"
                return
            m = re.search(r"--(token)\s+(\S*)$", arg)
            if m:
                for t in names["tokens"]:
                    cand = "my." + _field_spelling(t)
                    if cand.casefold().startswith(m.group(2).casefold()):
                        yield cand, -len(m.group(2)), "My Token"
            return
        if cmd in (":run", ":explain", ":tokens", ":show"):
            partial = arg.lstrip()
            for q in names["campaigns"]:
                if q.startswith(partial) or q.casefold().startswith(partial.casefold()):
                    yield q, -len(partial), "campaign"
            return
        return

    # inside a {{token}}
    i = line.rfind("{{")
    if i != -1 and "}}" not in line[i:]:
        partial = line[i + 2:]
        cands = [("my." + t, "My Token") for t in names["tokens"]]
        cands += [("lead." + f, "field") for f in names["fields"]]
        cands += [(f"{ns}.{a}", f"{ns} token") for ns, attrs_ in _TOKEN_NAMESPACES.items() for a in attrs_]
        for cand, meta in cands:
            if cand.casefold().startswith(partial.casefold()):
                yield cand + "}}", -len(partial), meta
        return

    # a field: lead.<partial>
    m = re.search(r'\blead\.("(?:[^"\\]|\\.)*|[A-Za-z_][A-Za-z0-9_]*)?$', line)
    if m:
        partial = m.group(1) or ""
        for f in names["fields"]:
            spelled = _field_spelling(f)
            if (spelled.casefold().startswith(partial.casefold())
                    or f.casefold().startswith(partial.strip('"').casefold())):
                yield spelled, -len(partial), "field"
        return

    # a quoted name: "Program"."Campaign", assets, people
    m = re.search(r'("(?:[^"\\\n]|\\.)*"\.)?"(?:[^"\\\n]|\\.)*$', line)
    if m and line[:m.start()].count('"') % 2 == 0:
        partial = m.group(0)
        pool = [(q, "campaign") for q in names["campaigns"]]
        pool += [(_quote(n), "program") for n in names["programs"]]
        pool += [(_quote(n), "asset") for n in names["assets"]]
        pool += [(_quote(e), "person") for e in names["people"]]
        seen = set()
        for cand, meta in pool:
            if cand.startswith(partial) and cand not in seen:
                seen.add(cand)
                yield cand, -len(partial), meta
        return

    # phrases: steps, filters, triggers, statements, keywords
    tail = stripped
    pools: list[tuple[Sequence[str], str]]
    if tail.startswith("filter "):
        tail, pools = tail[len("filter "):], [(_FILTER_WORDS, "filter")]
    elif tail.startswith("trigger "):
        tail, pools = tail[len("trigger "):], [(_TRIGGER_WORDS, "trigger")]
    elif tail.startswith("fire ") or tail.startswith(":fire "):
        tail, pools = tail.split(" ", 1)[1], [(_TRIGGER_WORDS, "trigger")]
    elif re.match(r"(else\s+)?if\s", tail):
        tail, pools = re.sub(r"^(else\s+)?if\s+", "", tail), [(_FILTER_WORDS, "filter")]
    else:
        pools = [(_STEP_WORDS, "step"), (STATEMENT_WORDS, "statement"), (KEYWORDS, "keyword")]
    if tail and '"' not in tail:
        found = False
        for words, meta in pools:
            for w in words:
                if w.startswith(tail) and w != tail:
                    found = True
                    yield w, -len(tail), meta
        if found:
            return
    word = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", line)
    if word:
        partial = word.group(0)
        seen = set()
        for w in (*KEYWORDS, *_OPERATOR_WORDS):
            first = w.split()[0]
            if first.startswith(partial) and first != partial and first not in seen:
                seen.add(first)
                yield first, -len(partial), "keyword"


def _complete_path(arg: str) -> Iterator[tuple[str, int, str]]:
    partial = arg.lstrip()
    folder, _, stem = partial.rpartition("/")
    base = Path(folder or ".")
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return
    for p in entries:
        if p.name.startswith(stem) and not p.name.startswith("."):
            if p.is_dir() or p.suffix == ".campaign":
                text = (folder + "/" if folder else "") + p.name + ("/" if p.is_dir() else "")
                yield text, -len(partial), "folder" if p.is_dir() else "file"


#: the prompt's colours (prompt_toolkit style strings), by style class
STYLE = {
    "prompt": "ansicyan bold", "continuation": "ansibrightblack",
    "comment": "ansibrightblack italic", "string": "ansigreen", "token": "ansimagenta bold",
    "value": "ansiyellow", "field": "ansicyan", "keyword": "ansiblue bold", "phrase": "ansicyan",
    "statement": "ansimagenta", "command": "bold ansiyellow", "operator": "ansibrightblack",
    "punct": "", "literal": "ansiyellow",
}


def _token_classes() -> list[tuple[Any, str]]:
    """Token types of the Pygments lexer (highlight.py) -> the prompt's
    style classes, the most specific type first."""
    from pygments.token import Comment, Generic, Keyword, Literal, Name, Operator, Punctuation, String

    return [
        (Generic.Prompt, "command"), (Comment, "comment"), (String.Interpol, "token"),
        (Name.Variable, "token"), (String, "string"), (Keyword.Constant, "literal"),
        (Keyword.Reserved, "statement"), (Keyword, "keyword"), (Name.Builtin.Pseudo, "field"),
        (Name.Attribute, "field"), (Name.Builtin, "phrase"), (Literal, "value"),
        (Operator, "operator"), (Punctuation, "punct"),
    ]


def prompt_style() -> dict[str, str]:
    """STYLE, and the same colours for the classes prompt_toolkit's
    ``PygmentsLexer`` gives each token type (``pygments.keyword``...);
    general types first, so the specific ones win."""
    out = dict(STYLE)
    for ttype, cls in sorted(_token_classes(), key=lambda tc: len(tc[0])):
        out["pygments." + ".".join(ttype).lower()] = STYLE[cls]
    return out


def highlight_line(line: str) -> list[tuple[str, str]]:
    """One line as (style class, text) fragments: the Pygments lexer's
    tokens (highlight.py) in the prompt's classes, neighbours of one class
    merged."""
    from .highlight import CampaignReplLexer

    classes = _token_classes()
    out: list[tuple[str, str]] = []
    for ttype, text in CampaignReplLexer(stripnl=False, ensurenl=False).get_tokens(line):
        style = next((f"class:{cls}" for t, cls in classes if ttype in t), "")
        if out and out[-1][0] == style:
            out[-1] = (style, out[-1][1] + text)
        else:
            out.append((style, text))
    return out


# --------------------------------------------------------------------------
# Pipe mode and the interactive loop


def run_pipe(session: Session, stdin: IO[str], write: Callable[[str], Any]) -> int:
    """Read lines plainly, run each entry as it completes, print its result.
    Returns the exit status: 1 when an entry failed, else 0."""
    buf: list[str] = []
    for raw in stdin:
        line = raw.rstrip("\r\n")
        if not buf and _is_blank(line):
            continue
        buf.append(line)
        text = "\n".join(buf)
        if session.needs_more(text):
            continue
        buf = []
        result = session.execute(text, split=False)
        if result:
            write(result + "\n")
        if session.done:
            break
    if buf and not session.done:
        result = session.execute("\n".join(buf), split=False)
        if result:
            write(result + "\n")
    return 1 if session.errors else 0


def build_prompt(session: Session, *, input: Any = None, output: Any = None, history: Any = None) -> Any:
    """A prompt_toolkit ``PromptSession`` over ``session``: multi-line while
    the parser says an entry is unfinished, completion, colouring."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.formatted_text import FormattedText
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from prompt_toolkit.styles import Style

    from .highlight import CampaignReplLexer

    class ReplCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            try:
                found = session.completions(document.text_before_cursor)
            except Exception:   # completion must never break the prompt
                return
            for text, start, meta in found:
                yield Completion(text, start_position=start, display_meta=meta)

    kb = KeyBindings()

    @kb.add("enter")
    def _enter(event: Any) -> None:
        buf = event.current_buffer
        state = buf.complete_state
        if state is not None and state.current_completion is not None:
            buf.apply_completion(state.current_completion)
            return
        doc = buf.document
        if doc.is_cursor_at_the_end and session.needs_more(doc.text):
            line = doc.current_line
            indent = line[:len(line) - len(line.lstrip())]
            if line.rstrip().endswith("{"):
                indent += "    "
            buf.insert_text("\n" + indent)
        elif not doc.is_cursor_at_the_end and session.needs_more(doc.text):
            buf.insert_text("\n")
        else:
            buf.validate_and_handle()

    @kb.add("escape", "enter")
    def _submit(event: Any) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("}")
    def _close(event: Any) -> None:
        buf = event.current_buffer
        line = buf.document.current_line_before_cursor
        if line and not line.strip():
            buf.delete_before_cursor(min(4, len(line)))
        buf.insert_text("}")

    def continuation(width: int, line_number: int, is_soft_wrap: int) -> Any:
        return FormattedText([("class:continuation", "...".rjust(width - 1) + " ")])

    if history is None:
        from prompt_toolkit.history import InMemoryHistory
        history = InMemoryHistory()
    return PromptSession(
        message=FormattedText([("class:prompt", "campaign> ")]),
        multiline=True, key_bindings=kb, prompt_continuation=continuation,
        lexer=PygmentsLexer(CampaignReplLexer), completer=ReplCompleter(), complete_while_typing=False,
        style=Style.from_dict(prompt_style()), history=history, input=input, output=output,
        enable_history_search=False, include_default_pygments_style=False,
    )


def _file_history() -> Any:
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:
        return InMemoryHistory()
    return FileHistory(str(path))


BANNER = "campaignlang {version} — :help lists the commands, :quit leaves"


def run_interactive(session: Session, *, input: Any = None, output: Any = None,
                    write: Callable[[str], Any] | None = None, history: Any = None) -> int:
    """The prompt loop: read an entry, run it, print; Ctrl-C clears the
    entry, Ctrl-D or :quit leaves."""
    write = write or sys.stdout.write
    prompt = build_prompt(session, input=input, output=output,
                          history=history if history is not None else _file_history())
    while not session.done:
        try:
            text = prompt.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        result = session.execute(text)
        if result:
            write(result + "\n")
    return 0


def main(path: str | None = None, *, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
         color: str = "auto", db: str | None = None) -> int:
    """``campaign repl [PATH]``: interactive on a terminal, plain otherwise.
    Exit status: 0, 1 when an entry failed in pipe mode, 2 when PATH cannot
    be read."""
    from . import __version__

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and stdout.isatty()
    colored = use_color(stdout, color) if interactive or color == "always" else False
    try:
        import shutil
        width = shutil.get_terminal_size((100, 24)).columns if interactive else 100
    except Exception:  # pragma: no cover
        width = 100
    session = Session(color=colored, rich_tables=interactive, width=width, db=db)

    def write(text: str) -> None:
        # names and values from programs and stores are shown, never obeyed
        # (docs/security.md, "What reaches the terminal")
        stdout.write(printable(text, keep_color=bool(colored)))
    if interactive:
        write(BANNER.format(version=__version__) + "\n")
    if db is not None:   # refuse a file that is not a store before the first prompt
        from .store import Store
        try:
            Store(db).close()
        except CampaignError as exc:
            write(f"error: {exc}\n")
            return 2
    if path:
        try:
            _expand(path)
        except LoadError as exc:
            write(f"error: {exc}\n")
            return 2
        result = session.load(path)
        if result:
            write(result + "\n")
    try:
        if interactive:
            return run_interactive(session, write=write)
        return run_pipe(session, stdin, write)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # pragma: no cover - the reader went away
        return 0
