"""campaign test --coverage: the flow steps and choice branches tests reach,
per campaign (interpreter/coverage.py)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from campaignlang.cli import main
from campaignlang.coverage import Coverage, CoverageEngine
from campaignlang.api import compile_text as program_from_text
from campaignlang.engine import Engine
from campaignlang.runner import format_results, run_tests

PROGRAM = """\
fields { "Region": text }
program "P" {
    list "L"
    campaign "Route" batch {
        smart list { filter lead.Country is not empty }
        flow {
            change data value lead.Region {
                if lead.Country is "US" then to "NA"
                else if lead.Country is "DE" then to "EU"
                else to "INTL"
            }
            add to list {
                if lead.Region is "NA" then "L"
            }
            execute campaign "Child"
            wait 1 day
            change score lead."Lead Score" by +1
        }
    }
    campaign "Child" executable {
        flow {
            change score lead."Lead Score" by {
                if lead.Country is "US" then +5
                else do nothing
            }
        }
        qualify every time
    }
    campaign "Copy" batch {
        clone "P"."Route"
        smart list { filter lead.Country is "FR" }
    }
    campaign "Never" batch {
        smart list { filter lead.Country is "XX" }
        flow { add to list "L" }
    }
}
"""

TESTS = """
test "us" {
    person "us@example.com" { Country = "US" }
    run "P"."Route"
}
test "de, after a day" {
    person "de@example.com" { Country = "DE" }
    run "P"."Route"
    advance 1 day
}
"""


def _coverage(tests: str = TESTS) -> tuple[Coverage, list]:
    program = program_from_text(PROGRAM + tests, "p.campaign")
    cov = Coverage()
    results = run_tests(program, coverage=cov)
    assert all(r.passed for r in results), format_results(results)
    return cov, results


def _row(report: dict, campaign: str) -> dict:
    [row] = [c for c in report["campaigns"] if c["campaign"] == campaign]
    return row


def test_steps_and_branches_reached_per_campaign():
    cov, _ = _coverage()
    report = cov.report()
    route = _row(report, '"P"."Route"')
    assert route["steps"] == {"reached": 5, "total": 5, "percent": 100.0}
    assert [(p["line"], p["text"], p["hits"]) for p in route["step_points"]] == [
        (7, "change data value lead.Region { ... }", 2),
        (12, "add to list { ... }", 2),
        (15, 'execute campaign "Child"', 2),
        (16, "wait 1 day", 2),
        (17, 'change score lead."Lead Score" by +1', 1),   # only the test that advanced
    ]
    branches = [(p["line"], p["reached"], p.get("implicit", False)) for p in route["branch_points"]]
    assert branches == [
        (8, True, False),      # if US
        (9, True, False),      # else if DE
        (10, False, False),    # else INTL: no test
        (12, True, True),      # add to list without else: DE took the implicit "nothing" path
        (13, True, False),     # if NA
    ]
    assert route["branches"] == {"reached": 4, "total": 5, "percent": 80.0}
    child = _row(report, '"P"."Child"')
    assert child["steps"]["reached"] == 1
    assert [(p["line"], p["hits"]) for p in child["branch_points"]] == [(23, 1), (24, 1)]
    never = _row(report, '"P"."Never"')
    assert never["steps"] == {"reached": 0, "total": 1, "percent": 0.0}
    assert never["branches"] == {"reached": 0, "total": 0, "percent": None}


def test_a_clone_is_counted_under_its_own_name():
    cov, _ = _coverage()
    copy = _row(cov.report(), '"P"."Copy"')
    assert copy["steps"]["total"] == 5 and copy["steps"]["reached"] == 0
    assert copy["step_points"][0]["line"] == 7       # the source's steps, by their own lines
    cov, _ = _coverage('test "fr" { person "fr@example.com" { Country = "FR" }; run "P"."Copy" }')
    report = cov.report()
    assert _row(report, '"P"."Copy"')["steps"]["reached"] == 4
    assert _row(report, '"P"."Route"')["steps"]["reached"] == 0


def test_the_text_table_and_what_was_not_reached():
    cov, _ = _coverage()
    text = cov.format_text()
    lines = text.splitlines()
    assert lines[0] == "coverage: flow steps and choice branches the tests reached"
    assert lines[1].split() == ["campaign", "file", "steps", "branches"]
    route = next(line for line in lines if line.lstrip().startswith('"P"."Route" (batch)'))
    assert "p.campaign:4" in route and "5/5 100.0%" in route and "4/5  80.0%" in route
    assert any(line.split()[0] == "total" for line in lines)
    missed = lines[lines.index("not reached:") + 1:]
    assert '  "P"."Route"' in missed
    assert '    p.campaign:10  branch  else to "INTL"' in missed
    assert '    p.campaign:35  step    add to list "L"' in missed
    assert '    p.campaign:7   step    change data value lead.Region { ... }' in missed   # the clone's


def test_coverage_changes_nothing_a_test_does():
    program = program_from_text(PROGRAM + TESTS, "p.campaign")
    plain = [r.activity_log for r in run_tests(program)]
    covered = [r.activity_log for r in run_tests(program, coverage=Coverage())]
    assert plain == covered
    assert issubclass(CoverageEngine, Engine)


def test_programs_loaded_twice_merge_by_file():
    cov = Coverage()
    for tests in ('test "a" { person "us@example.com" { Country = "US" }; run "P"."Route" }',
                  'test "b" { person "x@example.com" { Country = "JP" }; run "P"."Route" }'):
        program = program_from_text(PROGRAM + tests, "p.campaign")
        run_tests(program, coverage=cov)
    route = _row(cov.report(), '"P"."Route"')
    assert [p["line"] for p in route["branch_points"] if p["reached"]] == [8, 10, 12, 13]
    assert len(cov.report()["campaigns"]) == 4


def test_campaign_test_coverage_in_text_and_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.campaign").write_text(PROGRAM + TESTS)
    runner = CliRunner()
    r = runner.invoke(main, ["test", "p.campaign", "--coverage"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[-1] == "2 passed, 0 failed"
    assert "coverage: flow steps and choice branches the tests reached" in lines
    r = runner.invoke(main, ["test", "p.campaign", "--coverage", "--format", "json"])
    out = json.loads(r.stdout)
    assert out["coverage"]["totals"]["steps"]["total"] == 5 + 1 + 5 + 1
    assert _row(out["coverage"], '"P"."Route"')["file"] == "p.campaign"
    r = runner.invoke(main, ["test", "p.campaign", "--format", "json"])
    assert "coverage" not in json.loads(r.stdout)
