"""Runs the ``test`` blocks of .campaign files (LANGUAGE.md §9).

Each test gets a fresh engine over an empty store in memory, its clock at
2026-01-01T00:00 (or the test's ``at``). Statements run in order: ``person``,
``for``, ``run``, ``request``, ``fire`` and ``advance`` are engine actions,
each followed by running whatever is due at the current time; ``expect``
statements compare and record a failure without stopping the test, so one
run reports every failed expectation. An action that cannot run (an unknown
person, a campaign that cannot be requested...) is a test *error*: the test
fails and stops there.

Comparisons (docs/language.md, "Tests"): a field is compared in its own type
(``expect "a"."Lead Score" == 10``); text compares exactly (case matters);
``is empty`` holds for no value and for empty text. ``expect activity``
matches the activity type exactly and each attribute by name
(case-insensitive) — the activity's attributes first, then its own columns
(``campaign``, ``run``, ``old``, ``new``); a campaign attribute matches
``"P"."C"`` or the bare campaign name. Without a count it asks for at least
one matching activity; ``expect N activity`` for exactly N; ``no`` for none.

Imports ``ast``, ``check``, ``clock``, ``engine``, ``errors``, ``store``.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
from decimal import Decimal
from typing import Any, Iterable, Sequence

from attrs import define, field

from . import ast
from .check import CheckedProgram
from .clock import Clock
from .engine import Engine
from .errors import CampaignError
from .evaluate import literal_text
from .store import Activity, convert


@define
class Failure:
    """One failed expectation (or the error that stopped the test)."""

    line: int
    statement: str
    message: str
    expected: Any = None
    actual: Any = None
    activities: list[dict] = field(factory=list)

    def to_json(self) -> dict:
        return {"line": self.line, "statement": self.statement, "message": self.message,
                "expected": self.expected, "actual": self.actual, "activities": self.activities}


@define
class TestResult:
    name: str
    file: str
    line: int
    failures: list[Failure] = field(factory=list)
    error: str | None = None
    activity_log: str = field(default="", repr=False)

    __test__ = False   # not a pytest class

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None

    def to_json(self) -> dict:
        return {"name": self.name, "file": self.file, "line": self.line, "passed": self.passed,
                "error": self.error, "failures": [f.to_json() for f in self.failures]}


def _text(node: ast.Node, source: dict[str, Any] | None) -> str:
    span = node.span
    if span is None or source is None or span.file not in source:
        return type(node).__name__
    return source[span.file].text[span.start:span.end].strip()


def select_tests(program: CheckedProgram, files: Iterable[str] | None = None,
                 pattern: str | None = None) -> list[ast.Test]:
    """The tests of ``files`` (default: every loaded file) whose name
    contains ``pattern`` (case-insensitive; ``*`` and ``?`` wildcards)."""
    wanted = set(files) if files is not None else None
    out = []
    for t in program.model.tests:
        if wanted is not None and (t.span is None or t.span.file not in wanted):
            continue
        if pattern and not _name_matches(t.name, pattern):
            continue
        out.append(t)
    return out


def _name_matches(name: str, pattern: str) -> bool:
    n, p = name.casefold(), pattern.casefold()
    if any(c in p for c in "*?["):
        return fnmatch.fnmatchcase(n, p) or fnmatch.fnmatchcase(n, f"*{p}*")
    return p in n


def run_tests(program: CheckedProgram, files: Iterable[str] | None = None,
              pattern: str | None = None) -> list[TestResult]:
    return [run_test(program, t) for t in select_tests(program, files, pattern)]


def run_test(program: CheckedProgram, test: ast.Test) -> TestResult:
    span = test.span
    result = TestResult(test.name, span.file if span else "<input>", span.line if span else 0)
    start = test.at.value if test.at is not None else None
    engine = Engine(program, ":memory:", Clock(start))
    runner = _TestRun(engine, program, result)
    for stmt in test.statements:
        try:
            runner.statement(stmt)
        except CampaignError as exc:
            result.error = str(exc)
            result.failures.append(Failure(stmt.span.line if stmt.span else 0, runner.text(stmt),
                                           f"error: {exc}"))
            break
    result.activity_log = engine.activity_log_jsonl()
    engine.store.close()
    return result


def _activity_line(a: Activity) -> dict:
    out = {"id": a.id, "at": a.at, "type": a.type, "campaign": a.campaign, "attributes": a.attributes}
    if a.old is not None or a.new is not None:
        out["old"], out["new"] = a.old, a.new
    return out


class _TestRun:
    def __init__(self, engine: Engine, program: CheckedProgram, result: TestResult):
        self.engine = engine
        self.program = program
        self.result = result

    def text(self, node: ast.Node) -> str:
        return _text(node, self.program.sources)

    def fail(self, stmt: ast.Node, message: str, expected: Any = None, actual: Any = None,
             person: str | None = None) -> None:
        acts: list[dict] = []
        if person is not None:
            pid = self.engine.store.find_person(person)
            if pid is not None:
                acts = [_activity_line(a) for a in self.engine.store.activities(person=pid)]
        self.result.failures.append(Failure(stmt.span.line if stmt.span else 0, self.text(stmt), message,
                                            _plain(expected), _plain(actual), acts))

    def settle(self) -> None:
        self.engine.run_due()

    def statement(self, s: ast.Node) -> None:
        e = self.engine
        if isinstance(s, ast.PersonStmt):
            e.add_person(s.email, {a.name: a.value for a in s.fields})
            self.settle()
        elif isinstance(s, ast.ForStmt):
            e.run_steps(s.email, s.steps)
            self.settle()
        elif isinstance(s, ast.RunStmt):
            e.run_batch(s.campaign, tokens={t.name: t.value for t in s.tokens} or None)
            self.settle()
        elif isinstance(s, ast.RequestStmt):
            e.request(s.campaign, list(s.people), tokens={t.name: t.value for t in s.tokens} or None)
            self.settle()
        elif isinstance(s, ast.FireStmt):
            e.fire(s.trigger, list(s.people), attributes={a.name: a.value for a in s.attributes})
            self.settle()
        elif isinstance(s, ast.AdvanceStmt):
            e.advance(s.duration)
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
            self.fail(s, f"no person {email}" + (" (deleted)" if p is not None else ""))
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
                          s.op, actual, person=s.person)
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
        ok = _compare(s.op, actual, expected)
        if not ok:
            self.fail(s, f"expected {label} {s.op} {_show(expected)}, but it is {_show(actual)}",
                      expected, actual, person=s.person)

    def expect_list(self, s: ast.ExpectList) -> None:
        p = self._person(s, s.person)
        if p is None:
            return
        inside = self.engine.in_list(p.id, s.list)
        if inside == s.negated:
            where = "in" if not s.negated else "not in"
            self.fail(s, f'expected "{s.person}" {where} list "{s.list.name}", but it is '
                         f'{"" if inside else "not "}a member', not s.negated, inside, person=s.person)

    def expect_status(self, s: ast.ExpectStatus) -> None:
        p = self._person(s, s.person)
        if p is None:
            return
        m = self.engine.membership(p.id, s.program)
        actual = m.status if m is not None else None
        if actual != s.status:
            now = f'"{actual}"' if actual is not None else ("a member without a status" if m else "not a member")
            self.fail(s, f'expected "{s.person}" status in "{s.program}" is "{s.status}", but it is {now}',
                      s.status, actual, person=s.person)

    def expect_activity(self, s: ast.ExpectActivity) -> None:
        e = self.engine
        pid = None
        if s.person is not None:
            pid = e.store.find_person(s.person)
            if pid is None:
                p = None
                for cand in e.store.people(include_deleted=True):
                    if cand.email.casefold() == s.person.casefold():
                        p = cand
                if p is None:
                    self.fail(s, f"no person {s.person}")
                    return
                pid = p.id
        acts = e.store.activities(person=pid, type_=s.type)
        hits = [a for a in acts if all(_attr_matches(a, x.name, x.value) for x in s.attributes)]
        n = len(hits)
        who = f' for "{s.person}"' if s.person else ""
        with_attrs = (" with " + ", ".join(self.text(x) for x in s.attributes)) if s.attributes else ""
        if s.count is None:
            if n == 0:
                near = f" ({len(acts)} of that type, none matching)" if acts and s.attributes else ""
                self.fail(s, f'expected an activity "{s.type}"{who}{with_attrs}, found none{near}',
                          "at least 1", 0, person=s.person)
        elif n != s.count:
            self.fail(s, f'expected {s.count} activit{"y" if s.count == 1 else "ies"} "{s.type}"{who}'
                         f'{with_attrs}, found {n}', s.count, n, person=s.person)


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


def format_results(results: Sequence[TestResult], verbose: bool = False) -> str:
    """The text report of ``campaign test``: one line per test, details of
    each failure, and the last line ``N passed, M failed``."""
    lines: list[str] = []
    for r in results:
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  {r.file}:{r.line}  {r.name}")
        for f in r.failures:
            lines.append(f"    {r.file}:{f.line}: {f.statement}")
            lines.append(f"      {f.message}")
            if f.expected is not None or f.actual is not None:
                lines.append(f"      expected: {_show(f.expected) if not isinstance(f.expected, str) else f.expected}")
                lines.append(f"      actual:   {_show(f.actual)}")
            if f.activities:
                lines.append("      activities of the person:")
                for a in f.activities[-20:]:
                    attrs = ", ".join(f"{k}={v!r}" for k, v in a["attributes"].items())
                    change = f" {a['old']!r} -> {a['new']!r}" if "old" in a else ""
                    lines.append(f"        {a['at']} {a['type']}"
                                 f"{' in ' + a['campaign'] if a['campaign'] else ''}"
                                 f"{change}{' {' + attrs + '}' if attrs else ''}")
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)
