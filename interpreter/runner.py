"""Runs the ``test`` blocks of .campaign files (LANGUAGE.md §9) and reports
them: text, JSON and JUnit XML.

Each test gets a fresh engine over an empty store in memory, its clock at
2026-01-01T00:00 (or the test's ``at``). Statements run in order: ``person``,
``for``, ``run``, ``request``, ``fire`` and ``advance`` are engine actions,
each followed by running whatever is due at the current time; ``expect``
statements compare and record a failure without stopping the test, so one
run reports every failed expectation. An action that cannot run (an unknown
person, a request for more than 100 people...) is a test *error*: the test
fails and stops there.

Comparisons (docs/language.md, "Tests"): a field is compared in its own type
(``expect "a"."Lead Score" == 10``); text compares exactly (case matters);
``is empty`` holds for no value and for empty text. ``expect activity``
matches the activity type and each attribute by name (case-insensitive,
as field names match) — the activity's attributes first, then its own columns
(``campaign``, ``run``, ``old``, ``new``); a campaign attribute matches
``"P"."C"`` or the bare campaign name. Without a count it asks for at least
one matching activity; ``expect N activity`` for exactly N; ``no`` for none.

Time. A test's duration is measured with ``time.perf_counter`` around the
test, for the report only: it is the one place the project reads a real
clock, and it never reaches the engine, the store or an activity log (the
engine runs on its virtual clock; the log of a test is byte-for-byte the
same on every run).

Reports. A failure is drawn like a diagnostic (render.py's layout): the
message, ``--> file:line:column``, the source line of the statement with
carets under it, then the expected and the actual value and a short table
of the person's activities. The last line of the text report is exactly
``N passed, M failed``. A file that does not check yields one failing result
named ``(check)`` carrying the rendered diagnostics.

Imports ``ast``, ``check``, ``clock``, ``engine``, ``errors``, ``evaluate``,
``render``, ``source``, ``store``; ``coverage`` only when asked for.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from attrs import define, field

from . import ast
from .check import ACTIVITY_TYPES, CheckedProgram
from .clock import Clock
from .engine import ActionResult, Engine
from .errors import CampaignError, Diagnostic
from .evaluate import literal_text
from .render import GUTTER_STYLE, Style, excerpt, location, render_text
from .show import activity_details
from .source import SourceFile, Span
from .store import Activity
from .values import convert

if TYPE_CHECKING:  # pragma: no cover
    from .coverage import Coverage

__all__ = ["Failure", "TestResult", "TestRun", "ACTIONS", "perform", "select_tests", "run_tests", "run_test",
           "broken_file_result",
           "format_result", "format_failures", "format_results", "summary", "results_json", "results_junit"]

#: the name of the one failing result of a file that does not check
CHECK_RESULT_NAME = "(check)"

#: rows of the activity table shown under a failure (the JSON has them all)
ACTIVITY_ROWS = 15

#: the checker accepts an activity type in any case ("send email"); match it as
#: the spelling the engine records ("Send Email"), so such an expect cannot pass vacuously
_ACTIVITY_TYPES = {ast.name_key(t): t for t in ACTIVITY_TYPES}


@define
class Failure:
    """One failed expectation (or the error that stopped the test)."""

    line: int
    statement: str
    message: str
    expected: Any = None
    actual: Any = None
    activities: list[dict] = field(factory=list)
    span: Span | None = field(default=None, eq=False)
    kind: str = "expect"                    # "expect" | "error"
    shown_expected: str | None = None       # the values as the report writes them
    shown_actual: str | None = None
    activities_of: str | None = None        # "ann@example.com", or 'type "Send Email"'

    def to_json(self) -> dict:
        span = self.span
        return {"kind": self.kind, "file": span.file if span else None, "line": self.line,
                "column": span.column if span else None,
                "end_line": span.end_line if span else None, "end_column": span.end_column if span else None,
                "statement": self.statement, "message": self.message,
                "expected": self.expected, "actual": self.actual,
                "activities_of": self.activities_of, "activities": self.activities}


@define
class TestResult:
    """One test's outcome; ``duration_ms`` is wall time, for reports only."""

    name: str
    file: str
    line: int
    failures: list[Failure] = field(factory=list)
    error: str | None = None
    activity_log: str = field(default="", repr=False)
    duration_ms: float = 0.0
    source: SourceFile | None = field(default=None, repr=False, eq=False)
    diagnostics: list[Diagnostic] = field(factory=list, repr=False)

    __test__ = False   # not a pytest class

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None

    def to_json(self) -> dict:
        out = {"name": self.name, "file": self.file, "line": self.line, "passed": self.passed,
               "duration_ms": round(self.duration_ms, 3),
               "error": self.error, "failures": [f.to_json() for f in self.failures]}
        if self.diagnostics:
            out["diagnostics"] = [d.to_json() for d in self.diagnostics]
        return out


