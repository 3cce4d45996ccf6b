"""Every statement of LANGUAGE.md §9 has tests of its own, as .campaign files
(issue 5): tests/campaign_tests/*.campaign pass, and for each form a test in
tests/campaign_tests/failing/ must fail — with the very message its
``# fails:`` line states — or its file must fail to check with the
diagnostics its ``# check error: CODE: message`` lines state.

The passing files run through the pytest plugin like every other
.campaign file of the repository (so not again here, unless the plugin is
off); this module runs the failing ones, which the plugin is told to ignore
(pyproject.toml, campaign_test_ignore), and checks that the statement forms
are all covered both ways.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from campaignlang import ast
from campaignlang.check import check
from campaignlang.loader import load_paths
from campaignlang.runner import (CHECK_RESULT_NAME, broken_file_result, format_result, format_results,
                                 run_test, run_tests)

CASES = Path(__file__).parent / "campaign_tests"
FAILING = CASES / "failing"
PASSING_FILES = sorted(CASES.glob("*.campaign"))
FAILING_FILES = sorted(FAILING.glob("*.campaign"))

FAILS = re.compile(r"^\s*#\s*fails:\s*(?P<message>.*\S)\s*$")
CHECK_ERROR = re.compile(r"^\s*#\s*check error:\s*(?P<code>CL\d{3}):\s*(?P<message>.*\S)\s*$")


def _markers(path: Path, pattern: re.Pattern) -> list[tuple[int, re.Match]]:
    """(line of the statement a marker names, the marker): the next line
    that is neither blank nor a comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if m is None:
            continue
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or lines[j].lstrip().startswith("#")):
            j += 1
        out.append((j + 1, m))
    return out


def _checked(path: Path):
    return check(load_paths([path]))


_CHECKED = {p: _checked(p) for p in FAILING_FILES}
RUNNABLE = [p for p in FAILING_FILES if _CHECKED[p].program is not None]
BROKEN = [p for p in FAILING_FILES if _CHECKED[p].program is None]


def _failing_cases():
    for path in RUNNABLE:
        program = _CHECKED[path].program
        for test in program.model.tests:
            yield pytest.param(path, program, test, id=f"{path.name}: {test.name}")


@pytest.mark.parametrize("path, program, test", list(_failing_cases()))
def test_a_failing_test_fails_with_the_stated_messages(path, program, test):
    span = test.span
    wanted = [(line, m["message"]) for line, m in _markers(path, FAILS) if span.line <= line <= span.end_line]
    assert wanted, f"{path.name}: test {test.name!r} states no '# fails:' line"
    result = run_test(program, test)
    assert not result.passed
    got = [(f.line, f.message) for f in result.failures]
    assert got == wanted, format_result(result)
    # the report shows each failure at its statement, with a caret line
    text = format_result(result)
    for line, _message in wanted:
        assert f"--> {span.file}:{line}:" in text
    assert text.splitlines()[0].startswith(f"FAIL  {span.file}:{span.line}  {test.name}  (")


def test_every_fails_line_belongs_to_a_test():
    for path in RUNNABLE:
        tests = _CHECKED[path].program.model.tests
        for line, m in _markers(path, FAILS):
            assert any(t.span.line <= line <= t.span.end_line for t in tests), f"{path.name}:{line}"


@pytest.mark.parametrize("path", BROKEN, ids=[p.name for p in BROKEN])
def test_a_file_that_must_not_check_reports_the_stated_diagnostics(path):
    result = _CHECKED[path]
    wanted = sorted((line, m["code"], m["message"]) for line, m in _markers(path, CHECK_ERROR))
    assert wanted, f"{path.name} states no '# check error:' line"
    got = sorted((d.span.line, d.code, d.message) for d in result.errors)
    assert got == wanted
    # as campaign test and the pytest plugin report it: one failing result
    name = load_paths([path]).results[-1].source.name
    r = broken_file_result(name, result.errors, result.sources)
    assert not r.passed and r.name == CHECK_RESULT_NAME
    text = format_result(r)
    for _line, code, message in wanted:
        assert f"error[{code}]: {message}" in text