def _text(node: ast.Node, source: dict[str, Any] | None) -> str:
    span = node.span
    if span is None or source is None or span.file not in source:
        return type(node).__name__
    return source[span.file].text[span.start:span.end].strip()


# --------------------------------------------------------------------------
# Selecting and running


def select_tests(program: CheckedProgram, files: Iterable[str] | None = None,
                 pattern: str | None = None) -> list[ast.Test]:
    """The tests of ``files`` (default: every loaded file) whose name
    contains ``pattern`` (case-insensitive; ``*`` and ``?`` wildcards)."""
    wanted = set(files) if files is not None else None
    out = []
    for t in program.model.tests:
        if wanted is not None and (t.span is None or t.span.file not in wanted):
            continue
        if pattern and not name_matches(t.name, pattern):
            continue
        out.append(t)
    return out


def name_matches(name: str, pattern: str) -> bool:
    """``-k``: a case-insensitive substring, or a glob when ``pattern`` has
    ``*``, ``?`` or ``[``."""
    n, p = name.casefold(), pattern.casefold()
    if any(c in p for c in "*?["):
        return fnmatch.fnmatchcase(n, p) or fnmatch.fnmatchcase(n, f"*{p}*")
    return p in n


_name_matches = name_matches   # the old private name


def run_tests(program: CheckedProgram, files: Iterable[str] | None = None,
              pattern: str | None = None, coverage: "Coverage | None" = None) -> list[TestResult]:
    return [run_test(program, t, coverage=coverage) for t in select_tests(program, files, pattern)]


def run_test(program: CheckedProgram, test: ast.Test, coverage: "Coverage | None" = None) -> TestResult:
    """Run one test against a fresh store in memory; with ``coverage``, the
    engine records the flow steps and branches it reaches into it."""
    span = test.span
    file = span.file if span else "<input>"
    result = TestResult(test.name, file, span.line if span else 0, source=program.sources.get(file))
    started = time.perf_counter()   # wall time for the report only (see the module docstring)
    start = test.at.value if test.at is not None else None
    if coverage is not None:
        from .coverage import CoverageEngine
        engine: Engine = CoverageEngine(program, ":memory:", Clock(start), coverage=coverage)
    else:
        engine = Engine(program, ":memory:", Clock(start))
    runner = TestRun(engine, program, result)
    try:
        for stmt in test.statements:
            try:
                runner.statement(stmt)
            except CampaignError as exc:
                result.error = str(exc)
                runner.error(stmt, exc)
                break
        result.activity_log = engine.activity_log_jsonl()
    finally:
        engine.store.close()
        result.duration_ms = (time.perf_counter() - started) * 1000.0
    return result


def broken_file_result(file: str, diagnostics: Sequence[Diagnostic], sources: dict[str, SourceFile],
                       line: int | None = None) -> TestResult:
    """The one failing result of a file that does not check: its errors,
    rendered, as the error."""
    errors = [d for d in diagnostics if d.is_error]
    n = len(errors)
    text = render_text(errors, sources)
    first = min((d.span.line for d in errors if d.span.file == file), default=line or 1)
    return TestResult(CHECK_RESULT_NAME, file, first,
                      error=f"{file} has {n} error{'s' if n != 1 else ''}; its tests did not run\n\n{text}",
                      source=sources.get(file), diagnostics=errors)


def _activity_line(a: Activity) -> dict:
    out = {"id": a.id, "at": a.at, "email": a.email, "type": a.type, "campaign": a.campaign,
           "attributes": a.attributes}
    if a.old is not None or a.new is not None:
        out["old"], out["new"] = a.old, a.new
    return out


#: the test statements that act on the engine (the others are expectations)
ACTIONS = (ast.PersonStmt, ast.ForStmt, ast.RunStmt, ast.RequestStmt, ast.FireStmt, ast.AdvanceStmt)


def perform(engine: Engine, s: ast.Node) -> list[ActionResult]:
    """Carry out one action statement (``person``, ``for``, ``run``,
    ``request``, ``fire``, ``advance``) as a test does: the action, then
    what falls due at the current time (not after ``advance``, which runs
    it). Returns the actions' results (the REPL prints them)."""
    results: list[ActionResult]
    if isinstance(s, ast.PersonStmt):
        engine.add_person(s.email, {a.name: a.value for a in s.fields})
        results = []
    elif isinstance(s, ast.ForStmt):
        results = [engine.run_steps(s.email, s.steps)]
    elif isinstance(s, ast.RunStmt):
        results = [engine.run_batch(s.campaign, tokens={t.name: t.value for t in s.tokens} or None)]
    elif isinstance(s, ast.RequestStmt):
        results = [engine.request(s.campaign, list(s.people), tokens={t.name: t.value for t in s.tokens} or None)]
    elif isinstance(s, ast.FireStmt):
        results = [engine.fire(s.trigger, list(s.people), attributes={a.name: a.value for a in s.attributes})]
    elif isinstance(s, ast.AdvanceStmt):
        return [engine.advance(s.duration)]
    else:  # pragma: no cover - the parser builds only these
        raise CampaignError(f"unknown statement {type(s).__name__}")
    results.append(engine.run_due())
    return results