# -- every form both ways --------------------------------------------------------


def _form(stmt: ast.Node) -> str:
    if isinstance(stmt, ast.PersonStmt):
        return "person"
    if isinstance(stmt, ast.ForStmt):
        return "for"
    if isinstance(stmt, ast.RunStmt):
        return "run with tokens" if stmt.tokens else "run"
    if isinstance(stmt, ast.RequestStmt):
        return "request with tokens" if stmt.tokens else "request"
    if isinstance(stmt, ast.FireStmt):
        return f"fire {stmt.trigger.kind}"
    if isinstance(stmt, ast.AdvanceStmt):
        return "advance"
    if isinstance(stmt, ast.ExpectField):
        return f"expect {stmt.op}"
    if isinstance(stmt, ast.ExpectList):
        return "expect not in list" if stmt.negated else "expect in list"
    if isinstance(stmt, ast.ExpectStatus):
        return "expect status in"
    if isinstance(stmt, ast.ExpectActivity):
        if stmt.count == 0:
            return "expect no activity"
        if stmt.count is not None:
            return "expect N activity"
        return "expect activity with attributes" if stmt.attributes else "expect activity"
    raise AssertionError(type(stmt).__name__)


FORMS = (
    ["person", "for", "run", "run with tokens", "request", "request with tokens", "advance", "at"]
    + [f"fire {kind}" for kind in ast.TRIGGER_KINDS if kind != "campaign is requested"]
    + [f"expect {op}" for op in ("==", "!=", "<", "<=", ">", ">=", "is empty", "is not empty")]
    + ["expect in list", "expect not in list", "expect status in", "expect activity",
       "expect activity with attributes", "expect N activity", "expect no activity"]
)


def test_every_statement_form_has_a_passing_test():
    seen: set[str] = set()
    for path in PASSING_FILES:
        program = load_paths([path])
        for module in program.modules:
            for test in module.of(ast.Test):
                if test.at is not None:
                    seen.add("at")
                seen.update(_form(s) for s in test.statements)
    assert not set(FORMS) - seen


def test_every_statement_form_has_a_test_that_fails():
    """A failing test is named after the form it exercises ("expect <=: ...",
    "fire opens email: ..."), and its stated failures are checked above."""
    named: set[str] = set()
    for path in RUNNABLE:
        for test in _CHECKED[path].program.model.tests:
            named.add(test.name.split(":", 1)[0])
    assert not set(FORMS) - named
    # the refusals of request (§7): executables, targets without an API
    # source (static: CL208), more than 100 people or tokens (at run time)
    refusals = {m["message"] for p in BROKEN for _l, m in _markers(p, CHECK_ERROR)}
    assert any("is an executable campaign, which cannot be requested" in m for m in refusals)
    assert any("is requested only from flow action, not from api" in m for m in refusals)
    assert any("has no 'campaign is requested' trigger" in m for m in refusals)
    stated = {m["message"] for p in RUNNABLE for _l, m in _markers(p, FAILS)}
    assert "error: at most 100 people per request; 101 were given" in stated
    assert "error: at most 100 tokens per call; 101 were given" in stated
    assert "error: a campaign is requested through request, not fire" in stated


def test_the_passing_files_pass(request):
    """Run by the pytest plugin as items of their own; here only when the
    plugin is off (pytest -p no:campaignlang), so nothing runs twice."""
    if request.config.pluginmanager.has_plugin("campaignlang"):
        pytest.skip("the campaignlang pytest plugin runs tests/campaign_tests/*.campaign")
    for path in PASSING_FILES:
        result = _checked(path)
        assert result.program is not None, path
        results = run_tests(result.program, files=[load_paths([path]).results[-1].source.name])
        assert results and all(r.passed for r in results), format_results(results)