class TestRun:
    """One test's statements against an engine: actions (``perform``) and
    expectations, each failure recorded in ``result``."""

    __test__ = False   # not a pytest class

    def __init__(self, engine: Engine, program: CheckedProgram, result: TestResult):
        self.engine = engine
        self.program = program
        self.result = result

    def text(self, node: ast.Node) -> str:
        return _text(node, self.program.sources)

    def _activities_of(self, person: str) -> list[dict]:
        pid = self.engine.store.find_person(person, include_deleted=True)
        if pid is None:
            return []
        return [_activity_line(a) for a in self.engine.store.activities(person=pid)]

    def fail(self, stmt: ast.Node, message: str, expected: Any = None, actual: Any = None,
             person: str | None = None, shown: tuple[str, str] | None = None,
             activities: list[dict] | None = None, activities_of: str | None = None) -> None:
        acts = activities if activities is not None else (self._activities_of(person) if person else [])
        self.result.failures.append(Failure(
            stmt.span.line if stmt.span else 0, self.text(stmt), message, _plain(expected), _plain(actual),
            acts, span=stmt.span, shown_expected=shown[0] if shown else None,
            shown_actual=shown[1] if shown else None,
            activities_of=activities_of or (person if acts else None)))

    def error(self, stmt: ast.Node, exc: CampaignError) -> None:
        people = []
        if isinstance(stmt, (ast.PersonStmt, ast.ForStmt)):
            people = [stmt.email]
        elif isinstance(stmt, (ast.RequestStmt, ast.FireStmt)):
            people = list(stmt.people)
        person = people[0] if len(people) == 1 else None
        acts = self._activities_of(person) if person else []
        self.result.failures.append(Failure(
            stmt.span.line if stmt.span else 0, self.text(stmt), f"error: {exc}", span=stmt.span,
            kind="error", activities=acts, activities_of=person if acts else None))

    def statement(self, s: ast.Node) -> None:
        if isinstance(s, ACTIONS):
            perform(self.engine, s)
        elif isinstance(s, ast.ExpectField):
            self.expect_field(s)
        elif isinstance(s, ast.ExpectList):
            self.expect_list(s)
        elif isinstance(s, ast.ExpectStatus):
            self.expect_status(s)
        elif isinstance(s, ast.ExpectActivity):
            self.expect_activity(s)
        else:  # pragma: no cover - the parser builds only these
            raise CampaignError(f"unknown test statement {type(s).__name__}")

    # -- expectations ------------------------------------------------------------

    def _person(self, s: ast.Node, email: str):
        p = self.engine.person(email)
        if p is None or p.deleted:
            if p is None:
                known = [q.email for q in self.engine.people()]
                people = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "") if known else "none"
                self.fail(s, f"no person {email} (people: {people})")
            else:
                self.fail(s, f"no person {email} (deleted)", person=email)
            return None
        return p

    def expect_field(self, s: ast.ExpectField) -> None:
        p = self._person(s, s.person)
        if p is None:
            return
        found = self.engine.model.field(s.field)
        if found is None:
            self.fail(s, f"no field '{s.field}'")
            return
        name, ftype = found
        actual = p.get(ast.name_key(name))
        label = f'"{s.person}"."{name}"'
        if s.op in ("is empty", "is not empty"):
            empty = actual is None or actual == ""
            if empty != (s.op == "is empty"):
                self.fail(s, f"expected {label} {s.op}, but it is {_show(actual)}",
                          s.op, actual, person=s.person,
                          shown=("empty" if s.op == "is empty" else "not empty", _show(actual)))
            return
        node = s.value
        try:
            if isinstance(node, ast.Null):
                expected = None
            elif isinstance(node, (ast.String, ast.Number, ast.Boolean, ast.Date, ast.DateTime)):
                expected = convert(ftype, node.value)
            else:
                expected = convert(ftype, literal_text(node))
        except ValueError as exc:
            self.fail(s, f"cannot compare {label} ({ftype}) with {literal_text(node)}: {exc}")
            return
        if not _compare(s.op, actual, expected):
            self.fail(s, f"expected {label} {s.op} {_show(expected)}, but it is {_show(actual)}",
                      expected, actual, person=s.person,
                      shown=(_show(expected) if s.op == "==" else f"{s.op} {_show(expected)}", _show(actual)))

    def expect_list(self, s: ast.ExpectList) -> None:
        p = self._person(s, s.person)
        if p is None:
            return
        inside = self.engine.in_list(p.id, s.list)
        if inside == s.negated:
            where = "in" if not s.negated else "not in"
            member = {True: "a member", False: "not a member"}
            self.fail(s, f'expected "{s.person}" {where} list "{s.list.name}", but it is '
                         f'{member[inside]}', not s.negated, inside, person=s.person,
                      shown=(member[not s.negated], member[inside]))

    def expect_status(self, s: ast.ExpectStatus) -> None:
        p = self._person(s, s.person)
        if p is None:
            return
        m = self.engine.membership(p.id, s.program)
        actual = m.status if m is not None else None
        if actual != s.status:
            now = f'"{actual}"' if actual is not None else ("a member without a status" if m else "not a member")
            self.fail(s, f'expected "{s.person}" status in "{s.program}" is "{s.status}", but it is {now}',
                      s.status, actual, person=s.person, shown=(f'"{s.status}"', now))

    def expect_activity(self, s: ast.ExpectActivity) -> None:
        e = self.engine
        pid = None
        if s.person is not None:
            pid = e.store.find_person(s.person, include_deleted=True)
            if pid is None:
                self.fail(s, f"no person {s.person}")
                return
        acts = e.store.activities(person=pid, type_=_ACTIVITY_TYPES.get(ast.name_key(s.type), s.type))
        hits = [a for a in acts if all(_attr_matches(a, x.name, x.value) for x in s.attributes)]
        n = len(hits)
        who = f' for "{s.person}"' if s.person else ""
        with_attrs = (" with " + ", ".join(self.text(x) for x in s.attributes)) if s.attributes else ""
        # the table: the person's whole log, or (no person) the activities of that type
        table = None if s.person else [_activity_line(a) for a in (hits if s.count == 0 else acts)]
        label = None if s.person else f'type "{s.type}"'
        if s.count is None:
            if n == 0:
                near = f" ({len(acts)} of that type, none matching)" if acts and s.attributes else ""
                self.fail(s, f'expected an activity "{s.type}"{who}{with_attrs}, found none{near}',
                          "at least 1", 0, person=s.person, shown=("at least 1", "0"),
                          activities=table, activities_of=label)
        elif n != s.count:
            if s.count == 0:
                message = f'expected no activity "{s.type}"{who}{with_attrs}, found {n}'
            else:
                message = (f'expected {s.count} activit{"y" if s.count == 1 else "ies"} "{s.type}"{who}'
                           f'{with_attrs}, found {n}')
            self.fail(s, message, s.count, n, person=s.person,
                      shown=("none" if s.count == 0 else str(s.count), str(n)),
                      activities=table, activities_of=label)


def _plain(v: Any) -> Any:
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return v


def _show(v: Any) -> str:
    if v is None:
        return "empty"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    return str(v)


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "==":
        return actual == expected
    if op == "!=":
        return actual != expected
    if actual is None or expected is None:
        return False
    try:
        return {"<": actual < expected, "<=": actual <= expected,
                ">": actual > expected, ">=": actual >= expected}[op]
    except TypeError:
        return False


def _attr_matches(a: Activity, name: str, node: ast.Node) -> bool:
    key = ast.name_key(name)
    actual: Any = None
    found = False
    for k, v in a.attributes.items():
        if ast.name_key(k) == key:
            actual, found = v, True
            break
    if not found:
        columns = {"campaign": a.campaign, "run": a.run, "old": a.old, "new": a.new, "at": a.at,
                   "email": a.email, "person": a.email, "type": a.type}
        if key not in columns:
            return False
        actual = columns[key]
    return _value_matches(actual, node)


def _value_matches(actual: Any, node: ast.Node) -> bool:
    if isinstance(node, ast.Null):
        return actual is None
    if isinstance(node, ast.Boolean):
        return actual is node.value
    if isinstance(node, ast.Number):
        if isinstance(actual, bool):
            return False
        try:
            return Decimal(str(actual)) == Decimal(str(node.value))
        except Exception:
            return False
    if isinstance(node, ast.Ref):
        want = f'"{node.program}"."{node.name}"' if node.program else f'"{node.name}"'
        return actual == want or (node.program is None and isinstance(actual, str)
                                  and actual.endswith(f'."{node.name}"'))
    text = literal_text(node)
    if isinstance(actual, list):
        return text in [str(x) for x in actual]
    if isinstance(actual, str):
        if actual == text:
            return True
        if actual.startswith('"') and actual.endswith('"'):   # "P"."C": match C, or P/C
            parts = actual[1:-1].split('"."')
            return text == parts[-1] or text == "/".join(parts)
        return False
    if isinstance(actual, bool):
        return text == ("true" if actual else "false")
    return actual is not None and str(actual) == text


# --------------------------------------------------------------------------
# Text report

_PASS_STYLE = "\x1b[1;32m"
_FAIL_STYLE = "\x1b[1;31m"


def _ms(ms: float) -> str:
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def activity_table(rows: list[dict], with_email: bool, last: int | None = ACTIVITY_ROWS,
                   limit: int | None = 40) -> list[str]:
    """Activities (``Activity.to_json()`` dicts) as an aligned table: time,
    person, type, campaign, details; the ``last`` rows only."""
    shown = rows[-last:] if last is not None else rows
    table = [("time", *(("person",) if with_email else ()), "type", "campaign", "details")]
    for a in shown:
        table.append((a["at"].replace("T", " "), *((a.get("email") or "-",) if with_email else ()),
                      a["type"], a["campaign"] or "-", activity_details(a, limit)))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    lines = []
    if len(rows) > len(shown):
        lines.append(f"({len(rows) - len(shown)} earlier not shown)")
    for r in table:
        lines.append("  ".join([c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]).rstrip())
    return lines


def _render_failure(result: TestResult, f: Failure, style: Style,
                    shown_before: dict[str, list[dict]] | None = None) -> list[str]:
    """A failure drawn like a diagnostic, indented under its test; a table
    of activities the same as the last one shown for that person is not
    drawn again."""
    head = style(_FAIL_STYLE, "error" if f.kind == "error" else "failure")
    message = f.message[len("error: "):] if f.kind == "error" and f.message.startswith("error: ") else f.message
    lines = [f"{head}: {message}"]
    span = f.span
    if span is not None:
        gutter = len(str(max(span.line, 1)))
        lines.append(location(span, gutter, style))
        source = result.source if result.source is not None and result.source.name == span.file else None
        block = excerpt(span, source, gutter, "^", _FAIL_STYLE, style)
        if block:
            lines += block
        else:
            lines.append(f"{' ' * gutter} | {f.statement}")
        pad = " " * (gutter + 1)
    else:
        lines.append(f"  in: {f.statement}")
        pad = " "
    eq = style(GUTTER_STYLE, "=")
    if f.shown_expected is not None or f.shown_actual is not None:
        lines.append(f"{pad}{eq} expected: {f.shown_expected}")
        lines.append(f"{pad}{eq} actual:   {f.shown_actual}")
    if f.activities:
        what = f.activities_of or "the person"
        if shown_before is not None and shown_before.get(what) == f.activities:
            lines.append(f"{pad}{eq} activities of {what}: as above")
        else:
            lines.append(f"{pad}{eq} activities of {what}:")
            by_type = f.activities_of is not None and f.activities_of.startswith("type ")
            lines += [f"{pad}    {row}" for row in activity_table(f.activities, with_email=by_type)]
            if shown_before is not None:
                shown_before[what] = f.activities
    return lines


def format_result(result: TestResult, color: bool = False, diagnostics: bool = True) -> str:
    """One test: its ``PASS``/``FAIL`` line and, when it failed, each
    failure drawn like a diagnostic. ``diagnostics=False``: of a file that
    does not check, only the headline (the caller showed the diagnostics)."""
    style = Style(color)
    mark = style(_PASS_STYLE, "PASS") if result.passed else style(_FAIL_STYLE, "FAIL")
    lines = [f"{mark}  {result.file}:{result.line}  {result.name}  ({_ms(result.duration_ms)})"]
    if result.diagnostics and not diagnostics:
        lines.append(f"    {(result.error or '').split(chr(10), 1)[0]}")
        return "\n".join(lines)
    details = format_failures(result, color)
    if details:
        lines += [f"    {x}".rstrip() for x in details.split("\n")]
    return "\n".join(lines)


def format_failures(result: TestResult, color: bool = False) -> str:
    """What went wrong in a test, without its ``PASS``/``FAIL`` line: each
    failure drawn like a diagnostic, or the rendered diagnostics of a file
    that does not check ("" when the test passed)."""
    style = Style(color)
    lines: list[str] = []
    if result.error and not result.failures:
        lines += (result.error or "").splitlines()
    shown_before: dict[str, list[dict]] = {}
    for f in result.failures:
        lines += _render_failure(result, f, style, shown_before)
    return "\n".join(lines)


def summary(results: Sequence[TestResult]) -> str:
    """``N passed, M failed``."""
    passed = sum(r.passed for r in results)
    return f"{passed} passed, {len(results) - passed} failed"


def format_results(results: Sequence[TestResult], coverage: "Coverage | None" = None,
                   color: bool = False, diagnostics: bool = True) -> str:
    """The text report of ``campaign test``: one line per test with its
    time, each failure drawn like a diagnostic, the coverage table when
    asked for, and the last line exactly ``N passed, M failed``."""
    parts = [format_result(r, color, diagnostics) for r in results]
    if coverage is not None:
        parts.append(coverage.format_text())
    parts.append(summary(results))
    return "\n".join(parts)


# --------------------------------------------------------------------------
# JSON and JUnit XML


def results_json(results: Sequence[TestResult], coverage: "Coverage | None" = None) -> dict:
    """The object of ``campaign test --format json``."""
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    out: dict[str, Any] = {
        "format_version": 1,
        "tests": [r.to_json() for r in results],
        "totals": {"tests": len(results), "passed": passed, "failed": failed,
                   "duration_ms": round(sum(r.duration_ms for r in results), 3)},
        # the totals again at the top, as the first version of this format had them
        "passed": passed, "failed": failed,
    }
    if coverage is not None:
        out["coverage"] = coverage.report()
    return out


def _xml_text(text: str) -> str:
    """XML 1.0 cannot carry most control characters, escaped or not."""
    return "".join(ch if ch in "\t\n\r" or ord(ch) >= 0x20 else f"\\x{ord(ch):02x}" for ch in text)


def results_junit(results: Sequence[TestResult]) -> str:
    """JUnit XML (``<testsuites>``, a ``<testsuite>`` per file, a
    ``<testcase>`` per test): a failed ``expect`` is a ``<failure>``; an
    action that could not run, or a file that does not check, an
    ``<error>``. Times in seconds."""
    import xml.etree.ElementTree as ET

    by_file: dict[str, list[TestResult]] = {}
    for r in results:
        by_file.setdefault(r.file, []).append(r)

    def counts(rs: Sequence[TestResult]) -> dict[str, str]:
        errors = sum(r.error is not None for r in rs)
        failures = sum((not r.passed) and r.error is None for r in rs)
        return {"tests": str(len(rs)), "failures": str(failures), "errors": str(errors), "skipped": "0",
                "time": f"{sum(r.duration_ms for r in rs) / 1000:.6f}"}

    root = ET.Element("testsuites", {"name": "campaign test", **counts(results)})
    for file, rs in by_file.items():
        suite = ET.SubElement(root, "testsuite", {"name": file, **counts(rs)})
        classname = file.rsplit(".campaign", 1)[0].replace("\\", "/").strip("./").replace("/", ".")
        for r in rs:
            case = ET.SubElement(suite, "testcase", {
                "classname": classname or file, "name": _xml_text(r.name), "file": file, "line": str(r.line),
                "time": f"{r.duration_ms / 1000:.6f}"})
            if r.passed:
                continue
            if r.error is not None:
                tag, type_ = "error", "error"
                first = next((f.message for f in r.failures if f.kind == "error"), r.error.split("\n", 1)[0])
            else:
                tag, type_ = "failure", "expect"
                first = r.failures[0].message
            el = ET.SubElement(case, tag, {"message": _xml_text(first), "type": type_})
            el.text = _xml_text(format_result(r))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
